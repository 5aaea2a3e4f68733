"""api.visits.due: due dates from the last counting visit of the rule's role, never visited = due since the
reference date, several rules per household, most overdue first."""

from datetime import UTC, date, datetime, timedelta

from api.visits.due import CHINA, china_date, default_reference, due_households
from api.visits.rules import Rule

TODAY = date(2026, 6, 15)
REFERENCE = date(2026, 1, 1)
RULES = {
    1: [
        Rule(1, None, "elderly_alone", "grid_worker", "routine", 7),
        Rule(2, None, "hospitalized", "grid_worker", "care", 7),
        Rule(3, None, "hardship", "grid_worker", "routine", 30),
        Rule(4, None, "aged_80", "party_member", "routine", 30),
        Rule(5, 1, "unemployed", "grid_worker", "routine", 30, active=False),
    ]
}


def _household(hid: int, *tags: str) -> dict:
    return {"id": hid, "building_id": 100 + hid, "grid_code": "g", "community_id": 1, "unit": None, "room": "101",
            "tags": list(tags)}  # fmt: skip


def _at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=CHINA)


def _due(households, last, role="grid_worker"):
    return due_households(households, RULES, last, role=role, today=TODAY, reference=REFERENCE)


def test_due_dates_from_the_last_counting_visit():
    households = [
        _household(1, "elderly_alone"),  # visited 7 days ago: due today
        _household(2, "elderly_alone"),  # visited 6 days ago: not due
        _household(3, "elderly_alone"),  # never visited: due since the reference date
        _household(4, "hospitalized"),  # a routine visit does not count for a care rule
        _household(5, "hospitalized"),  # a help visit does
        _household(6, "unemployed"),  # the community switched this rule off
        _household(7, "aged_80"),  # a party member's rule
        _household(8, "floating"),  # no rule
    ]
    last = {
        1: {"routine": _at(TODAY - timedelta(days=7))},
        2: {"routine": _at(TODAY - timedelta(days=6))},
        4: {"routine": _at(TODAY - timedelta(days=1))},
        5: {"help": _at(TODAY - timedelta(days=2))},
    }
    due = {d["household_id"]: d for d in _due(households, last)}
    assert set(due) == {1, 3, 4}
    assert due[1]["days_overdue"] == 0 and due[1]["due_date"] == TODAY
    assert due[3]["days_overdue"] == (TODAY - REFERENCE).days and due[3]["last_visit"] is None
    assert due[4]["rules"][0]["last_visit"] is None  # the routine visit is not a care visit
    assert [d["household_id"] for d in _due(households, last)] == [3, 4, 1]  # most overdue first
    party = _due(households, last, role="party_member")
    assert [d["household_id"] for d in party] == [7]


def test_a_household_due_for_several_rules_carries_each():
    last = {1: {"routine": _at(TODAY - timedelta(days=40))}}
    (entry,) = _due([_household(1, "elderly_alone", "hardship")], last)
    overdue = {r["tag"]: r["days_overdue"] for r in entry["rules"]}
    assert overdue == {"elderly_alone": 33, "hardship": 10}
    assert entry["days_overdue"] == 33 and entry["due_date"] == TODAY - timedelta(days=33)
    assert entry["last_visit"] == _at(TODAY - timedelta(days=40))


def test_days_are_counted_in_china_time():
    # 23:30 UTC on the 7th is already the 8th in Beijing
    late = datetime(2026, 6, 7, 23, 30, tzinfo=UTC)
    assert china_date(late) == date(2026, 6, 8)
    (entry,) = _due([_household(1, "elderly_alone")], {1: {"routine": late - timedelta(days=1)}})
    assert entry["due_date"] == date(2026, 6, 14)
    assert default_reference(TODAY) == date(2026, 1, 1)
