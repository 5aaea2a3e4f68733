"""/visit-rules, /visits/due, /visits, /visits/batch and /photos through the API on the sample street: due lists
for a grid worker and a party member from known data, the offline protocol (retry, conflict, a mixed batch with
nothing lost and nothing stored twice), the far flag, clear refusals that store nothing, hostile notes kept byte
for byte, each worker seeing only their grids' visits, a community's own rules replacing the defaults."""

import hashlib
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.accounts.roles import parse_scope
from api.accounts.users import put_user
from api.main import create_app
from api.settings import Settings
from tests.conftest import sample_loaded
from tests.signing import PASSWORD

KEY = "a signing key for the visit tests, 0123456789abcdef"
HOSTILE = "<script>window.__pwned=1</script>{{7*7}}'; DROP TABLE visits; --\n\t«走访» \\ \" ' ✓"
CHINA = ZoneInfo("Asia/Shanghai")
SINCE = date(2026, 1, 1)
WORKER_RULE_TAGS = {"hardship", "hospitalized", "unemployed", "released", "elderly_alone"}
PARTY_RULE_TAGS = {"aged_80", "disabled", "infant"}
PHOTO_CAP = 4096
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine):
        with engine.begin() as conn:
            street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
            (a, a_code), (b, b_code) = conn.execute(
                text(
                    "SELECT c.id, st.code || c.code FROM communities c JOIN streets st ON st.id = c.street_id "
                    "WHERE EXISTS (SELECT 1 FROM grids g JOIN households h ON h.grid_id = g.id "
                    "WHERE g.community_id = c.id) ORDER BY c.id LIMIT 2"
                )
            ).all()
            g1, g1_code = conn.execute(
                text(
                    "SELECT g.id, g.code FROM grids g WHERE community_id = :c AND EXISTS "
                    "(SELECT 1 FROM households h WHERE h.grid_id = g.id) ORDER BY g.id LIMIT 1"
                ),
                {"c": a},
            ).one()
            g2, g2_code = conn.execute(
                text(
                    "SELECT g.id, g.code FROM grids g WHERE community_id = :c AND EXISTS "
                    "(SELECT 1 FROM households h WHERE h.grid_id = g.id) ORDER BY g.id LIMIT 1"
                ),
                {"c": b},
            ).one()
        settings = Settings(
            database_url=database_url, tiles="none", secret_key=KEY, visits_since=SINCE, photo_max_bytes=PHOTO_CAP
        )
        with TestClient(create_app(settings)) as client:
            admin_login = "visits-admin"
            put_user(engine, admin_login, role="admin", scopes=[], password=PASSWORD)
            token = client.post("/auth/token", data={"username": admin_login, "password": PASSWORD}).json()
            assert client.post("/centers/assign", headers=_bearer(token)).status_code == 200
            with engine.connect() as conn:
                center, center_household = conn.execute(
                    text(
                        "SELECT ch.id, ch.household_id FROM center_households ch "
                        "JOIN households h ON h.id = ch.household_id WHERE h.grid_id = :g ORDER BY ch.id LIMIT 1"
                    ),
                    {"g": g1},
                ).one()
            accounts = {
                "worker": ("grid_worker", [f"grid:{g1_code}"]),
                "other_worker": ("grid_worker", [f"grid:{g2_code}"]),
                "secretary": ("community_secretary", [f"community:{a_code}"]),
                "leader": ("street_leader", [f"street:{street}"]),
                "party": ("party_member", [f"grid:{g1_code}"]),
                "planner": ("planner", [f"street:{street}"]),
            }
            headers = {"admin": _bearer(token)}
            for login, (role, scopes) in accounts.items():
                put_user(
                    engine,
                    login,
                    role=role,
                    scopes=[parse_scope(s) for s in scopes],
                    password=PASSWORD,
                    center_household_id=center if role == "party_member" else None,
                )
                issued = client.post("/auth/token", data={"username": login, "password": PASSWORD}).json()
                headers[login] = _bearer(issued)
            yield {
                "client": client,
                "headers": headers,
                "engine": engine,
                "grids": (g1, g2),
                "codes": {"a": a_code, "b": b_code, "g1": g1_code, "g2": g2_code},
                "center_household": center_household,
            }


