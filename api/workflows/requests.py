"""Residents' requests and micro-wishes (诉求 / 微心愿): 居民点单 → 支部下单 → 党员接单 → 群众评单, as a table of
transitions that says, for each action, from which states, to which state, and who may take it — api.workflows'
rows and lookup, shared with hazards (one order of 403 / 409 for both); `decide` adds what each action sets.

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

from api.errors import InvalidParameter
from api.workflows import ASSIGNEE, MANAGER, RATER, Workflow, parties_of, transition

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

# Who may take an action (api.workflows' parties, worked out by `parties` below):
#   MANAGER   — the branch: admin, street leader, community secretary whose places hold the request
#   ASSIGNEE  — the party member it was dispatched to; when no user is assigned (a co-building unit has no account)
#               a manager stands in for it
#   doer      — the assignee or the branch: both parties on the row
#   RATER     — whoever records the resident's rating: a field writer, or the partner app that posted the request
BRANCH = (MANAGER,)
DOERS = (MANAGER, ASSIGNEE)
PARTY_LABELS = {
    ASSIGNEE: "the party member it is dispatched to (a co-building unit has no account: a manager of its place)",
    RATER: "whoever records the resident's rating (admin, street_leader, community_secretary, grid_worker), "
    "or the partner app that posted it",
}
TABLE = (
    transition("dispatch", ["submitted", "dispatched"], "dispatched", BRANCH, "支部下单"),
    transition("accept", ["dispatched"], "accepted", [ASSIGNEE], "党员接单"),
    transition("decline", ["dispatched", "accepted"], "submitted", [ASSIGNEE], "退回支部"),
    transition("complete", ["accepted"], "completed", DOERS, "办结", note_required=True),  # note: what was done
    transition("rate", ["completed"], "closed", [RATER], "群众评单"),  # carries rating 1–5 and a comment
    transition("close", ["completed"], "closed", BRANCH, "关闭 (未评单)"),
    transition("reject", ["submitted", "dispatched"], "rejected", BRANCH, "不予受理", note_required=True),  # reason
    transition("duplicate", ["submitted", "dispatched"], "duplicate", BRANCH, "重复"),  # carries duplicate_of
    transition("reopen", [*FINAL_STATES, "completed"], "submitted", BRANCH, "重新受理"),
)
WORKFLOW = Workflow("request", STATES, TABLE, state_labels=STATE_LABELS, party_labels=PARTY_LABELS)
ACTIONS = WORKFLOW.actions


@dataclass(frozen=True)
class Actor:
    """Who acts: a signed-in user (role and id) or an Open311 partner app (by id).

    `manages`: whether the user is a manager of the request's place — a managing role whose places hold its grid
    (the router asks the database, `api.access.manages_grid`, as for hazards); None: the role alone decides (a pure
    caller that has no places; row-level security has shown the request to the user)."""

    role: str | None = None
    user_id: int | None = None
    partner_id: int | None = None
    manages: bool | None = None


@dataclass(frozen=True)
class Case:
    """What of a stored request the rules look at."""

    state: str
    assigned_user_id: int | None = None
    assigned_unit: str | None = None
    partner_id: int | None = None
    reported_by: int | None = None


@dataclass(frozen=True)
class Change:
    """The checked outcome of an action: the new state, the columns to set, and what the history row keeps."""

    action: str
    from_state: str
    to_state: str
    values: dict[str, object] = field(default_factory=dict)
    detail: dict[str, object] = field(default_factory=dict)


def parties(case: Case, actor: Actor) -> frozenset[str]:
    """The parties `actor` is to `case` (api.workflows): the common ones, then the two this workflow adds."""
    manages = actor.role in MANAGING if actor.manages is None else actor.manages
    found = set(
        parties_of(
            manages=manages,
            user_id=actor.user_id,
            assigned_user_id=case.assigned_user_id,
            reported_by=case.reported_by,
        )
    )
    if manages and case.assigned_user_id is None:
        found.add(ASSIGNEE)  # a co-building unit (or nobody yet): no account to act, the branch acts for it
    if actor.role in FIELD_WRITERS or (actor.partner_id is not None and actor.partner_id == case.partner_id):
        found.add(RATER)  # the resident's rating, entered for them or sent by the app they used
    return frozenset(found)


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
    subject: str = "request",
) -> Change:
    """The change `action` makes to `case` for `actor`, or why not, in api.workflows' order: `Forbidden` for
    parties that may not (403), `InvalidTransition` for a state it does not start from (409), `InvalidParameter`
    for what it lacks (400). `subject` names the request in messages. Checks that need the database (the party
    member's community, the request a duplicate merges into) are the caller's."""
    row = WORKFLOW.find(action, case.state, parties(case, actor), subject)
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidParameter(f"note: at most {NOTE_MAX} characters; got {len(note)}")
    target = row.target_from(case.state)
    values: dict[str, object] = {"state": target, "updated_at": now}
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
    return Change(action, case.state, target, values, detail)


def is_overdue(state: str, deadline: datetime, now: datetime) -> bool:
    """Open (not yet completed) and past its deadline: a flag the lists show and filter on, never a state."""
    return state in OPEN_STATES and now > deadline


def open311_status(state: str) -> str:
    """``open`` or ``closed``, as GeoReport v2 knows them."""
    return OPEN311_STATUS[state][0]
