"""The hazard workflow without a database: every action from every state for every kind of user, against the table
and against cases written out by hand; what each action changes; random sequences of actions."""

import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.errors import Forbidden, InvalidParameter, InvalidTransition, StaleVersion, status_and_code
from api.workflows import ASSIGNEE, MANAGER, REPORTER, STAY, VIEWER, Workflow, parties_of, transition
from api.workflows import hazards as wf

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
HOURS = 24  # the category's
ACTORS = {
    "manager": frozenset({MANAGER, VIEWER}),
    "assignee": frozenset({ASSIGNEE, VIEWER}),
    "reporter": frozenset({REPORTER, VIEWER}),
    "viewer": frozenset({VIEWER}),
}
NOTE = "依据现场核查"


def hazard(state: str = "reported", **fields) -> wf.Hazard:
    values = {"state": state, "version": 3, "deadline": NOW + timedelta(hours=10)}
    if state == "suspended":
        values |= {"resume_state": "rectifying", "suspended_at": NOW - timedelta(hours=5)}
    return wf.Hazard(**(values | fields))


def act(action: str, version: int = 3, **fields) -> wf.Act:
    if action == "dispatch" and "assigned_unit" not in fields and "assigned_user_id" not in fields:
        fields["assigned_unit"] = "街道城管科"
    fields.setdefault("note", NOTE)
    return wf.Act(action=action, version=version, **fields)


def run(case: wf.Hazard, action: str, who: str, **fields) -> wf.Step:
    return wf.apply(case, act(action, case.version, **fields), ACTORS[who], now=NOW, category_hours=HOURS)


# --- the matrix, generated from the table ---------------------------------------------------------------------


def expected_from_table(action: str, state: str, parties: frozenset[str]) -> str | type[Exception]:
    rows = [row for row in wf.TABLE if row.action == action]
    if not any(row.parties & parties for row in rows):
        return Forbidden
    row = next((row for row in rows if state in row.sources), None)
    if row is None:
        return InvalidTransition
    if not row.parties & parties:
        return Forbidden
    if row.target == wf.RESUME:
        return "rectifying"  # hazard() suspends from rectifying
    return state if row.target == STAY else row.target


MATRIX = [(a, s, who) for a in wf.ACTIONS for s in wf.STATES for who in ACTORS]


@pytest.mark.parametrize(("action", "state", "who"), MATRIX)
def test_every_action_from_every_state_by_every_kind_of_user(action, state, who):
    expected = expected_from_table(action, state, ACTORS[who])
    case = hazard(state)
    if isinstance(expected, str):
        step = run(case, action, who)
        assert step.after.state == expected and step.after.version == case.version + 1
        assert step.before == case and step.row.action == action
    else:
        with pytest.raises(expected) as refused:
            run(case, action, who)
        if expected is InvalidTransition:
            assert state in str(refused.value) and action in str(refused.value)
            assert refused.value.fields == {"state": state, "action": action}


def test_the_matrix_has_both_outcomes_for_every_action():
    for action in wf.ACTIONS:
        outcomes = {expected_from_table(action, s, p) for s in wf.STATES for p in ACTORS.values()}
        assert any(isinstance(o, str) for o in outcomes), action
        assert InvalidTransition in outcomes or action == "note", action


# --- the same, written out by hand: what the workflow must say whatever the table holds --------------------------