def _bearer(token: dict) -> dict:
    return {"Authorization": f"Bearer {token['access_token']}"}


def _call(world, who, method, path, **kwargs):
    return world["client"].request(method, path, headers=world["headers"][who] | kwargs.pop("headers", {}), **kwargs)


def _rows(world, sql, **params) -> list:
    with world["engine"].connect() as conn:
        return conn.execute(text(sql), params).all()


def _households(world, grid, tags) -> list[tuple[int, int, list[str]]]:
    """(id, building, tags) of the grid's households carrying one of `tags`, by id."""
    rows = _rows(
        world,
        "SELECT id, building_id, tags FROM households WHERE grid_id = :g AND tags && :t ORDER BY id",
        g=grid,
        t=sorted(tags),
    )
    return [(r.id, r.building_id, list(r.tags)) for r in rows]


def _door(world, household) -> tuple[float, float]:
    """A point inside the household's building."""
    row = _rows(
        world,
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(b.geom) p FROM households h "
        "JOIN buildings b ON b.id = h.building_id WHERE h.id = :h) q",
        h=household,
    )[0]
    return float(row[0]), float(row[1])


def _visit(world, household, *, days_ago: float = 0.0, **extra) -> dict:
    lon, lat = _door(world, household)
    at = datetime.now(CHINA) - timedelta(days=days_ago)
    body = {
        "client_id": str(uuid.uuid4()),
        "household_id": household,
        "visited_at": at.isoformat(),
        "location": {"type": "Point", "coordinates": [lon, lat]},
        "notes": "例行走访",
    }
    return body | extra


def _count(world, **where) -> int:
    clause = " AND ".join(f"{k} = :{k}" for k in where) or "true"
    return _rows(world, f"SELECT count(*) FROM visits WHERE {clause}", **where)[0][0]


# --- visit rules ------------------------------------------------------------------------------------------------


def test_the_defaults_are_the_rules_of_a_community_without_its_own(world):
    body = _call(world, "worker", "GET", "/visit-rules", params={"community_code": world["codes"]["a"]}).json()
    assert len(body["rules"]) == 12 and {r["scope"] for r in body["rules"]} == {"default"}
    weekly = [r for r in body["rules"] if r["tag"] == "elderly_alone" and r["role"] == "grid_worker"]
    assert weekly[0]["interval_days"] == 7 and weekly[0]["active"]
    refused = _call(world, "worker", "GET", "/visit-rules", params={"community_code": world["codes"]["b"]})
    missing = _call(world, "worker", "GET", "/visit-rules", params={"community_code": "999999999999"})
    assert refused.status_code == missing.status_code == 404
    assert _call(world, "planner", "GET", "/visit-rules").status_code == 403


