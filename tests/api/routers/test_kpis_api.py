"""GET /kpis on hand-made field work with answers worked out by hand below (not by the endpoint's SQL): visits done
vs due by the visit rules (a community's own rule replacing a default, an inactive one switching it off), hazard
closure and overdue, request closure, satisfaction; who may read which places."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.ledgers import CHINA
from api.main import create_app
from api.settings import Settings
from tests.conftest import sample_loaded
from tests.signing import PASSWORD, account

KEY = "a signing key for the KPI tests, 0123456789abcdef"
FROM = date(date.today().year - 1, 1, 1)
TO = FROM + timedelta(days=59)  # 60 days
START = datetime(FROM.year, FROM.month, FROM.day, tzinfo=CHINA)
PAST = datetime.now(CHINA) - timedelta(days=1)
FUTURE = datetime.now(CHINA) + timedelta(days=3650)

# The rules of this test (the defaults of 三必到五必访 for these tags), then community A's own.
RULES = [
    (None, "hardship", "grid_worker", 30, "routine", True),  # ⌈60/30⌉ = 2
    (None, "hardship", "community_secretary", 91, "routine", True),  # 1
    (None, "hardship", "street_leader", 365, "routine", True),  # 1
    (None, "elderly_alone", "grid_worker", 7, "routine", True),  # ⌈60/7⌉ = 9
    (None, "elderly_alone", "community_secretary", 182, "care", True),  # 1
    (None, "aged_80", "party_member", 30, "routine", True),  # 2
    (None, "aged_80", "grid_worker", 30, "care", True),  # 2, counted from care and help visits only
    ("A", "hardship", "grid_worker", 20, "routine", True),  # replaces the 30-day default: ⌈60/20⌉ = 3
    ("A", "elderly_alone", "community_secretary", 182, "care", False),  # switches that default off
]
# Due per household: h1 (hardship) 3+1+1 = 5; h2 (elderly_alone) 9; h3 (hardship, aged_80) 5+2+2 = 9: 23 in all.
TAGS = {"h1": ["hardship"], "h2": ["elderly_alone"], "h3": ["aged_80", "hardship"]}
# (household, role, kind, day of the period or -1 for the day before it, how many). Done, capped at the number due:
# h1 3 of 3 by the grid worker + 1 of 1 by the street leader (2 made); h2 5 of 9 (the secretary's visit counts
# for nothing: that rule is off); h3 1 of 2 by a party member, 2 of 3 for the grid worker's routine rule (a routine
# and a help visit; one more before the period) and 1 of 2 for their care rule (the help visit; a routine one does
# not count for care): 4 + 5 + 4 = 13 of 23.
VISITS = [
    ("h1", "grid_worker", "routine", 3, 3),
    ("h1", "street_leader", "routine", 10, 2),
    ("h2", "grid_worker", "routine", 5, 5),
    ("h2", "community_secretary", "care", 6, 1),
    ("h3", "party_member", "routine", 40, 1),
    ("h3", "grid_worker", "routine", 59, 1),
    ("h3", "grid_worker", "help", 20, 1),
    ("h3", "grid_worker", "routine", -1, 1),
]
DUE, DONE = 23, 13
# (state, reported day, deadline, closed at, rectified at): 7 counted (the rejected one and the one before the
# period are not), 4 closed, 2 overdue (one closed late, one open past its deadline).
HAZARDS = [
    ("closed", 1, "day+3", "day+1", None),
    ("closed", 2, "day+1", "day+2", None),  # late
    ("closed", 3, "day+3", "day+3", None),  # on the deadline: not late
    ("closed", 7, "day+2", "day+4", "day+1"),  # rectified in time, checked and closed after: not late
    ("reported", 4, "past", None, None),  # open, past its deadline
    ("suspended", 8, "past", None, None),  # its clock stands: not overdue
    ("rectifying", 5, "future", None, None),
    ("rejected", 6, "past", None, None),
    ("reported", -1, "past", None, None),
]
# (state, day, rating): counted 5 (not rejected or duplicate), closed 4 (completed or closed); rated 3, mean 11/3,
# 2 rated 4 or more.
REQUESTS = [
    ("closed", 1, 5),
    ("closed", 2, 4),
    ("completed", 3, 2),
    ("completed", 4, None),
    ("accepted", 5, None),
    ("rejected", 6, None),
    ("duplicate", 7, None),
    ("closed", -1, 1),
]


def _day(n: int) -> datetime:
    return START + timedelta(days=n, hours=10)


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine):
        with engine.begin() as conn:
            saved_rules = conn.execute(text("SELECT * FROM visit_rules")).mappings().all()
            street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
            (a, a_code), (b, b_code) = conn.execute(
                text(
                    "SELECT c.id, st.code || c.code FROM communities c JOIN streets st ON st.id = c.street_id "
                    "WHERE EXISTS (SELECT 1 FROM grids g JOIN households h ON h.grid_id = g.id "
                    "WHERE g.community_id = c.id) ORDER BY c.id LIMIT 2"
                )
            ).all()
            g, g_code = conn.execute(
                text("SELECT id, code FROM grids WHERE community_id = :a ORDER BY id LIMIT 1"), {"a": a}
            ).one()
            first_three = "SELECT id FROM households WHERE grid_id = :g ORDER BY id LIMIT 3"
            homes = list(conn.scalars(text(first_three), {"g": g}))
            households = dict(zip(TAGS, homes, strict=True))
            # this test's field work only (a sample with a history of its own would add to it)
            for table in ("visits", "hazards", "requests"):
                in_a = "grid_id IN (SELECT id FROM grids WHERE community_id = :a)"
                conn.execute(text(f"DELETE FROM {table} WHERE {in_a}"), {"a": a})
            conn.execute(text("UPDATE households SET tags = '{}' WHERE grid_id = :g"), {"g": g})
            for key, tags in TAGS.items():
                conn.execute(text("UPDATE households SET tags = :t WHERE id = :h"), {"t": tags, "h": households[key]})
            conn.execute(text("DELETE FROM visit_rules"))
            for community, tag, role, days, kind, active in RULES:
                conn.execute(
                    text(
                        "INSERT INTO visit_rules (community_id, tag, role, interval_days, kind, active) "
                        "VALUES (:c, :tag, :role, :days, :kind, :active)"
                    ),
                    {"c": a if community else None, "tag": tag, "role": role, "days": days, "kind": kind,
                     "active": active},
                )  # fmt: skip
            for key, role, kind, day, count in VISITS:
                for i in range(count):
                    conn.execute(
                        text(
                            "INSERT INTO visits (client_id, household_id, grid_id, role, kind, visited_at, "
                            "payload_sha256) VALUES (gen_random_uuid(), :h, :g, :role, :kind, :at, 'test')"
                        ),
                        {
                            "h": households[key],
                            "g": g,
                            "role": role,
                            "kind": kind,
                            "at": _day(day) + timedelta(minutes=i),
                        },
                    )
            point = "(SELECT geom FROM households WHERE id = :h)"
            for state, day, deadline, closed, rectified in HAZARDS:
                reported = _day(day)
                due = {"past": PAST, "future": FUTURE}.get(deadline) or reported + timedelta(days=int(deadline[-1]))
                closed_at = None if closed is None else reported + timedelta(days=int(closed[-1]))
                suspended = state == "suspended"
                hazard = conn.scalar(
                    text(
                        "INSERT INTO hazards (category, grid_id, location, description, state, reported_at, deadline, "
                        f"closed_at, resume_state, suspended_at) VALUES ('gas', :g, {point}, 'x', :state, :at, "
                        ":deadline, :closed, :resume, :suspended) RETURNING id"
                    ),
                    {"g": g, "h": homes[0], "state": state, "at": reported, "deadline": due, "closed": closed_at,
                     "resume": "rectifying" if suspended else None, "suspended": reported if suspended else None},
                )  # fmt: skip
                if rectified:
                    conn.execute(
                        text(
                            "INSERT INTO hazard_history (case_id, version, action, from_state, to_state, at) "
                            "VALUES (:h, 5, 'finish', 'rectifying', 'rectified', :at)"
                        ),
                        {"h": hazard, "at": reported + timedelta(days=int(rectified[-1]))},
                    )
            for state, day, rating in REQUESTS:
                conn.execute(
                    text(
                        "INSERT INTO requests (service_code, grid_id, location, description, source, state, "
                        f"requested_at, deadline, rating) VALUES ('livelihood', :g, {point}, 'x', 'test', :state, "
                        ":at, :at, :rating)"
                    ),
                    {"g": g, "h": homes[0], "state": state, "at": _day(day), "rating": rating},
                )
            b_grids = set(conn.scalars(text("SELECT code FROM grids WHERE community_id = :b"), {"b": b}))
            a_grids = set(conn.scalars(text("SELECT code FROM grids WHERE community_id = :a"), {"a": a}))
            communities = set(
                conn.scalars(
                    text(
                        "SELECT st.code || c.code FROM communities c JOIN streets st ON st.id = c.street_id "
                        "WHERE st.code = :s AND EXISTS (SELECT 1 FROM grids g WHERE g.community_id = c.id)"
                    ),
                    {"s": street},
                )
            )
        scopes = {
            "admin": [],
            "street_leader": [f"street:{street}"],
            "community_secretary": [f"community:{a_code}"],
            "grid_worker": [f"grid:{g_code}"],
            "party_member": [f"grid:{g_code}"],
            "planner": [f"street:{street}"],
        }
        settings = Settings(database_url=database_url, tiles="none", secret_key=KEY)
        try:
            with TestClient(create_app(settings)) as client:
                headers = {}
                for role, places in scopes.items():
                    login = account(engine, role, places, login=f"kpi-{role}")
                    token = client.post("/auth/token", data={"username": login, "password": PASSWORD}).json()
                    headers[role] = {"Authorization": f"Bearer {token['access_token']}"}
                yield {
                    "client": client,
                    "headers": headers,
                    "codes": {"a": a_code, "b": b_code, "g": g_code, "street": street},
                    "a_grids": a_grids,
                    "b_grids": b_grids,
                    "communities": communities,
                }
        finally:
            with engine.begin() as conn:
                conn.execute(text("DELETE FROM visit_rules"))
                for rule in saved_rules:
                    conn.execute(
                        text(
                            "INSERT INTO visit_rules (community_id, tag, role, interval_days, kind, label, active) "
                            "VALUES (:community_id, :tag, :role, :interval_days, :kind, :label, :active)"
                        ),
                        dict(rule),
                    )


def _kpis(world, role="community_secretary", **params):
    params = {"from": FROM.isoformat(), "to": TO.isoformat()} | params
    return world["client"].get("/kpis", params=params, headers=world["headers"][role])


def _one(world, role="community_secretary", **params) -> dict:
    response = _kpis(world, role, **params)
    assert response.status_code == 200, response.text
    (place,) = response.json()["places"]
    return place


def test_the_grids_kpis_are_the_hand_worked_answers(world):
    place = _one(world, level="grid", code=world["codes"]["g"])
    assert place["code"] == world["codes"]["g"]
    assert place["visits"] == {"due": DUE, "done": DONE, "households": 3, "rate": round(DONE / DUE, 4), "n": DUE,
                               "small": False}  # fmt: skip
    assert place["hazards"] == {"reported": 7, "closed": 4, "overdue": 2, "closure_rate": round(4 / 7, 4),
                                "overdue_rate": round(2 / 7, 4), "n": 7, "small": False}  # fmt: skip
    assert place["requests"] == {"counted": 5, "closed": 4, "closure_rate": 0.8, "n": 5, "small": False}
    assert place["satisfaction"] == {"rated": 3, "mean": 3.67, "satisfied": 2, "satisfied_share": 0.6667, "n": 3,
                                     "small": True}  # fmt: skip


def test_the_community_gathers_its_grids(world):
    place = _one(world, level="community", code=world["codes"]["a"])
    # the other grids hold the sample's tagged households (more due) but none of this test's field work
    assert place["visits"]["done"] == DONE and place["visits"]["due"] > DUE
    assert place["hazards"]["reported"] == 7 and place["requests"]["counted"] == 5


def test_without_a_code_every_place_of_the_level_within_the_users_places(world):
    grids = {p["code"] for p in _kpis(world, level="grid").json()["places"]}
    assert grids == world["a_grids"]
    planner = _kpis(world, "planner", level="community").json()
    assert {p["code"] for p in planner["places"]} == world["communities"]
    assert planner["days"] == 60 and planner["small_n"] == 5
    assert [p["code"] for p in _kpis(world, "street_leader", level="street").json()["places"]] == [
        world["codes"]["street"]
    ]
    # a secretary's community is part of the street: the street is not theirs
    assert _kpis(world, level="street").json()["places"] == []


def test_a_place_outside_reads_as_one_not_stored(world):
    codes = world["codes"]
    refused = _kpis(world, level="community", code=codes["b"])
    missing = _kpis(world, level="community", code="999999999999")
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["detail"].replace(codes["b"], "N") == missing.json()["detail"].replace("999999999999", "N")
    assert _kpis(world, level="street", code=codes["street"]).status_code == 404
    assert _kpis(world, level="grid", code=codes["a"]).status_code == 404  # a community's code is no grid's
    assert _kpis(world, "planner", level="community", code=codes["b"]).status_code == 200


@pytest.mark.parametrize("role", ["grid_worker", "party_member"])
def test_field_roles_may_not_read_kpis(world, role):
    assert _kpis(world, role, level="grid").status_code == 403


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"level": "grid", "from": "2026-02-30"}, 422, "from"),
        ({"level": "grid", "from": "2026-02-01", "to": "2026-01-01"}, 422, "before from"),
        ({"level": "grid", "from": "2024-01-01", "to": "2025-12-31"}, 422, "at most 366"),
        ({"level": "district"}, 422, "level"),
        ({"level": "grid", "code": "12ab"}, 422, "code"),
    ],
)
def test_bad_levels_codes_and_dates_are_refused_naming_the_problem(world, params, status, words):
    response = _kpis(world, **params)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