ALLOWED = [
    ("accept", "reported", "manager", "accepted"),
    ("reject", "reported", "manager", "rejected"),
    ("reject", "sent_back", "manager", "rejected"),
    ("dispatch", "accepted", "manager", "dispatched"),
    ("dispatch", "sent_back", "manager", "dispatched"),
    ("dispatch", "dispatched", "manager", "dispatched"),  # 改派
    ("start", "dispatched", "assignee", "rectifying"),
    ("start", "dispatched", "manager", "rectifying"),  # for a unit with no user in gridmap
    ("finish", "rectifying", "assignee", "rectified"),
    ("verify", "rectified", "manager", "verified"),
    ("close", "verified", "manager", "closed"),
    ("send_back", "dispatched", "assignee", "sent_back"),  # not ours
    ("send_back", "rectifying", "assignee", "sent_back"),
    ("send_back", "rectified", "manager", "sent_back"),  # the check failed
    ("suspend", "dispatched", "manager", "suspended"),
    ("resume", "suspended", "manager", "rectifying"),
    ("extend", "rectifying", "manager", "rectifying"),
    ("reopen", "closed", "manager", "accepted"),
    ("reopen", "rejected", "manager", "accepted"),
    ("note", "closed", "reporter", "closed"),
    ("note", "reported", "viewer", "reported"),
]
REFUSED = [
    ("accept", "reported", "assignee", Forbidden),
    ("accept", "reported", "reporter", Forbidden),
    ("accept", "accepted", "manager", InvalidTransition),
    ("close", "rectified", "manager", InvalidTransition),  # verified first
    ("close", "reported", "manager", InvalidTransition),
    ("close", "verified", "assignee", Forbidden),
    ("verify", "rectified", "assignee", Forbidden),  # nobody checks their own work
    ("send_back", "rectified", "assignee", Forbidden),
    ("send_back", "reported", "manager", InvalidTransition),
    ("finish", "dispatched", "assignee", InvalidTransition),  # start first
    ("finish", "rectifying", "reporter", Forbidden),
    ("start", "dispatched", "viewer", Forbidden),
    ("dispatch", "rectifying", "manager", InvalidTransition),
    ("dispatch", "closed", "manager", InvalidTransition),
    ("extend", "reported", "manager", InvalidTransition),
    ("extend", "suspended", "manager", InvalidTransition),  # its clock stands
    ("extend", "closed", "manager", InvalidTransition),
    ("extend", "rectifying", "assignee", Forbidden),
    ("suspend", "reported", "manager", InvalidTransition),
    ("suspend", "suspended", "manager", InvalidTransition),
    ("resume", "dispatched", "manager", InvalidTransition),
    ("reopen", "verified", "manager", InvalidTransition),
    ("reopen", "closed", "reporter", Forbidden),
    ("reject", "dispatched", "manager", InvalidTransition),
]


@pytest.mark.parametrize(("action", "state", "who", "to"), ALLOWED)
def test_allowed_by_hand(action, state, who, to):
    assert run(hazard(state), action, who).after.state == to


@pytest.mark.parametrize(("action", "state", "who", "error"), REFUSED)
def test_refused_by_hand(action, state, who, error):
    with pytest.raises(error):
        run(hazard(state), action, who)


def test_errors_map_to_403_and_409():
    assert status_and_code(Forbidden("x")) == (403, "forbidden")
    assert status_and_code(InvalidTransition("x", state="a", action="b")) == (409, "invalid_transition")
    assert status_and_code(StaleVersion("x", current_version=4)) == (409, "stale_version")


def test_a_whole_case_from_report_to_close():
    case = hazard("reported", version=1)
    for action, who in [
        ("accept", "manager"),
        ("dispatch", "manager"),
        ("start", "assignee"),
        ("finish", "assignee"),
        ("send_back", "manager"),  # the check failed
        ("dispatch", "manager"),
        ("start", "assignee"),
        ("finish", "assignee"),
        ("verify", "manager"),
        ("close", "manager"),
    ]:
        case = run(case, action, who).after
    assert case.state == "closed" and case.version == 11 and case.closed_at == NOW


# --- what the actions change -------------------------------------------------------------------------------------


def test_a_stale_version_is_refused_before_anything_else():
    with pytest.raises(StaleVersion) as refused:
        wf.apply(hazard("reported"), act("accept", version=2), ACTORS["manager"], now=NOW, category_hours=HOURS)
    assert refused.value.fields == {"current_version": 3} and "version 3" in str(refused.value)
    with pytest.raises(StaleVersion):  # even for an action the user may not take: they saw an old case
        wf.apply(hazard("reported"), act("close", version=4), ACTORS["viewer"], now=NOW, category_hours=HOURS)