def test_a_community_replaces_defaults_with_its_own_rules(world):
    a, b = world["codes"]["a"], world["codes"]["b"]
    own = [
        {"tag": "unemployed", "role": "grid_worker", "kind": "routine", "interval_days": 3, "label": "失业 每三天"},
        {"tag": "released", "role": "grid_worker", "kind": "routine", "interval_days": 182, "active": False},
    ]
    assert _call(world, "worker", "PUT", f"/visit-rules/{a}", json=own).status_code == 403
    assert _call(world, "secretary", "PUT", f"/visit-rules/{b}", json=own).status_code == 404
    answer = _call(world, "secretary", "PUT", f"/visit-rules/{a}", json=own)
    assert answer.status_code == 200, answer.text
    rules = {(r["tag"], r["role"], r["kind"]): r for r in answer.json()["rules"]}
    assert len(rules) == 12
    assert rules[("unemployed", "grid_worker", "routine")] | {"id": 0} == {
        "id": 0,
        "scope": "community",
        "tag": "unemployed",
        "role": "grid_worker",
        "kind": "routine",
        "interval_days": 3,
        "active": True,
        "label": "失业 每三天",
    }
    assert not rules[("released", "grid_worker", "routine")]["active"]
    assert rules[("hardship", "grid_worker", "routine")]["scope"] == "default"
    other = _call(world, "leader", "GET", "/visit-rules", params={"community_code": b}).json()["rules"]
    assert {r["scope"] for r in other} == {"default"}
    audit = _rows(world, "SELECT login, action FROM audit_log WHERE object_table = 'visit_rules' ORDER BY id DESC")
    assert audit[0].login == "secretary" and audit[0].action == "update"

    # the due list follows: an unemployed household visited 5 days ago is due under the 3-day rule
    unemployed = [h for h, _, tags in _households(world, world["grids"][0], {"unemployed"})]
    target = unemployed[-1]
    assert _call(world, "worker", "POST", "/visits", json=_visit(world, target, days_ago=5)).status_code == 201
    due = {h["household_id"]: h for h in _call(world, "worker", "GET", "/visits/due").json()["households"]}
    reasons = {r["tag"]: r for r in due[target]["rules"]}
    assert reasons["unemployed"]["interval_days"] == 3 and reasons["unemployed"]["days_overdue"] == 2
    assert "released" not in reasons
    # back to the defaults
    assert len(_call(world, "leader", "PUT", f"/visit-rules/{a}", json=[]).json()["rules"]) == 12


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"tag": "vip", "role": "grid_worker", "interval_days": 7}, "tag"),
        ({"tag": "infant", "role": "planner", "interval_days": 7}, "role"),
        ({"tag": "infant", "role": "party_member", "interval_days": 0}, "interval_days"),
        ({"tag": "infant", "role": "party_member", "interval_days": 4000}, "interval_days"),
        ({"tag": "infant", "role": "party_member", "kind": "party", "interval_days": 7}, "kind"),
    ],
)
def test_a_bad_rule_is_refused_naming_it(world, rule, named):
    answer = _call(world, "secretary", "PUT", f"/visit-rules/{world['codes']['a']}", json=[rule])
    assert answer.status_code == 422 and named in answer.json()["detail"]


def test_a_rule_given_twice_is_refused(world):
    rule = {"tag": "infant", "role": "party_member", "interval_days": 7}
    answer = _call(world, "secretary", "PUT", f"/visit-rules/{world['codes']['a']}", json=[rule, rule])
    assert answer.status_code == 422 and "twice" in answer.json()["detail"]
    assert not _rows(world, "SELECT 1 FROM visit_rules WHERE community_id IS NOT NULL")


# --- due lists --------------------------------------------------------------------------------------------------


