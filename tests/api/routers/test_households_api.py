"""/households and /residents: each user pages through exactly the households of their places, reads residents
masked unless permitted and giving a reason (audited), and writes only inside their places (audited)."""

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.accounts.roles import parse_scope
from api.accounts.users import allow_unmasked, put_user
from api.main import create_app
from api.settings import Settings
from tests.conftest import sample_loaded
from tests.signing import PASSWORD

KEY = "a signing key for the household tests, 0123456789abcdef"
HOSTILE = "<script>window.__pwned=1</script>{{7*7}}'; DROP TABLE residents; --"


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine):
        with engine.begin() as conn:
            street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
            (a, a_code), (b, _) = conn.execute(
                text(
                    "SELECT c.id, st.code || c.code FROM communities c JOIN streets st ON st.id = c.street_id "
                    "ORDER BY c.id LIMIT 2"
                )
            ).all()
            g1, g1_code = conn.execute(
                text("SELECT id, code FROM grids WHERE community_id = :c ORDER BY id LIMIT 1"), {"c": a}
            ).one()
            g2, g2_code = conn.execute(
                text("SELECT id, code FROM grids WHERE community_id = :c ORDER BY id LIMIT 1"), {"c": b}
            ).one()
            conn.execute(text("DELETE FROM residents"))  # the sample's: these tests know their own residents
            conn.execute(
                text(
                    "INSERT INTO residents (household_id, name, gender, birth_year, phone, id_masked, source, "
                    "source_id) SELECT h.id, '王小' || h.id, '女', 1950, '1380013' || lpad((h.id % 10000)::text, 4, "
                    "'0'), '110105********1234', 'test', h.id::text FROM households h WHERE h.grid_id IN (:a, :b)"
                ),
                {"a": g1, "b": g2},
            )
        accounts = {
            "worker": ("grid_worker", [f"grid:{g1_code}"]),
            "other_worker": ("grid_worker", [f"grid:{g2_code}"]),
            "secretary": ("community_secretary", [f"community:{a_code}"]),
            "planner": ("planner", [f"street:{street}"]),
        }
        settings = Settings(database_url=database_url, tiles="none", secret_key=KEY)
        with TestClient(create_app(settings)) as client:
            headers = {}
            for login, (role, scopes) in accounts.items():
                put_user(engine, login, role=role, scopes=[parse_scope(s) for s in scopes], password=PASSWORD)
            allow_unmasked(engine, "secretary")
            for login in accounts:
                token = client.post("/auth/token", data={"username": login, "password": PASSWORD}).json()
                headers[login] = {"Authorization": f"Bearer {token['access_token']}"}
            with engine.connect() as conn:
                expected = {
                    "worker": set(conn.scalars(text("SELECT id FROM households WHERE grid_id = :g"), {"g": g1})),
                    "other_worker": set(conn.scalars(text("SELECT id FROM households WHERE grid_id = :g"), {"g": g2})),
                    "secretary": set(
                        conn.scalars(
                            text(
                                "SELECT h.id FROM households h JOIN grids g ON g.id = h.grid_id WHERE community_id = :c"
                            ),
                            {"c": a},
                        )
                    ),
                }
            yield {
                "client": client,
                "headers": headers,
                "expected": expected,
                "codes": {"a": a_code, "g1": g1_code, "g2": g2_code},
                "grids": (g1, g2),
                "engine": engine,
            }


def _get(world, who, path, **params):
    return world["client"].get(path, params=params, headers=world["headers"][who])


def _all_pages(world, who, **params) -> list[int]:
    ids, page = [], _get(world, who, "/households", limit=37, **params)
    while True:
        assert page.status_code == 200, page.text
        body = page.json()
        ids += [f["properties"]["id"] for f in body["features"]]
        following = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not following:
            return ids
        page = world["client"].get(following[0], headers=world["headers"][who])


@pytest.mark.parametrize("who", ["worker", "other_worker", "secretary"])
def test_each_user_pages_through_exactly_their_households(world, who):
    ids = _all_pages(world, who)
    assert len(ids) == len(set(ids)) and set(ids) == world["expected"][who]
    assert ids == sorted(ids)