def test_extend_moves_the_deadline_and_counts():
    case = hazard("rectifying")
    by_category = run(case, "extend", "manager")
    assert by_category.after.deadline == case.deadline + timedelta(hours=HOURS)
    assert by_category.after.extensions == 1 and by_category.after.state == "rectifying"
    by_hours = run(by_category.after, "extend", "manager", hours=5)
    assert by_hours.after.deadline == case.deadline + timedelta(hours=HOURS + 5) and by_hours.after.extensions == 2
    assert by_hours.detail["hours"] == 5


def test_an_overdue_hazard_is_extended_from_now():
    late = hazard("dispatched", deadline=NOW - timedelta(days=3))
    assert wf.is_overdue(late.state, late.deadline, NOW)
    after = run(late, "extend", "manager", hours=8).after
    assert after.deadline == NOW + timedelta(hours=8) and not wf.is_overdue(after.state, after.deadline, NOW)


def test_an_extension_is_capped():
    with pytest.raises(InvalidParameter, match="720"):
        run(hazard("rectifying"), "extend", "manager", hours=wf.MAX_EXTENSION_HOURS + 1)
    with pytest.raises(InvalidParameter):
        run(hazard("rectifying"), "extend", "manager", hours=0)
    long_category = wf.apply(
        hazard("rectifying"), act("extend"), ACTORS["manager"], now=NOW, category_hours=8760
    ).after.deadline
    assert long_category == hazard("rectifying").deadline + timedelta(hours=wf.MAX_EXTENSION_HOURS)


def test_suspend_remembers_the_state_and_resume_stops_the_clock():
    case = hazard("dispatched", assigned_unit="城管科")
    suspended = run(case, "suspend", "manager").after
    assert (suspended.state, suspended.resume_state, suspended.suspended_at) == ("suspended", "dispatched", NOW)
    assert not wf.is_overdue(suspended.state, NOW - timedelta(days=1), NOW)  # the clock stands
    later = NOW + timedelta(hours=30)
    resumed = wf.apply(suspended, act("resume", suspended.version), ACTORS["manager"], now=later, category_hours=HOURS)
    assert resumed.after.state == "dispatched" and resumed.after.assigned_unit == "城管科"
    assert resumed.after.deadline == case.deadline + timedelta(hours=30)
    assert resumed.after.resume_state is None and resumed.after.suspended_at is None
    assert resumed.detail["waited_hours"] == 30.0


def test_close_and_reject_set_closed_at_and_reopen_clears_it_with_a_new_deadline():
    closed = run(hazard("verified"), "close", "manager").after
    rejected = run(hazard("reported"), "reject", "manager").after
    assert closed.closed_at == rejected.closed_at == NOW
    reopened = run(closed, "reopen", "manager").after
    assert reopened.closed_at is None and reopened.deadline == NOW + timedelta(hours=HOURS)


def test_dispatch_needs_someone_and_replaces_the_assignment():
    with pytest.raises(InvalidParameter, match="assigned"):
        wf.apply(
            hazard("accepted"),
            wf.Act("dispatch", version=3),
            ACTORS["manager"],
            now=NOW,
            category_hours=HOURS,
        )
    first = run(hazard("accepted"), "dispatch", "manager", assigned_unit="燃气公司", assigned_user_id=7).after
    again = run(first, "dispatch", "manager", assigned_user_id=9).after
    assert (first.assigned_unit, first.assigned_user_id) == ("燃气公司", 7)
    assert (again.assigned_unit, again.assigned_user_id) == (None, 9)


@pytest.mark.parametrize(
    ("action", "state", "fields", "problem"),
    [
        ("accept", "reported", {"hours": 5}, "hours"),
        ("finish", "rectifying", {"assigned_unit": "x"}, "dispatch only"),
        ("reject", "reported", {"note": "  "}, "reason"),
        ("suspend", "dispatched", {"note": None}, "reason"),
        ("note", "closed", {"note": None}, "reason"),
        ("accept", "reported", {"note": "x" * (wf.NOTE_MAX + 1)}, "2000"),
    ],
)
def test_inputs_that_do_not_fit_the_action(action, state, fields, problem):
    with pytest.raises(InvalidParameter, match=problem):
        run(hazard(state), action, "manager", **fields)