def test_a_grid_workers_due_list_from_known_data(world):
    g1 = world["grids"][0]
    tagged = _households(world, g1, WORKER_RULE_TAGS)
    with world["engine"].connect() as conn:
        visited = set(conn.scalars(text("SELECT DISTINCT household_id FROM visits WHERE role = 'grid_worker'")))
    never = [h for h in tagged if h[0] not in visited]
    assert len(never) >= 3
    weekly = next(h for h in never if "elderly_alone" in h[2])
    body = _call(world, "worker", "GET", "/visits/due").json()
    due = {h["household_id"]: h for h in body["households"]}
    today = datetime.now(CHINA).date()
    assert body["role"] == "grid_worker" and body["reference_date"] == SINCE.isoformat()
    for household, building, tags in never:  # never visited: due since the reference date
        assert due[household]["days_overdue"] == (today - SINCE).days
        assert due[household]["building_id"] == building and set(due[household]["tags"]) == set(tags)
        assert {r["tag"] for r in due[household]["rules"]} == set(tags) & WORKER_RULE_TAGS
        assert due[household]["last_visit"] is None and due[household]["grid_code"] == world["codes"]["g1"]
    assert set(due) <= {h for h, _, _ in tagged}
    assert "name" not in str(body) and "phone" not in str(body)
    overdue = [h["days_overdue"] for h in body["households"]]
    assert overdue == sorted(overdue, reverse=True)

    # a weekly household visited 10 days ago: 3 days overdue; visited today: no longer due for that rule
    assert _call(world, "worker", "POST", "/visits", json=_visit(world, weekly[0], days_ago=10)).status_code == 201
    after = {h["household_id"]: h for h in _call(world, "worker", "GET", "/visits/due").json()["households"]}
    weekly_rule = next(r for r in after[weekly[0]]["rules"] if r["tag"] == "elderly_alone")
    assert weekly_rule["days_overdue"] == 3 and weekly_rule["last_visit"] is not None
    assert _call(world, "worker", "POST", "/visits", json=_visit(world, weekly[0])).status_code == 201
    final = {h["household_id"]: h for h in _call(world, "worker", "GET", "/visits/due").json()["households"]}
    assert weekly[0] not in final or "elderly_alone" not in {r["tag"] for r in final[weekly[0]]["rules"]}
    # a visit by someone of another role does not count for the grid worker's rules
    secretary_visit = _visit(world, never[1][0])
    assert _call(world, "secretary", "POST", "/visits", json=secretary_visit).status_code == 201
    assert never[1][0] in {h["household_id"] for h in _call(world, "worker", "GET", "/visits/due").json()["households"]}


def test_the_walking_order_goes_through_the_due_buildings(world):
    body = _call(world, "worker", "GET", "/visits/due").json()
    walk = body["walk_order"]
    due_buildings = {h["building_id"] for h in body["households"]}
    assert sorted(walk["building_ids"]) == sorted(due_buildings)
    assert walk["along_network"] and len(walk["legs_m"]) == len(walk["building_ids"])
    assert walk["total_m"] == pytest.approx(sum(walk["legs_m"]), abs=0.5) and walk["total_m"] > 0
    assert body["position"]["type"] == "Point"
    lon, lat = body["position"]["coordinates"]
    moved = _call(world, "worker", "GET", "/visits/due", params={"lon": lon + 0.002, "lat": lat}).json()
    assert moved["position"]["coordinates"] == [lon + 0.002, lat]
    assert sorted(moved["walk_order"]["building_ids"]) == sorted(due_buildings)
    assert _call(world, "worker", "GET", "/visits/due", params={"lon": lon}).status_code == 400
    assert _call(world, "worker", "GET", "/visits/due", params={"lon": 10.0, "lat": lat}).status_code == 422


def test_a_party_members_due_list_is_their_center_households(world):
    with world["engine"].begin() as conn:
        user = conn.scalar(text("SELECT id FROM users WHERE login = 'party'"))
        mine = set(conn.scalars(text("SELECT gridmap_user_households(:u)"), {"u": user}))
        assert len(mine) >= 3
        # known data: two of the 中心户's households are 80+, one only rents (no party member's rule)
        first, second, third = sorted(mine)[:3]
        conn.execute(text("UPDATE households SET tags = '{aged_80}' WHERE id IN (:a, :b)"), {"a": first, "b": second})
        conn.execute(text("UPDATE households SET tags = '{rented}' WHERE id = :c"), {"c": third})
        tagged = {
            r.id
            for r in conn.execute(
                text("SELECT id FROM households WHERE id = ANY(:ids) AND tags && :t"),
                {"ids": sorted(mine), "t": sorted(PARTY_RULE_TAGS)},
            )
        }
    assert world["center_household"] in mine and {first, second} <= tagged and third not in tagged
    body = _call(world, "party", "GET", "/visits/due").json()
    assert body["role"] == "party_member"
    assert {h["household_id"] for h in body["households"]} == tagged
    assert set(body["walk_order"]["building_ids"]) == {h["building_id"] for h in body["households"]}
    # a party member's own visit counts for their rule
    assert _call(world, "party", "POST", "/visits", json=_visit(world, first)).status_code == 201
    after = {h["household_id"] for h in _call(world, "party", "GET", "/visits/due").json()["households"]}
    assert after == tagged - {first}
    for entry in body["households"]:
        assert {r["role"] for r in entry["rules"]} == {"party_member"}
    assert _call(world, "party", "GET", "/visits/due", params={"grid_code": world["codes"]["g1"]}).status_code == 404
    assert _call(world, "party", "GET", "/visits/due", params={"role": "grid_worker"}).status_code == 403


