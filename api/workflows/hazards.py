"""The hazard (隐患) workflow: 上报 → 受理 → 派遣 → 整改中 → 已整改 → 核查 → 结案, with 回退 (sent back),
挂起 (suspended), 不予立案 (rejected), 延期 (extension) and 重开 (reopen). Pure: a hazard in, the next one out.

After the digital urban-management case flow (信息收集 → 立案 → 派遣 → 处理 → 反馈 → 核查结案, CJJ/T 106; domain.md §3,
research/grid.md §1.6) and FixMyStreet's states (§3.2–3.3). One meaning per state:

- ``sent_back`` (回退) is back on the managers' desk for a decision: dispatched again (to the same unit or
  another) or rejected. It is reached when the unit it was dispatched to says it is not theirs (the assignee or a
  manager), or when the check of the work fails (a manager, from ``rectified``).
- ``suspended`` (挂起) stops the clock: the hazard remembers the state it was in and since when it waits;
  ``resume`` returns it there and moves the deadline by the time it waited.
- Overdue (超期) is a flag, not a state: the rectification is still owed (`OVERDUE_STATES`) and the deadline has
  passed. A suspended hazard is not overdue (its clock stands); a rectified one is not either (the work is done
  and awaits its check).
- ``extend`` (延期) moves the deadline by the hours given or the category's, at most `MAX_EXTENSION_HOURS`, from
  the later of the deadline and now (an overdue hazard extended by a day is due a day from now), and counts it.
- ``reopen`` (重开) takes a closed or rejected hazard back to ``accepted`` with a new deadline (now + the
  category's hours): the problem came back, or the rejection was wrong.
- ``note`` (备注) adds a line to the history and changes nothing else; anyone who sees the hazard may.

Every applied action, a note too, adds one to the version and one row to the history.
"""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from api.errors import InvalidParameter, StaleVersion
from api.workflows import ASSIGNEE, MANAGER, STAY, VIEWER, Transition, Workflow, transition

STATES = (
    "reported",  # 已上报
    "accepted",  # 已受理 / 立案
    "dispatched",  # 已派遣
    "rectifying",  # 整改中
    "rectified",  # 已整改, awaiting the check
    "verified",  # 已核查
    "closed",  # 已结案
    "sent_back",  # 回退
    "suspended",  # 挂起
    "rejected",  # 不予立案
)
STATE_LABELS = {
    "reported": "已上报",
    "accepted": "已受理",
    "dispatched": "已派遣",
    "rectifying": "整改中",
    "rectified": "已整改",
    "verified": "已核查",
    "closed": "已结案",
    "sent_back": "回退",
    "suspended": "挂起",
    "rejected": "不予立案",
}
RESUME = "(resumes)"  # the target of resume: the state the hazard was suspended from
SUSPENDABLE = ("accepted", "dispatched", "rectifying", "sent_back")  # migration 0011's CHECK too
OPEN_WORK = ("accepted", "dispatched", "rectifying", "sent_back")  # extendable: the rectification is under way
OVERDUE_STATES = ("reported", *OPEN_WORK)  # the clock runs and the rectification is owed
CLOSED_STATES = ("closed", "rejected")  # Open311 "closed"; every other state is "open"
MAX_EXTENSION_HOURS = 720  # one extension: at most 30 days
NOTE_MAX = 2000
CHINA_TIME = timezone(timedelta(hours=8))  # Asia/Shanghai, without daylight saving since 1991

MANAGERS = (MANAGER,)
WORKERS = (MANAGER, ASSIGNEE)

TABLE = (
    transition("accept", ["reported"], "accepted", MANAGERS, "受理 / 立案"),
    transition("reject", ["reported", "sent_back"], "rejected", MANAGERS, "不予立案", note_required=True),
    transition("dispatch", ["accepted", "sent_back", "dispatched"], "dispatched", MANAGERS, "派遣 / 改派"),
    transition("start", ["dispatched"], "rectifying", WORKERS, "开始整改"),
    transition("finish", ["rectifying"], "rectified", WORKERS, "整改完成"),
    transition("verify", ["rectified"], "verified", MANAGERS, "核查通过"),
    transition("close", ["verified"], "closed", MANAGERS, "结案"),
    transition("send_back", ["dispatched", "rectifying"], "sent_back", WORKERS, "回退", note_required=True),
    transition("send_back", ["rectified"], "sent_back", MANAGERS, "核查不通过, 回退", note_required=True),
    transition("suspend", SUSPENDABLE, "suspended", MANAGERS, "挂起", note_required=True),
    transition("resume", ["suspended"], RESUME, MANAGERS, "恢复"),
    transition("extend", OPEN_WORK, STAY, MANAGERS, "延期"),
    transition("reopen", CLOSED_STATES, "accepted", MANAGERS, "重开", note_required=True),
    transition("note", STATES, STAY, [VIEWER], "备注", note_required=True),
)
WORKFLOW = Workflow("hazard", STATES, TABLE, markers=[RESUME])
ACTIONS = WORKFLOW.actions


