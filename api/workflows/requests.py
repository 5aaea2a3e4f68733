"""Residents' requests and micro-wishes (诉求 / 微心愿): 居民点单 → 支部下单 → 党员接单 → 群众评单, as a table of
transitions that says, for each action, from which states, to which state, and who may take it.

Pure: no database, no HTTP. The router checks a change here, the storage makes it with the expected version.
The states are migration 0009's; FixMyStreet's model (../shared/research/grid.md §3.2) is mirrored where it fits:
a closed request is reopened by staff only, a duplicate points at the request it merges into, and overdue is a
flag (open and past the deadline), not a state (§3.3, as Tianque does).

    submitted ──dispatch──▶ dispatched ──accept──▶ accepted ──complete──▶ completed ──rate──▶ closed
        ▲  ▲                   │  ▲ (dispatch again)                          │ close (no rating)
        │  └────decline────────┴──┘ (decline: back to the branch)             ▼
        └─────────────reopen (staff) ◀── closed, completed, rejected, duplicate
    submitted / dispatched ──reject──▶ rejected;  ──duplicate──▶ duplicate
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from api.errors import Forbidden, InvalidParameter, InvalidTransition

STATES = ("submitted", "dispatched", "accepted", "completed", "closed", "rejected", "duplicate")
STATE_LABELS = {
    "submitted": "居民点单 (待派单)",
    "dispatched": "支部下单 (已派单)",
    "accepted": "党员接单 (办理中)",
    "completed": "已办结 (待评单)",
    "closed": "已关闭",
    "rejected": "不予受理",
    "duplicate": "重复诉求",
}
# Still to be done: these go overdue past the deadline (办结时限). A completed request awaits only its rating.
OPEN_STATES = frozenset({"submitted", "dispatched", "accepted"})
FINAL_STATES = frozenset({"closed", "rejected", "duplicate"})

# Open311 status and the FixMyStreet-style extended code of each state (grid.md §3.3 crosswalk).
OPEN311_STATUS = {
    "submitted": ("open", "FOR_TRIAGE"),
    "dispatched": ("open", "ACTION_SCHEDULED"),
    "accepted": ("open", "IN_PROGRESS"),
    "completed": ("closed", "FIXED"),
    "closed": ("closed", "FIXED"),
    "rejected": ("closed", "NO_FURTHER_ACTION"),
    "duplicate": ("closed", "DUPLICATE"),
}

MANAGING = frozenset({"admin", "street_leader", "community_secretary"})
FIELD_WRITERS = frozenset({"admin", "street_leader", "community_secretary", "grid_worker"})
NOTE_MAX = 2000
UNIT_MAX = 100
RATING_RANGE = (1, 5)

# Who may take an action:
#   managing  — the branch: admin, street leader, community secretary (within their places: row-level security)
#   assignee  — the party member it was dispatched to; for a co-building unit (no account) the branch acts for it
#   doer      — the assignee, or the branch
#   rater     — whoever records the resident's rating: field writers, or the partner app that posted the request
Who = Literal["managing", "assignee", "doer", "rater"]


@dataclass(frozen=True)
class Transition:
    """One action: the states it may start from, the state it leads to, who may take it, what it must carry."""

    action: str
    sources: frozenset[str]
    target: str
    who: Who
    needs: tuple[str, ...] = ()
    label: str = ""


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("dispatch", frozenset({"submitted", "dispatched"}), "dispatched", "managing", label="支部下单"),
        Transition("accept", frozenset({"dispatched"}), "accepted", "assignee", label="党员接单"),
        Transition("decline", frozenset({"dispatched", "accepted"}), "submitted", "assignee", label="退回支部"),
        Transition("complete", frozenset({"accepted"}), "completed", "doer", ("note",), label="办结"),
        Transition("rate", frozenset({"completed"}), "closed", "rater", ("rating",), label="群众评单"),
        Transition("close", frozenset({"completed"}), "closed", "managing", label="关闭 (未评单)"),
        Transition("reject", frozenset({"submitted", "dispatched"}), "rejected", "managing", ("reason",), "不予受理"),
        Transition(
            "duplicate", frozenset({"submitted", "dispatched"}), "duplicate", "managing", ("duplicate_of",), "重复"
        ),
        Transition("reopen", frozenset(FINAL_STATES | {"completed"}), "submitted", "managing", label="重新受理"),
    )
}
ACTIONS = tuple(TRANSITIONS)


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user (role and id) or an Open311 partner app (by id)."""

    role: str | None = None
    user_id: int | None = None
    partner_id: int | None = None


@dataclass(frozen=True)
class Case:
    """What of a stored request the rules look at."""

    state: str
    assigned_user_id: int | None = None
    assigned_unit: str | None = None
    partner_id: int | None = None


@dataclass(frozen=True)
class Change:
    """The checked outcome of an action: the new state, the columns to set, and what the history row keeps."""

    action: str
    from_state: str
    to_state: str
    values: dict[str, object] = field(default_factory=dict)
    detail: dict[str, object] = field(default_factory=dict)