def test_managers_name_the_grid_of_a_due_list(world):
    g1, g2 = world["codes"]["g1"], world["codes"]["g2"]
    assert _call(world, "secretary", "GET", "/visits/due").status_code == 400
    mine = _call(world, "secretary", "GET", "/visits/due", params={"grid_code": g1, "role": "grid_worker"})
    assert mine.status_code == 200 and mine.json()["role"] == "grid_worker"
    own_role = _call(world, "secretary", "GET", "/visits/due", params={"grid_code": g1}).json()
    assert own_role["role"] == "community_secretary"
    assert _call(world, "secretary", "GET", "/visits/due", params={"grid_code": g2}).status_code == 404
    assert _call(world, "admin", "GET", "/visits/due", params={"grid_code": g2}).json()["role"] == "grid_worker"
    assert _call(world, "worker", "GET", "/visits/due", params={"grid_code": g2}).status_code == 404
    assert _call(world, "planner", "GET", "/visits/due").status_code == 403


# --- visits: the offline protocol -------------------------------------------------------------------------------


def test_a_retry_gets_the_original_and_other_content_is_a_conflict(world):
    household = _households(world, world["grids"][0], WORKER_RULE_TAGS)[0][0]
    body = _visit(world, household)
    first = _call(world, "worker", "POST", "/visits", json=body)
    assert first.status_code == 201, first.text
    again = _call(world, "worker", "POST", "/visits", json=body)
    assert again.status_code == 200 and again.json() == first.json()
    reordered = dict(reversed(list(body.items())))  # the same content in another order: the same visit
    assert _call(world, "worker", "POST", "/visits", json=reordered).status_code == 200
    changed = _call(world, "worker", "POST", "/visits", json=body | {"notes": "另一次"})
    assert changed.status_code == 409 and changed.json()["code"] == "client_id_conflict"
    assert _count(world, client_id=uuid.UUID(body["client_id"])) == 1
    stored = first.json()
    assert stored["household_id"] == household and stored["role"] == "grid_worker" and stored["kind"] == "routine"
    assert stored["grid_code"] == world["codes"]["g1"] and stored["far"] is False
    row = _rows(world, "SELECT user_id, role, grid_id FROM visits WHERE id = :id", id=stored["id"])[0]
    assert row.role == "grid_worker" and row.grid_id == world["grids"][0]
    assert row.user_id == _rows(world, "SELECT id FROM users WHERE login = 'worker'")[0][0]
    audit = _rows(world, "SELECT login, object_ids FROM audit_log WHERE object_table = 'visits' ORDER BY id DESC")
    assert audit[0].login == "worker" and audit[0].object_ids == [stored["id"]]