@dataclass(frozen=True)
class Hazard:
    """What the workflow reads and changes of a hazard."""

    state: str
    version: int
    deadline: datetime
    extensions: int = 0
    assigned_unit: str | None = None
    assigned_user_id: int | None = None
    resume_state: str | None = None
    suspended_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(frozen=True)
class Act:
    """An action as a user asked for it, against the version they saw."""

    action: str
    version: int
    note: str | None = None
    hours: int | None = None  # extend only
    assigned_unit: str | None = None  # dispatch only
    assigned_user_id: int | None = None  # dispatch only


@dataclass(frozen=True)
class Step:
    """An applied action: the hazard after it, the row of the table, and what the history row keeps."""

    before: Hazard
    after: Hazard
    row: Transition
    detail: dict[str, Any] = field(default_factory=dict)


def apply(
    hazard: Hazard,
    act: Act,
    parties: frozenset[str],
    *,
    now: datetime,
    category_hours: int,
    subject: str = "hazard",
) -> Step:
    """The hazard after `act` by a user who is `parties` to it, at `now`; raises StaleVersion (409), Forbidden
    (403), InvalidTransition (409) or InvalidParameter (400) and changes nothing."""
    if act.version != hazard.version:
        raise StaleVersion(
            f"{subject} is at version {hazard.version}, not {act.version}: reload it and decide again",
            current_version=hazard.version,
        )
    row = WORKFLOW.find(act.action, hazard.state, parties, subject)
    _check_inputs(act, row)
    after, detail = _effect(hazard, act, row, now, category_hours)
    return Step(before=hazard, after=replace(after, version=hazard.version + 1), row=row, detail=detail)


def _check_inputs(act: Act, row: Transition) -> None:
    if act.hours is not None and act.action != "extend":
        raise InvalidParameter(f"hours is taken by extend only, not by {act.action}")
    if act.hours is not None and not 1 <= act.hours <= MAX_EXTENSION_HOURS:
        raise InvalidParameter(f"hours must be 1 … {MAX_EXTENSION_HOURS} (one extension at most 30 days)")
    dispatching = act.assigned_unit is not None or act.assigned_user_id is not None
    if dispatching and act.action != "dispatch":
        raise InvalidParameter(f"assigned_unit and assigned_user_id are taken by dispatch only, not by {act.action}")
    if act.action == "dispatch" and not dispatching:
        raise InvalidParameter("dispatch needs assigned_unit (a department or unit) or assigned_user_id, or both")
    if row.note_required and not (act.note or "").strip():
        raise InvalidParameter(f"{act.action} needs a note giving the reason")
    if act.note is not None and len(act.note) > NOTE_MAX:
        raise InvalidParameter(f"note must be at most {NOTE_MAX} characters")


def _effect(
    hazard: Hazard, act: Act, row: Transition, now: datetime, category_hours: int
) -> tuple[Hazard, dict[str, Any]]:
    """The hazard's fields after the action (version aside) and the detail its history row keeps."""
    if row.target == RESUME:
        assert hazard.resume_state is not None and hazard.suspended_at is not None  # migration 0011's CHECK
        waited = max(now - hazard.suspended_at, timedelta(0))
        deadline = hazard.deadline + waited
        after = replace(hazard, state=hazard.resume_state, resume_state=None, suspended_at=None, deadline=deadline)
        return after, {"resumed_to": hazard.resume_state, "waited_hours": _hours(waited), "deadline": _iso(deadline)}
    after = replace(hazard, state=row.target_from(hazard.state))
    if act.action == "dispatch":
        after = replace(after, assigned_unit=act.assigned_unit, assigned_user_id=act.assigned_user_id)
        return after, {"assigned_unit": act.assigned_unit, "assigned_user_id": act.assigned_user_id}
    if act.action == "extend":
        hours = act.hours if act.hours is not None else min(category_hours, MAX_EXTENSION_HOURS)
        deadline = max(hazard.deadline, now) + timedelta(hours=hours)
        after = replace(after, deadline=deadline, extensions=hazard.extensions + 1)
        return after, {"hours": hours, "deadline_before": _iso(hazard.deadline), "deadline": _iso(deadline)}
    if act.action == "suspend":
        return replace(after, resume_state=hazard.state, suspended_at=now), {"resume_to": hazard.state}
    if act.action == "reopen":
        deadline = now + timedelta(hours=category_hours)
        return replace(after, deadline=deadline, closed_at=None), {"deadline": _iso(deadline)}
    if after.state in CLOSED_STATES:
        return replace(after, closed_at=now), {}
    return after, {}


def is_overdue(state: str, deadline: datetime, now: datetime) -> bool:
    """超期: the rectification is still owed and its deadline has passed."""
    return state in OVERDUE_STATES and deadline < now


def china_iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the +08:00 offset (None stays None)."""
    return None if moment is None else moment.astimezone(CHINA_TIME).isoformat()


def _iso(moment: datetime) -> str:
    return moment.astimezone(CHINA_TIME).isoformat()


def _hours(span: timedelta) -> float:
    return round(span.total_seconds() / 3600, 2)
