"""Case workflows (hazards 隐患, residents' requests 诉求): each one explicit table of transitions, looked up here.

A workflow is pure — no web framework, no database. It says which actions exist, from which states each may be
taken, into which state, and by whom; the storage applies the result with optimistic concurrency and appends the
history row, the router turns the errors into 403 and 409 (api.errors).

Who may act is said with *parties*, the relations a user has to one case, which the caller works out (it needs the
database to know whether the case's grid is one of the user's):

- ``MANAGER``: a managing role (admin, street leader, community secretary) whose places hold the case;
- ``ASSIGNEE``: the user the case was dispatched to;
- ``REPORTER``: the user who reported it;
- ``VIEWER``: anyone allowed to see it (every user who reaches the case has this one).

A lookup (`Workflow.find`) answers in this order, so that the answer is the most useful one:

1. an action that none of the user's parties may take from any state: `Forbidden` (403);
2. an action not allowed from the current state: `InvalidTransition` (409, naming the state and the action);
3. allowed from this state, but not for these parties (an action whose rows differ by state): `Forbidden`.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from api.errors import Forbidden, InvalidParameter, InvalidTransition

MANAGER = "manager"
ASSIGNEE = "assignee"
REPORTER = "reporter"
VIEWER = "viewer"
PARTIES = (MANAGER, ASSIGNEE, REPORTER, VIEWER)
PARTY_LABELS = {
    MANAGER: "a manager of its place (admin, street_leader, community_secretary)",
    ASSIGNEE: "the user it is assigned to",
    REPORTER: "the user who reported it",
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


def parties_of(*, manages: bool, user_id: int, assigned_user_id: int | None, reported_by: int | None) -> frozenset[str]:
    """The parties a user is to a case they can see; `manages`: their role is a managing one and the case lies in
    their places (the caller asks the database)."""
    found = {VIEWER}
    if manages:
        found.add(MANAGER)
    if assigned_user_id is not None and assigned_user_id == user_id:
        found.add(ASSIGNEE)
    if reported_by is not None and reported_by == user_id:
        found.add(REPORTER)
    return frozenset(found)


def describe(parties: Iterable[str], joiner: str = " or ") -> str:
    return joiner.join(PARTY_LABELS[p] for p in PARTIES if p in set(parties))


class Workflow:
    """A table of transitions over a list of states, checked when it is built: every state named is in the list,
    and no action has two rows from the same state."""

    def __init__(
        self, case: str, states: Sequence[str], table: Sequence[Transition], markers: Sequence[str] = ()
    ) -> None:
        self.case = case
        self.states = tuple(states)
        self.table = tuple(table)
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
        """The row for `action` from `state` if `parties` may take it; else the error the module docstring lists.
        `subject` names the case in messages (e.g. "hazard 12")."""
        subject = subject or self.case
        rows = self.rows(action)
        if not rows:
            raise InvalidParameter(f"unknown action {action!r}; one of {', '.join(self.actions)}")
        if not any(row.parties & parties for row in rows):
            who = describe(set().union(*(row.parties for row in rows)))
            raise Forbidden(f"{action} of {subject} is for {who}; you are {describe(parties, ', ')}")
        row = next((r for r in rows if state in r.sources), None)
        if row is None:
            allowed = ", ".join(self.sources(action))
            raise InvalidTransition(
                f"{subject} is {state}: {action} is allowed only from {allowed}", state=state, action=action
            )
        if not row.parties & parties:
            raise Forbidden(f"{action} of {subject} from {state} is for {describe(row.parties)}")
        return row