def test_a_batch_with_mixed_outcomes_loses_nothing_and_stores_nothing_twice(world):
    households = _households(world, world["grids"][0], WORKER_RULE_TAGS)
    other = _households(world, world["grids"][1], WORKER_RULE_TAGS)[0][0]
    stored_before = _visit(world, households[1][0])
    assert _call(world, "worker", "POST", "/visits", json=stored_before).status_code == 201
    new_a, new_b = _visit(world, households[2][0]), _visit(world, households[3][0], kind="care")
    future = _visit(world, households[4][0])
    future["visited_at"] = (datetime.now(CHINA) + timedelta(hours=2)).isoformat()
    items = [
        new_a,
        stored_before,  # a retry: 200
        stored_before | {"notes": "changed"},  # 409
        _visit(world, other),  # another grid's household: 404
        future,  # 422
        {"client_id": "not-a-uuid", "household_id": 1},  # 422
        new_a,  # the same visit again within the batch: 200
        new_b,
        42,  # not an object: 422
    ]
    answer = _call(world, "worker", "POST", "/visits/batch", json={"items": items})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [r["status"] for r in body["results"]] == [201, 200, 409, 404, 422, 422, 200, 201, 422]
    assert [r["index"] for r in body["results"]] == list(range(len(items)))
    assert body["stored"] == 2 and body["replayed"] == 2 and body["refused"] == 5
    assert body["results"][2]["code"] == "client_id_conflict" and "client_id" in body["results"][5]["detail"]
    assert "future" in body["results"][4]["detail"]
    assert body["results"][6]["visit"] == body["results"][0]["visit"]
    for visit in (new_a, new_b, stored_before):
        assert _count(world, client_id=uuid.UUID(visit["client_id"])) == 1
    for refused in (items[3], future):
        assert _count(world, client_id=uuid.UUID(refused["client_id"])) == 0
    # a bare array works the same, and a replay of the whole batch stores nothing new
    replay = _call(world, "worker", "POST", "/visits/batch", json=[new_a, new_b]).json()
    assert [r["status"] for r in replay["results"]] == [200, 200]
    too_many = _call(world, "worker", "POST", "/visits/batch", json=[new_a] * 101)
    assert too_many.status_code == 400 and "100" in too_many.json()["detail"]


def test_a_point_far_from_the_building_is_flagged_not_refused(world):
    household = _households(world, world["grids"][0], WORKER_RULE_TAGS)[5][0]
    lon, lat = _door(world, household)
    far = _visit(world, household, location={"type": "Point", "coordinates": [lon + 0.01, lat]})  # ~850 m east
    answer = _call(world, "worker", "POST", "/visits", json=far)
    assert answer.status_code == 201 and answer.json()["far"] is True
    assert 700 < answer.json()["distance_m"] < 1000
    near = _call(world, "worker", "POST", "/visits", json=_visit(world, household)).json()
    assert near["far"] is False and near["distance_m"] == 0.0
    without = _visit(world, household)
    del without["location"]
    answer = _call(world, "worker", "POST", "/visits", json=without).json()
    assert answer["location"] is None and answer["far"] is False and answer["distance_m"] is None


@pytest.mark.parametrize(
    ("change", "status", "named"),
    [
        ({"visited_at": "FUTURE"}, 422, "visited_at"),
        ({"visited_at": "2026-03-01T09:30:00"}, 422, "visited_at"),  # no offset
        ({"visited_at": "0001-01-01T00:00:00+14:00"}, 422, "visited_at"),  # BC in UTC (the fuzzer's 500)
        ({"location": {"type": "Point", "coordinates": [2.35, 48.85]}}, 422, "location"),  # Paris
        ({"location": {"type": "Point", "coordinates": [116.4]}}, 422, "location"),
        ({"household_id": 900_000_000}, 404, "household"),
        ({"kind": "party"}, 422, "kind"),
        ({"notes": "x" * 2001}, 422, "notes"),
        ({"notes": "a\x00b"}, 422, "notes"),
        ({"client_id": "12345"}, 422, "client_id"),
        ({"photo_sha256": "0" * 64}, 422, "photo"),
        ({"photo_sha256": "not a hash"}, 422, "photo_sha256"),
        ({"extra": 1}, 422, "extra"),
    ],
)
def test_bad_visits_are_refused_clearly_and_store_nothing(world, change, status, named):
    household = _households(world, world["grids"][0], WORKER_RULE_TAGS)[6][0]
    body = _visit(world, household) | change
    if body["visited_at"] == "FUTURE":
        body["visited_at"] = (datetime.now(CHINA) + timedelta(minutes=30)).isoformat()
    before = _count(world)
    answer = _call(world, "worker", "POST", "/visits", json=body)
    assert answer.status_code == status, answer.text
    assert named in answer.json()["detail"]
    assert _count(world) == before