def test_a_community_page_and_a_grid_page(world):
    assert set(_all_pages(world, "secretary", community_code=world["codes"]["a"])) == world["expected"]["secretary"]
    assert set(_all_pages(world, "secretary", grid_code=world["codes"]["g1"])) == world["expected"]["worker"]


def test_a_place_outside_reads_as_one_not_stored(world):
    refused = _get(world, "worker", "/households", grid_code=world["codes"]["g2"])
    missing = _get(world, "worker", "/households", grid_code="999999999999999")
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["detail"].replace(world["codes"]["g2"], "N") == missing.json()["detail"].replace(
        "999999999999999", "N"
    )
    theirs = min(world["expected"]["other_worker"])
    assert _get(world, "worker", f"/households/{theirs}").json() == _get(
        world, "worker", "/households/9000000"
    ).json() | {"detail": f"no household {theirs}"}
    assert _get(world, "worker", f"/households/{theirs}").status_code == 404


def test_refusals(world):
    assert _get(world, "planner", "/households").status_code == 403
    assert world["client"].get("/households").status_code == 401
    assert _get(world, "worker", "/households", limit=501).status_code == 422
    assert _get(world, "worker", "/households", cursor="not-a-cursor").status_code == 400
    assert _get(world, "worker", "/households", grid_code="12").status_code == 422


def test_residents_are_masked_by_default(world):
    household = min(world["expected"]["worker"])
    body = _get(world, "worker", "/residents", household_id=household).json()
    assert body["residents"]
    for resident in body["residents"]:
        assert re.fullmatch(r"王\*+\d", resident["name"]) or re.fullmatch(r"王\*+", resident["name"])
        assert re.fullmatch(r"138\*{4}\d{4}", resident["phone"]) and resident["masked"]
        assert resident["id_number"] == "110105********1234"
    theirs = min(world["expected"]["other_worker"])
    assert _get(world, "worker", "/residents", household_id=theirs).status_code == 404


def test_an_unmasked_read_needs_the_permission_and_a_reason_and_is_audited(world):
    household = min(world["expected"]["worker"])
    assert _get(world, "worker", "/residents", household_id=household, unmasked=True, reason="visit").status_code == 403
    assert _get(world, "secretary", "/residents", household_id=household, unmasked=True).status_code == 400
    reason = "入户走访前核对联系电话"
    body = _get(world, "secretary", "/residents", household_id=household, unmasked=True, reason=reason).json()
    names = [r["name"] for r in body["residents"]]
    assert all(n.startswith("王小") and "*" not in n for n in names) and not any(r["masked"] for r in body["residents"])
    with world["engine"].connect() as conn:
        entry = conn.execute(text("SELECT * FROM audit_log ORDER BY id DESC LIMIT 1")).mappings().one()
    assert entry["action"] == "read_unmasked" and entry["reason"] == reason and entry["login"] == "secretary"
    assert sorted(entry["object_ids"]) == sorted(r["id"] for r in body["residents"])
    assert not any(n in str(dict(entry)) for n in names)  # the log names ids, not people