def may(transition: Transition, case: Case, actor: Actor) -> bool:
    """Whether `actor` may take `transition` on `case` (whatever its state)."""
    managing = actor.role in MANAGING
    assignee = actor.user_id is not None and actor.user_id == case.assigned_user_id
    if transition.who == "managing":
        return managing
    if transition.who == "assignee":
        return assignee or (managing and case.assigned_user_id is None)  # a unit has no account: the branch acts
    if transition.who == "doer":
        return assignee or managing
    # rater: the resident's rating, entered by a field writer or sent by the partner app that posted the request
    return actor.role in FIELD_WRITERS or (actor.partner_id is not None and actor.partner_id == case.partner_id)


def _text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameter(f"{name}: required for this action (1–{limit} characters)")
    if len(value) > limit:
        raise InvalidParameter(f"{name}: at most {limit} characters; got {len(value)}")
    return value


def decide(
    case: Case,
    action: str,
    actor: Actor,
    *,
    note: str | None = None,
    assigned_user_id: int | None = None,
    assigned_unit: str | None = None,
    rating: int | None = None,
    comment: str | None = None,
    reason: str | None = None,
    duplicate_of: int | None = None,
    now: datetime,
) -> Change:
    """The change `action` makes to `case` for `actor`, or why not: `Forbidden` for a role that may not (403),
    `InvalidTransition` for a state it does not start from (409), `InvalidParameter` for what it lacks (400).
    Checks that need the database (the party member's community, the request a duplicate merges into) are the
    caller's."""
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise InvalidParameter(f"action: one of {', '.join(ACTIONS)}; got {action[:40]!r}")
    if not may(transition, case, actor):
        raise Forbidden(f"{action} ({transition.label}) is not yours to take on this request")
    if case.state not in transition.sources:
        raise InvalidTransition(
            f"cannot {action} a request that is {case.state} ({STATE_LABELS.get(case.state, case.state)}); "
            f"{action} is taken from {', '.join(sorted(transition.sources))}",
            case.state,
            action,
        )
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidParameter(f"note: at most {NOTE_MAX} characters; got {len(note)}")
    values: dict[str, object] = {"state": transition.target, "updated_at": now}
    detail: dict[str, object] = {}
    if action == "dispatch":
        if (assigned_user_id is None) == (assigned_unit is None):
            raise InvalidParameter("dispatch to one party member (assigned_user_id) or one unit (assigned_unit)")
        unit = None if assigned_unit is None else _text(assigned_unit, "assigned_unit", UNIT_MAX).strip()
        values |= {"assigned_user_id": assigned_user_id, "assigned_unit": unit, "dispatched_at": now}
        values |= {"accepted_at": None}
        detail = {"assigned_user_id": assigned_user_id} if unit is None else {"assigned_unit": unit}
    elif action == "accept":
        values["accepted_at"] = now
    elif action == "decline":
        values |= {"assigned_user_id": None, "assigned_unit": None, "dispatched_at": None, "accepted_at": None}
        detail = {"declined_by": case.assigned_user_id} if case.assigned_user_id else {"unit": case.assigned_unit}
    elif action == "complete":
        values |= {"completed_at": now, "status_notes": _text(note, "note", NOTE_MAX)}
    elif action == "rate":
        if not isinstance(rating, int) or isinstance(rating, bool) or not RATING_RANGE[0] <= rating <= RATING_RANGE[1]:
            raise InvalidParameter(f"rating: a whole number from 1 to 5 (满意度); got {rating!r}")
        if comment is not None and len(comment) > NOTE_MAX:
            raise InvalidParameter(f"comment: at most {NOTE_MAX} characters; got {len(comment)}")
        values |= {"rating": rating, "rating_comment": comment, "closed_at": now}
        detail = {"rating": rating}
    elif action == "close":
        values["closed_at"] = now
        if note:
            values["status_notes"] = note
    elif action == "reject":
        values |= {"closed_at": now, "status_notes": _text(reason, "reason", NOTE_MAX)}
    elif action == "duplicate":
        if duplicate_of is None:
            raise InvalidParameter("duplicate_of: the id of the request this one repeats")
        values |= {"duplicate_of": duplicate_of, "closed_at": now, "status_notes": f"重复诉求，已并入 #{duplicate_of}"}
        detail = {"duplicate_of": duplicate_of}
    elif action == "reopen":
        values |= {
            "assigned_user_id": None,
            "assigned_unit": None,
            "duplicate_of": None,
            "dispatched_at": None,
            "accepted_at": None,
            "completed_at": None,
            "closed_at": None,
            "rating": None,
            "rating_comment": None,
            "status_notes": note or None,
        }
    return Change(action, case.state, transition.target, values, detail)


def is_overdue(state: str, deadline: datetime, now: datetime) -> bool:
    """Open (not yet completed) and past its deadline: a flag the lists show and filter on, never a state."""
    return state in OPEN_STATES and now > deadline


def open311_status(state: str) -> str:
    """``open`` or ``closed``, as GeoReport v2 knows them."""
    return OPEN311_STATUS[state][0]
