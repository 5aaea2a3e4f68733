"""The request workflow without a database: every action from every state by every kind of actor is allowed exactly
where the table in the brief says (居民点单 → 支部下单 → 党员接单 → 办结 → 群众评单, reject, duplicate, reopen), and
refused otherwise with 403 (who) or 409 (state); what each action must carry; overdue; the Open311 crosswalk."""

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from api.errors import ERRORS, Forbidden, InvalidParameter, InvalidTransition
from api.workflows import ASSIGNEE, MANAGER, RATER, REPORTER, VIEWER, Transition, Workflow
from api.workflows.requests import (
    ACTIONS,
    OPEN311_STATUS,
    STATES,
    TABLE,
    WORKFLOW,
    Actor,
    Case,
    decide,
    is_overdue,
    open311_status,
    parties,
)

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
MEMBER, OTHER_MEMBER, PARTNER = 7, 8, 3

# Written out again here rather than read from the module, so that a change to the table fails a test.
FROM = {
    "dispatch": {"submitted", "dispatched"},
    "accept": {"dispatched"},
    "decline": {"dispatched", "accepted"},
    "complete": {"accepted"},
    "rate": {"completed"},
    "close": {"completed"},
    "reject": {"submitted", "dispatched"},
    "duplicate": {"submitted", "dispatched"},
    "reopen": {"completed", "closed", "rejected", "duplicate"},
}
TO = {
    "dispatch": "dispatched",
    "accept": "accepted",
    "decline": "submitted",
    "complete": "completed",
    "rate": "closed",
    "close": "closed",
    "reject": "rejected",
    "duplicate": "duplicate",
    "reopen": "submitted",
}
ACTORS = {
    "admin": Actor("admin", 1),
    "street_leader": Actor("street_leader", 2),
    "community_secretary": Actor("community_secretary", 3),
    "grid_worker": Actor("grid_worker", 4),
    "planner": Actor("planner", 5),
    "assigned_member": Actor("party_member", MEMBER),
    "other_member": Actor("party_member", OTHER_MEMBER),
    "posting_partner": Actor(partner_id=PARTNER),
    "other_partner": Actor(partner_id=PARTNER + 1),
}
BRANCH = {"admin", "street_leader", "community_secretary"}
WHO = {  # for a request dispatched to a party member
    "dispatch": BRANCH,
    "accept": {"assigned_member"},
    "decline": {"assigned_member"},
    "complete": BRANCH | {"assigned_member"},
    "rate": BRANCH | {"grid_worker", "posting_partner"},
    "close": BRANCH,
    "reject": BRANCH,
    "duplicate": BRANCH,
    "reopen": BRANCH,
}
FIELDS = {
    "dispatch": {"assigned_unit": "物业公司"},
    "complete": {"note": "已上门维修"},
    "rate": {"rating": 5, "comment": "很满意"},
    "reject": {"reason": "不属于社区职责"},
    "duplicate": {"duplicate_of": 41},
}


def _case(state: str, *, unit: bool = False) -> Case:
    if unit:
        return Case(state, assigned_user_id=None, assigned_unit="共建单位", partner_id=PARTNER)
    return Case(state, assigned_user_id=MEMBER, partner_id=PARTNER)


@pytest.mark.parametrize(("action", "state", "who"), list(product(ACTIONS, STATES, ACTORS)))
def test_each_action_from_each_state_by_each_actor(action, state, who):
    case = _case(state)
    if who not in WHO[action]:
        with pytest.raises(Forbidden):
            decide(case, action, ACTORS[who], now=NOW, **FIELDS.get(action, {}))
    elif state not in FROM[action]:
        with pytest.raises(InvalidTransition, match=f"cannot {action} request 9: it is {state} ") as refused:
            decide(case, action, ACTORS[who], now=NOW, subject="request 9", **FIELDS.get(action, {}))
        assert refused.value.fields == {"state": state, "action": action}
    else:
        change = decide(case, action, ACTORS[who], now=NOW, **FIELDS.get(action, {}))
        assert (change.from_state, change.to_state) == (state, TO[action])
        assert change.values["state"] == TO[action] and change.values["updated_at"] == NOW