def test_writes_stay_inside_the_users_places_and_are_audited(world):
    client, headers, engine = world["client"], world["headers"], world["engine"]
    g1, g2 = world["grids"]
    with engine.connect() as conn:
        mine = conn.scalar(text("SELECT id FROM buildings WHERE grid_id = :g ORDER BY id LIMIT 1"), {"g": g1})
        theirs = conn.scalar(text("SELECT id FROM buildings WHERE grid_id = :g ORDER BY id LIMIT 1"), {"g": g2})
    made = client.post("/households", json={"building_id": mine, "room": "101", "size": 2}, headers=headers["worker"])
    assert made.status_code == 201, made.text
    household = made.json()["properties"]["id"]
    assert made.json()["properties"]["grid_code"] == world["codes"]["g1"]
    refused = client.post("/households", json={"building_id": theirs, "room": "101"}, headers=headers["worker"])
    assert refused.status_code == 404
    resident = client.post(
        "/residents",
        json={"household_id": household, "name": HOSTILE[:64], "phone": "138 0013 8000", "tags": ["disabled"]},
        headers=headers["worker"],
    )
    assert resident.status_code == 201, resident.text
    assert resident.json()["phone"] == "138****8000" and resident.json()["masked"]
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT name, phone FROM residents WHERE id = :id"), {"id": resident.json()["id"]})
        assert tuple(stored.one()) == (HOSTILE[:64], "13800138000")  # the text as given, the phone in one form
        actions = conn.execute(text("SELECT action, object_table FROM audit_log ORDER BY id DESC LIMIT 2")).all()
    assert [tuple(a) for a in actions] == [("create", "residents"), ("create", "households")]
    bad = client.post(
        "/residents", json={"household_id": household, "name": "张三", "phone": "12345"}, headers=headers["worker"]
    )
    assert bad.status_code == 422 and "phone" in bad.text
    other = client.patch(f"/residents/{resident.json()['id']}", json={"name": "李四"}, headers=headers["other_worker"])
    assert other.status_code == 404
    moved = client.patch(f"/households/{household}", json={"size": 3}, headers=headers["other_worker"])
    assert moved.status_code == 404
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT size FROM households WHERE id = :id"), {"id": household}) == 2
        assert (
            conn.scalar(text("SELECT name FROM residents WHERE id = :id"), {"id": resident.json()["id"]})
            == HOSTILE[:64]
        )
    changed = client.patch(
        f"/households/{household}", json={"size": 3, "tags": ["elderly_alone"]}, headers=headers["worker"]
    )
    assert changed.status_code == 200 and changed.json()["properties"]["size"] == 3
    assert (
        client.post("/households", json={"building_id": mine, "room": "1"}, headers=headers["planner"]).status_code
        == 403
    )


def test_two_workers_taking_turns_on_one_pooled_connection(world, database_url):
    """One connection in the pool serves both users in turn: each page still holds only the asker's households."""
    settings = Settings(database_url=database_url, tiles="none", secret_key=KEY, db_pool_size=1, db_max_overflow=0)
    g1, g2 = world["grids"]
    with world["engine"].connect() as conn:  # as now: other tests of this module add households
        expected = {
            who: set(conn.scalars(text("SELECT id FROM households WHERE grid_id = :g"), {"g": grid}))
            for who, grid in (("worker", g1), ("other_worker", g2))
        }
    with TestClient(create_app(settings)) as client:
        for turn in range(8):
            who = ("worker", "other_worker")[turn % 2]
            page = client.get("/households", params={"limit": 500}, headers=world["headers"][who])
            assert page.status_code == 200
            assert {f["properties"]["id"] for f in page.json()["features"]} == expected[who]


def test_an_id_number_is_stored_as_hash_and_mask_only_and_once(world):
    client, headers, engine = world["client"], world["headers"], world["engine"]
    household = min(world["expected"]["worker"])
    body = {"household_id": household, "name": "赵六", "id_number": "11010519491231002x"}
    made = client.post("/residents", json=body, headers=headers["worker"])
    assert made.status_code == 201, made.text
    assert made.json()["id_number"] == "110105********002X"
    assert (made.json()["gender"], made.json()["birth_year"]) == ("女", 1949)  # what the number says
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT id_hash, id_masked, id_number FROM residents WHERE id = :id"), {"id": made.json()["id"]}
        ).one()
    assert len(row.id_hash) == 64 and "11010519491231002" not in row.id_hash and row.id_number is None
    theirs = min(world["expected"]["other_worker"])
    twice = client.post("/residents", json=body | {"household_id": theirs}, headers=headers["other_worker"])
    assert twice.status_code == 409 and twice.json()["code"] == "id_number_taken"
    assert "赵" not in twice.text and str(made.json()["id"]) not in twice.text
    wrong = client.post("/residents", json=body | {"id_number": "110105194912310021"}, headers=headers["worker"])
    assert wrong.status_code == 422 and "check" in wrong.text
    disagree = client.post(
        "/residents", json={**body, "id_number": "110105195001010039", "gender": "女"}, headers=headers["worker"]
    )
    assert disagree.status_code == 422 and "gender" in disagree.text