def test_overdue_is_a_flag_of_open_work():
    past = NOW - timedelta(minutes=1)
    assert [s for s in wf.STATES if wf.is_overdue(s, past, NOW)] == [
        "reported",
        "accepted",
        "dispatched",
        "rectifying",
        "sent_back",
    ]
    assert not any(wf.is_overdue(s, NOW + timedelta(minutes=1), NOW) for s in wf.STATES)


def test_parties_of_a_user():
    assert parties_of(manages=True, user_id=1, assigned_user_id=2, reported_by=1) == {MANAGER, REPORTER, VIEWER}
    assert parties_of(manages=False, user_id=2, assigned_user_id=2, reported_by=None) == {ASSIGNEE, VIEWER}
    assert parties_of(manages=False, user_id=3, assigned_user_id=None, reported_by=None) == {VIEWER}


def test_a_bad_table_is_refused_when_built():
    with pytest.raises(ValueError, match="bad row"):
        Workflow("x", ["a", "b"], [transition("go", ["a"], "c", [MANAGER], "")])
    with pytest.raises(ValueError, match="two rows"):
        Workflow(
            "x", ["a", "b"], [transition("go", ["a"], "b", [MANAGER], ""), transition("go", ["a"], "b", [VIEWER], "")]
        )
    with pytest.raises(InvalidParameter, match="unknown action"):
        wf.WORKFLOW.find("explode", "reported", ACTORS["manager"])


def test_the_states_are_the_schemas():
    field_work = importlib.import_module("migrations.versions.0009_field_work")
    suspension = importlib.import_module("migrations.versions.0011_hazard_suspension")
    assert wf.STATES == field_work.HAZARD_STATES
    assert wf.SUSPENDABLE == suspension.SUSPENDABLE


def test_the_documented_table_is_the_table():
    """docs/fieldwork.md shows the table row for row (rendered here from the code)."""
    who = {MANAGER: "manager", ASSIGNEE: "assignee", REPORTER: "reporter", VIEWER: "anyone who sees it"}
    doc = (Path(__file__).resolve().parents[3] / "docs" / "fieldwork.md").read_text(encoding="utf-8")
    for row in wf.TABLE:
        sources = "any" if row.sources == set(wf.STATES) else ", ".join(s for s in wf.STATES if s in row.sources)
        target = {wf.RESUME: "(the state it was suspended from)", STAY: "(stays)"}.get(row.target, row.target)
        parties = ", ".join(label for party, label in who.items() if party in row.parties)
        note = "yes" if row.note_required else ""
        line = f"| `{row.action}` | {row.label} | {sources} | {target} | {parties} | {note} |"
        assert line in doc, line


# --- random sequences ---------------------------------------------------------------------------------------------

STEPS = st.lists(
    st.tuples(
        st.sampled_from(wf.ACTIONS),
        st.sampled_from(sorted(ACTORS)),
        st.one_of(st.none(), st.integers(min_value=-5, max_value=800)),
        st.integers(min_value=0, max_value=72),
        st.booleans(),  # send the current version, or a stale one
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(steps=STEPS)
def test_random_sequences_stay_in_the_states_and_count_versions(steps):
    case, now, applied, extensions = hazard("reported", version=1), NOW, 0, 0
    for action, who, hours, minutes, current in steps:
        now += timedelta(minutes=minutes)
        version = case.version if current else case.version - 1
        try:
            step = wf.apply(
                case,
                act(action, version, hours=hours if action == "extend" else None),
                ACTORS[who],
                now=now,
                category_hours=HOURS,
            )
        except (Forbidden, InvalidTransition, InvalidParameter, StaleVersion):
            continue  # nothing changed: `case` is immutable and kept
        assert current
        assert step.after.version == case.version + 1
        applied += 1
        extensions += action == "extend"
        case = step.after
        assert case.state in wf.STATES
        assert (case.state == "suspended") == (case.resume_state is not None) == (case.suspended_at is not None)
        assert case.resume_state in (None, *wf.SUSPENDABLE)
        assert (case.closed_at is not None) == (case.state in wf.CLOSED_STATES)
    assert case.version == 1 + applied and case.extensions == extensions