def test_the_table_covers_the_states_of_migration_0009():
    assert set(STATES) == {"submitted", "dispatched", "accepted", "completed", "closed", "rejected", "duplicate"}
    assert set(ACTIONS) == set(FROM)


def test_errors_have_their_statuses():
    assert ERRORS[InvalidTransition] == (409, "invalid_transition")
    assert ERRORS[Forbidden][0] == 403 and ERRORS[InvalidParameter][0] == 400


@pytest.mark.parametrize("action", ["accept", "decline"])
def test_the_branch_acts_for_a_unit_that_has_no_account(action):
    branch, member = ACTORS["community_secretary"], ACTORS["assigned_member"]
    assert decide(_case("dispatched", unit=True), action, branch, now=NOW).to_state == TO[action]
    with pytest.raises(Forbidden):  # a party member is not the unit
        decide(_case("dispatched", unit=True), action, member, now=NOW)


def test_the_table_is_a_common_workflow_table():
    """One way to say a transition: api.workflows' rows and lookup, as for hazards."""
    assert isinstance(WORKFLOW, Workflow) and all(isinstance(row, Transition) for row in TABLE)
    assert {row.action: set(row.sources) for row in TABLE} == FROM
    assert {row.action: row.target for row in TABLE} == TO
    assert {row.action for row in TABLE if row.note_required} == {"complete", "reject"}


def test_the_parties_of_each_actor():
    member_case = _case("dispatched")
    assert parties(member_case, ACTORS["assigned_member"]) == {ASSIGNEE, VIEWER}
    assert parties(member_case, ACTORS["community_secretary"]) == {MANAGER, RATER, VIEWER}
    assert parties(member_case, ACTORS["grid_worker"]) == {RATER, VIEWER}
    assert parties(member_case, ACTORS["posting_partner"]) == {RATER, VIEWER}
    assert parties(member_case, ACTORS["other_partner"]) == {VIEWER}
    # a unit has no account: the branch stands in for the assignee; a party member never does
    assert parties(_case("dispatched", unit=True), ACTORS["community_secretary"]) == {MANAGER, ASSIGNEE, RATER, VIEWER}
    assert parties(_case("dispatched", unit=True), ACTORS["assigned_member"]) == {VIEWER}
    reported = Case("submitted", reported_by=OTHER_MEMBER)
    assert parties(reported, ACTORS["other_member"]) == {REPORTER, VIEWER}


def test_a_manager_outside_the_requests_places_is_no_manager_of_it():
    """The router asks the database (api.access.manages_grid); a secretary who sees a request only as its reporter
    may not dispatch it, nor stand in for a unit, but may still record the rating as a field writer."""
    outside = Actor("community_secretary", 3, manages=False)
    with pytest.raises(Forbidden, match="is for a manager of its place"):
        decide(Case("submitted"), "dispatch", outside, assigned_unit="物业", now=NOW)
    with pytest.raises(Forbidden):
        decide(_case("dispatched", unit=True), "accept", outside, now=NOW)
    assert decide(_case("completed"), "rate", outside, rating=3, now=NOW).to_state == "closed"


def test_a_refusal_says_who_may_and_who_you_are():
    with pytest.raises(Forbidden) as refused:
        decide(_case("completed"), "rate", ACTORS["assigned_member"], rating=5, subject="request 9", now=NOW)
    message = str(refused.value)
    assert message.startswith("rate (群众评单) of request 9 is for whoever records the resident's rating")
    assert "or the partner app that posted it; you are the party member it is dispatched to" in message
    assert message.endswith("anyone who sees it")
    with pytest.raises(InvalidTransition, match=r"it is closed \(已关闭\); rate is allowed only from completed"):
        decide(_case("closed"), "rate", ACTORS["grid_worker"], rating=5, now=NOW)