def test_a_household_outside_reads_as_one_not_stored(world):
    theirs = _households(world, world["grids"][1], WORKER_RULE_TAGS)[0][0]
    refused = _call(world, "worker", "POST", "/visits", json=_visit(world, theirs))
    missing = _call(world, "worker", "POST", "/visits", json=_visit(world, theirs) | {"household_id": 900_000_001})
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["detail"].replace(str(theirs), "N") == missing.json()["detail"].replace("900000001", "N")
    assert _call(world, "planner", "POST", "/visits", json=_visit(world, theirs)).status_code == 403
    assert world["client"].post("/visits", json=_visit(world, theirs)).status_code == 401


def test_a_small_clock_error_is_allowed(world):
    household = _households(world, world["grids"][0], WORKER_RULE_TAGS)[7][0]
    body = _visit(world, household)
    body["visited_at"] = (datetime.now(CHINA) + timedelta(minutes=3)).isoformat()
    assert _call(world, "worker", "POST", "/visits", json=body).status_code == 201


def test_hostile_notes_are_stored_and_returned_byte_for_byte(world):
    household = _households(world, world["grids"][0], WORKER_RULE_TAGS)[8][0]
    body = _visit(world, household, notes=HOSTILE)
    answer = _call(world, "worker", "POST", "/visits", json=body)
    assert answer.status_code == 201 and answer.json()["notes"] == HOSTILE
    stored = _rows(world, "SELECT notes FROM visits WHERE client_id = :c", c=uuid.UUID(body["client_id"]))[0][0]
    assert stored == HOSTILE
    listed = _call(world, "worker", "GET", "/visits", params={"household_id": household}).json()["visits"]
    assert HOSTILE in [v["notes"] for v in listed]
    assert _rows(world, "SELECT count(*) FROM pg_tables WHERE tablename = 'visits'")[0][0] == 1


