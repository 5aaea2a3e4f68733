"""Case workflows (hazards 隐患, residents' requests 诉求): each one explicit table of transitions, looked up here.

A workflow is pure — no web framework, no database. It says which actions exist, from which states each may be
taken, into which state, and by whom; the storage applies the result with optimistic concurrency and appends the
history row, the router turns the errors into 403 and 409 (api.errors).

Who may act is said with *parties*, the relations a user (or a partner app) has to one case, which the caller works
out (it needs the database to know whether the case's grid is one of the user's):

- ``MANAGER``: a managing role (admin, street leader, community secretary) whose places hold the case
  (`api.access.manages_grid`; an admin: every case);
- ``ASSIGNEE``: the user the case was dispatched to. A workflow may let a manager stand in for an assignee that has
  no account (a request given to a co-building unit): its own parties function adds ASSIGNEE then, and says so in
  its party labels (`Workflow(party_labels=…)`), so that a 403 names who may;
- ``REPORTER``: the user who reported it;
- ``RATER``: whoever records the resident's rating of the work (requests: a field writer, or the partner app that
  posted the request); the workflow's parties function decides;
- ``VIEWER``: anyone allowed to see it (every user who reaches the case has this one).

A row names every party that may take its action ("the assignee or a manager" is both on the row), so that the
table alone says who may do what; nothing about parties is special-cased in `find`.

One order of answers for every case workflow (hazards and requests alike), the most useful answer first:

0. (the caller, before `find`) the case not visible → 404; the version the user saw is not the current one →
   `StaleVersion` (409 stale_version): whatever else they ask, they decided on an old case; (`find`) an action the
   workflow does not have → `InvalidParameter` (400; the API's schema refuses it first, 422);
1. an action that none of the user's parties may take from any state: `Forbidden` (403);
2. an action not allowed from the current state: `InvalidTransition` (409 invalid_transition, naming the state and
   the action);
3. allowed from this state, but not for these parties (an action whose rows differ by state): `Forbidden` (403);
4. (the workflow, after `find`) what the action must carry is missing or wrong: `InvalidParameter` (400).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from api.errors import Forbidden, InvalidParameter, InvalidTransition

MANAGER = "manager"
ASSIGNEE = "assignee"
REPORTER = "reporter"
RATER = "rater"
VIEWER = "viewer"
PARTIES = (MANAGER, ASSIGNEE, REPORTER, RATER, VIEWER)
PARTY_LABELS = {
    MANAGER: "a manager of its place (admin, street_leader, community_secretary)",
    ASSIGNEE: "the user it is assigned to",
    REPORTER: "the user who reported it",
    RATER: "whoever records the resident's rating",
    VIEWER: "anyone who sees it",
}

STAY = "(stays)"  # the target of an action that keeps the state: a note, an extension


@dataclass(frozen=True)
class Transition:
    """One row of a workflow's table: `action` takes a case from any of `sources` to `target`, for `parties`."""

    action: str
    sources: frozenset[str]
    target: str  # a state, STAY, or a marker the workflow resolves itself (a hazard's RESUME)
    parties: frozenset[str]
    label: str  # Chinese, for documents and history
    note_required: bool = False  # a reason must be given (reject, send back, suspend …)

    def target_from(self, state: str) -> str:
        """The state after the action from `state` (STAY resolved; a workflow's own markers are its own)."""
        return state if self.target == STAY else self.target


def transition(
    action: str,
    sources: Iterable[str],
    target: str,
    parties: Iterable[str],
    label: str,
    *,
    note_required: bool = False,
) -> Transition:
    return Transition(action, frozenset(sources), target, frozenset(parties), label, note_required)


def parties_of(
    *, manages: bool, user_id: int | None, assigned_user_id: int | None, reported_by: int | None
) -> frozenset[str]:
    """The parties a user is to a case they can see; `manages`: their role is a managing one and the case lies in
    their places (the caller asks the database). `user_id` None (a partner app) is nobody's assignee or reporter.
    RATER and a stand-in ASSIGNEE are the workflow's to add."""
    found = {VIEWER}
    if manages:
        found.add(MANAGER)
    if user_id is not None and assigned_user_id == user_id:
        found.add(ASSIGNEE)
    if user_id is not None and reported_by == user_id:
        found.add(REPORTER)
    return frozenset(found)


def describe(parties: Iterable[str], joiner: str = " or ", labels: Mapping[str, str] = PARTY_LABELS) -> str:
    wanted = set(parties)
    return joiner.join(labels[p] for p in PARTIES if p in wanted)


class Workflow:
    """A table of transitions over a list of states, checked when it is built: every state named is in the list,
    and no action has two rows from the same state. `state_labels` (Chinese) and `party_labels` (what a party means
    in this workflow, over PARTY_LABELS) only word the messages."""

    def __init__(
        self,
        case: str,
        states: Sequence[str],
        table: Sequence[Transition],
        markers: Sequence[str] = (),
        *,
        state_labels: Mapping[str, str] | None = None,
        party_labels: Mapping[str, str] | None = None,
    ) -> None:
        self.case = case
        self.states = tuple(states)
        self.table = tuple(table)
        self.state_labels = dict(state_labels or {})
        self.party_labels = PARTY_LABELS | dict(party_labels or {})
        for row in self.table:
            unknown = (row.sources | {row.target}) - set(self.states) - {STAY, *markers}
            if unknown or not row.sources or not row.parties <= set(PARTIES):
                raise ValueError(f"{case} workflow: bad row {row.action} ({sorted(unknown)})")
            for other in self.table:
                if other is not row and other.action == row.action and other.sources & row.sources:
                    raise ValueError(f"{case} workflow: two rows for {row.action} from {sorted(other.sources)}")

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(row.action for row in self.table))

    def rows(self, action: str) -> list[Transition]:
        return [row for row in self.table if row.action == action]

    def sources(self, action: str) -> list[str]:
        """The states `action` may be taken from, in the workflow's order."""
        allowed = set().union(*(row.sources for row in self.rows(action)))
        return [s for s in self.states if s in allowed]

    def find(self, action: str, state: str, parties: frozenset[str], subject: str | None = None) -> Transition:
        """The row for `action` from `state` if `parties` may take it; else the error the module docstring lists
        (steps 1–3). `subject` names the case in messages (e.g. "hazard 12")."""
        subject = subject or self.case
        rows = self.rows(action)
        if not rows:
            raise InvalidParameter(f"action: one of {', '.join(self.actions)}; {action[:40]!r} is an unknown action")
        named = f"{action} ({' / '.join(dict.fromkeys(row.label for row in rows))})"
        if not any(row.parties & parties for row in rows):
            who = self._who(set().union(*(row.parties for row in rows)))
            raise Forbidden(f"{named} of {subject} is for {who}; you are {self._who(parties, ', ')}")
        row = next((r for r in rows if state in r.sources), None)
        if row is None:
            allowed = ", ".join(self.sources(action))
            raise InvalidTransition(
                f"cannot {action} {subject}: it is {self._state(state)}; {action} is allowed only from {allowed}",
                state=state,
                action=action,
            )
        if not row.parties & parties:
            who, you = self._who(row.parties), self._who(parties, ", ")
            raise Forbidden(f"{named} of {subject} from {self._state(state)} is for {who}; you are {you}")
        return row

    def _who(self, parties: Iterable[str], joiner: str = " or ") -> str:
        return describe(parties, joiner, self.party_labels)

    def _state(self, state: str) -> str:
        label = self.state_labels.get(state)
        return f"{state} ({label})" if label else state