def test_the_whole_path():
    """点单 → 下单 → 接单 → 办结 → 评单, with the columns each step sets."""
    secretary, member = ACTORS["community_secretary"], ACTORS["assigned_member"]
    dispatched = decide(Case("submitted"), "dispatch", secretary, assigned_user_id=MEMBER, now=NOW)
    assert dispatched.values["assigned_user_id"] == MEMBER and dispatched.values["assigned_unit"] is None
    assert dispatched.values["dispatched_at"] == NOW and dispatched.detail == {"assigned_user_id": MEMBER}
    accepted = decide(Case("dispatched", MEMBER), "accept", member, now=NOW)
    assert accepted.values["accepted_at"] == NOW
    completed = decide(Case("accepted", MEMBER), "complete", member, note="修好了", now=NOW)
    assert completed.values["status_notes"] == "修好了" and completed.values["completed_at"] == NOW
    rated = decide(Case("completed", MEMBER), "rate", ACTORS["grid_worker"], rating=4, comment="好", now=NOW)
    assert rated.to_state == "closed" and rated.values["rating"] == 4 and rated.values["rating_comment"] == "好"
    assert rated.values["closed_at"] == NOW


def test_decline_gives_it_back_and_reopen_clears_it():
    declined = decide(Case("accepted", MEMBER), "decline", ACTORS["assigned_member"], now=NOW)
    assert declined.values["assigned_user_id"] is None and declined.values["accepted_at"] is None
    assert declined.detail == {"declined_by": MEMBER}
    reopened = decide(Case("closed", MEMBER), "reopen", ACTORS["admin"], note="居民反映未解决", now=NOW)
    for column in ("assigned_user_id", "rating", "closed_at", "completed_at", "duplicate_of"):
        assert reopened.values[column] is None
    assert reopened.values["status_notes"] == "居民反映未解决"


@pytest.mark.parametrize(
    ("action", "state", "fields", "message"),
    [
        ("dispatch", "submitted", {}, "one party member .* or one unit"),
        ("dispatch", "submitted", {"assigned_user_id": 7, "assigned_unit": "x"}, "one party member"),
        ("dispatch", "submitted", {"assigned_unit": "   "}, "assigned_unit: required"),
        ("dispatch", "submitted", {"assigned_unit": "单" * 101}, "at most 100"),
        ("complete", "accepted", {}, "note: required"),
        ("complete", "accepted", {"note": " "}, "note: required"),
        ("rate", "completed", {}, "rating: a whole number"),
        ("rate", "completed", {"rating": 0}, "rating"),
        ("rate", "completed", {"rating": 6}, "rating"),
        ("rate", "completed", {"rating": True}, "rating"),
        ("rate", "completed", {"rating": 3, "comment": "x" * 2001}, "comment"),
        ("reject", "submitted", {}, "reason: required"),
        ("duplicate", "submitted", {}, "duplicate_of"),
        ("close", "completed", {"note": "x" * 2001}, "note: at most"),
    ],
)
def test_what_an_action_must_carry(action, state, fields, message):
    with pytest.raises(InvalidParameter, match=message):
        decide(Case(state, MEMBER), action, ACTORS["admin"], now=NOW, **fields)


def test_an_unknown_action():
    with pytest.raises(InvalidParameter, match="action: one of"):
        decide(Case("submitted"), "approve", ACTORS["admin"], now=NOW)


def test_overdue_is_a_flag_of_open_requests_past_their_deadline():
    past, future = NOW - timedelta(hours=1), NOW + timedelta(hours=1)
    for state in STATES:
        assert is_overdue(state, past, NOW) == (state in {"submitted", "dispatched", "accepted"})
        assert not is_overdue(state, future, NOW)


def test_the_open311_crosswalk():
    """grid.md §3.3: waiting, dispatched and in hand are open; done, closed, rejected and duplicate are closed."""
    assert {s: open311_status(s) for s in STATES} == {
        "submitted": "open",
        "dispatched": "open",
        "accepted": "open",
        "completed": "closed",
        "closed": "closed",
        "rejected": "closed",
        "duplicate": "closed",
    }
    assert OPEN311_STATUS["duplicate"][1] == "DUPLICATE" and OPEN311_STATUS["rejected"][1] == "NO_FURTHER_ACTION"