def test_each_worker_sees_only_their_grids_visits(world):
    g1, g2 = world["grids"]
    theirs = _households(world, g2, WORKER_RULE_TAGS)[1][0]
    other_visit = _call(world, "other_worker", "POST", "/visits", json=_visit(world, theirs))
    assert other_visit.status_code == 201
    mine = _households(world, g1, WORKER_RULE_TAGS)[9][0]
    assert _call(world, "worker", "POST", "/visits", json=_visit(world, mine)).status_code == 201

    def seen(who, **params) -> set[int]:
        ids, page = set(), _call(world, who, "GET", "/visits", params={"limit": 7, **params})
        while True:
            assert page.status_code == 200, page.text
            ids |= {v["id"] for v in page.json()["visits"]}
            following = [link["href"] for link in page.json()["links"]]
            if not following:
                return ids
            page = world["client"].get(following[0], headers=world["headers"][who])

    with world["engine"].connect() as conn:
        in_g1 = set(conn.scalars(text("SELECT id FROM visits WHERE grid_id = :g"), {"g": g1}))
        in_g2 = set(conn.scalars(text("SELECT id FROM visits WHERE grid_id = :g"), {"g": g2}))
    assert seen("worker") == in_g1 and seen("other_worker") == in_g2
    assert seen("worker", grid_code=world["codes"]["g1"]) == in_g1
    assert _call(world, "worker", "GET", "/visits", params={"grid_code": world["codes"]["g2"]}).status_code == 404
    assert _call(world, "worker", "GET", "/visits", params={"household_id": theirs}).status_code == 404
    assert seen("secretary") >= in_g1 and not seen("secretary") & in_g2
    assert seen("admin") >= in_g1 | in_g2
    today = datetime.now(CHINA).date()
    in_period = seen("worker", **{"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()})
    assert in_period and in_period <= in_g1
    ancient = seen("worker", **{"from": "2001-01-01", "to": "2001-01-31"})
    assert ancient == set()
    assert _call(world, "planner", "GET", "/visits").status_code == 403


# --- photos -----------------------------------------------------------------------------------------------------


def _photo(extra: bytes = b"") -> tuple[bytes, str]:
    content = PNG + extra
    return content, hashlib.sha256(content).hexdigest()


def test_a_photo_is_uploaded_once_and_shown_with_its_visit(world):
    content, sha = _photo(b"visit photo")
    put = _call(world, "worker", "PUT", f"/photos/{sha}", content=content, headers={"Content-Type": "image/png"})
    assert put.status_code == 201, put.text
    assert put.json() == {"sha256": sha, "media_type": "image/png", "bytes": len(content)}
    again = _call(world, "worker", "PUT", f"/photos/{sha}", content=content, headers={"Content-Type": "image/png"})
    assert again.status_code == 200
    got = _call(world, "worker", "GET", f"/photos/{sha}")
    assert got.status_code == 200 and got.content == content and got.headers["content-type"] == "image/png"
    assert _call(world, "other_worker", "GET", f"/photos/{sha}").status_code == 404
    household = _households(world, world["grids"][0], WORKER_RULE_TAGS)[10][0]
    visit = _call(world, "worker", "POST", "/visits", json=_visit(world, household, photo_sha256=sha))
    assert visit.status_code == 201 and visit.json()["photo_sha256"] == sha
    assert _call(world, "secretary", "GET", f"/photos/{sha}").status_code == 200  # sees the visit
    assert _call(world, "other_worker", "GET", f"/photos/{sha}").status_code == 404
    assert _rows(world, "SELECT count(*) FROM photos WHERE sha256 = :s", s=sha)[0][0] == 1


@pytest.mark.parametrize(
    ("content_type", "body", "status", "named"),
    [
        ("image/jpeg", "PNG", 422, "image/jpeg"),  # the bytes are a PNG
        ("text/plain", "PNG", 422, "Content-Type"),
        ("image/png", b"GIF89a not a png at all", 422, "image/png"),
        ("image/png", "WRONG_HASH", 422, "sha256"),
        ("image/png", b"", 422, "empty"),
        ("image/png", "TOO_LARGE", 413, "limit"),
    ],
)
def test_a_bad_photo_is_refused_and_not_stored(world, content_type, body, status, named):
    content, sha = _photo(b"refused " + content_type.encode() + str(body)[:10].encode())
    if body == "WRONG_HASH":
        sha = hashlib.sha256(b"something else").hexdigest()
    elif body == "TOO_LARGE":
        content, sha = _photo(bytes(PHOTO_CAP))
    elif body != "PNG":
        content = body
        sha = hashlib.sha256(content).hexdigest()
    before = _rows(world, "SELECT count(*) FROM photos")[0][0]
    answer = _call(world, "worker", "PUT", f"/photos/{sha}", content=content, headers={"Content-Type": content_type})
    assert answer.status_code == status, answer.text
    assert named in answer.json()["detail"]
    assert _rows(world, "SELECT count(*) FROM photos")[0][0] == before


def test_an_oversized_stream_without_length_is_cut_at_the_cap(world):
    content, sha = _photo(bytes(3 * PHOTO_CAP))
    sent = []

    def chunks():
        for start in range(0, len(content), 1024):
            sent.append(start)
            yield content[start : start + 1024]

    answer = _call(world, "worker", "PUT", f"/photos/{sha}", content=chunks(), headers={"Content-Type": "image/png"})
    assert answer.status_code == 413 and answer.json()["code"] == "payload_too_large"
    assert not _rows(world, "SELECT 1 FROM photos WHERE sha256 = :s", s=sha)


def test_photos_need_a_field_role(world):
    content, sha = _photo(b"planner")
    png = {"Content-Type": "image/png"}
    assert _call(world, "planner", "PUT", f"/photos/{sha}", content=content, headers=png).status_code == 403
    assert _call(world, "planner", "GET", f"/photos/{sha}").status_code == 403
