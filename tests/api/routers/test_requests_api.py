"""/requests: 居民点单 → 支部下单 → 党员接单 → 办结 → 群众评单 through the API, each step by whom it is for and no one
else, against the version last seen (one of two at once wins), possible duplicates within 50 m and 7 days, bad input
refused naming the problem with nothing stored, hostile text kept as sent, each user seeing their places only, and
the requester's name and phone masked in every answer."""

import math
import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.accounts.roles import parse_scope
from api.accounts.users import put_user
from api.main import create_app
from api.settings import Settings
from api.storage import connect, user_scope
from api.storage.database import app_database_url, make_engine
from tests.conftest import ServerThread, sample_loaded
from tests.signing import PASSWORD

KEY = "a signing key for the request tests, 0123456789abcdef"
HOSTILE = "<script>window.__pwned=1</script>{{7*7}}'; DROP TABLE requests; --\n第二行"
NAME, PHONE = "王秀英", "13812345678"

# An inner point of a grid, `margin` m from its edge (120: points 30 and 80 m away are in the grid too).
INNER_POINT_SQL = """
SELECT g.id, g.code, g.community_id, ST_X(p) AS lon, ST_Y(p) AS lat
FROM grids g, LATERAL (SELECT ST_PointOnSurface(ST_Buffer(g.geom::geography, -:margin)::geometry) AS p) inner_point
WHERE g.community_id = :c AND NOT ST_IsEmpty(p) ORDER BY g.id LIMIT 1
"""


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine):
        with engine.begin() as conn:
            street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
            communities = conn.execute(
                text(
                    "SELECT c.id, st.code || c.code FROM communities c JOIN streets st ON st.id = c.street_id "
                    "WHERE EXISTS (SELECT 1 FROM households h JOIN grids g ON g.id = h.grid_id "
                    "WHERE g.community_id = c.id) ORDER BY c.id LIMIT 2"
                )
            ).all()
            (a, a_code), (b, b_code) = communities
            g1 = conn.execute(text(INNER_POINT_SQL), {"c": a, "margin": 120}).mappings().one()
            g3 = conn.execute(text(INNER_POINT_SQL), {"c": b, "margin": 5}).mappings().one()
            household, resident = conn.execute(
                text(
                    "SELECT h.id, (SELECT min(r.id) FROM residents r WHERE r.household_id = h.id) FROM households h "
                    "WHERE h.grid_id = :g AND EXISTS (SELECT 1 FROM residents r WHERE r.household_id = h.id) "
                    "ORDER BY h.id LIMIT 1"
                ),
                {"g": g1["id"]},
            ).one()
            other_household = conn.scalar(
                text("SELECT id FROM households WHERE grid_id = :g ORDER BY id LIMIT 1"), {"g": g3["id"]}
            )
            other_resident = conn.scalar(
                text("SELECT min(id) FROM residents WHERE household_id <> :h"), {"h": household}
            )
        accounts = {
            "admin": ("admin", []),
            "secretary": ("community_secretary", [f"community:{a_code}"]),
            "secretary2": ("community_secretary", [f"community:{a_code}"]),
            "secretary_b": ("community_secretary", [f"community:{b_code}"]),
            "worker": ("grid_worker", [f"grid:{g1['code']}"]),
            "worker_b": ("grid_worker", [f"grid:{g3['code']}"]),
            "member": ("party_member", [f"grid:{g1['code']}"]),
            "member2": ("party_member", [f"grid:{g1['code']}"]),
            "member_b": ("party_member", [f"grid:{g3['code']}"]),
            "planner": ("planner", [f"street:{street}"]),
        }
        for login, (role, scopes) in accounts.items():
            put_user(engine, f"req-{login}", role=role, scopes=[parse_scope(s) for s in scopes], password=PASSWORD)
        with engine.connect() as conn:
            ids = {row.login.removeprefix("req-"): row.id for row in conn.execute(text("SELECT id, login FROM users"))}
        settings = Settings(database_url=database_url, tiles="none", secret_key=KEY)
        with TestClient(create_app(settings)) as client:
            headers = {}
            for login in accounts:
                token = client.post("/auth/token", data={"username": f"req-{login}", "password": PASSWORD}).json()
                headers[login] = {"Authorization": f"Bearer {token['access_token']}"}
            yield {
                "client": client,
                "settings": settings,
                "headers": headers,
                "ids": ids,
                "engine": engine,
                "g1": dict(g1),
                "g3": dict(g3),
                "codes": {"a": a_code, "b": b_code},
                "household": household,
                "resident": resident,
                "other_household": other_household,
                "other_resident": other_resident,
            }


def _body(world, **changes) -> dict:
    g1 = world["g1"]
    body = {
        "service_code": "facility",
        "location": {"type": "Point", "coordinates": [g1["lon"], g1["lat"]]},
        "description": "楼道灯坏了",
    }
    return body | changes


def _moved(world, east_m: float, grid: str = "g1") -> dict:
    g = world[grid]
    lon = g["lon"] + east_m / (111_320 * math.cos(math.radians(g["lat"])))
    return {"type": "Point", "coordinates": [lon, g["lat"]]}


def _post(world, who="worker", **changes):
    return world["client"].post("/requests", json=_body(world, **changes), headers=world["headers"][who])


def _get(world, who, path, **params):
    return world["client"].get(path, params=params, headers=world["headers"][who])


def _act(world, who, request_id, action, version, **fields):
    body = {"action": action, "version": version} | fields
    return world["client"].post(f"/requests/{request_id}/transitions", json=body, headers=world["headers"][who])


def _count(world, table="requests") -> int:
    with world["engine"].connect() as conn:
        return conn.scalar(text(f"SELECT count(*) FROM {table}"))


def test_the_whole_path(world):
    """点单 (worker) → 下单 (secretary, to a party member) → 接单 → 办结 (the member) → 评单 (worker, for the
    resident)."""
    created = _post(world, household_id=world["household"], requester_name=NAME, requester_phone=PHONE)
    assert created.status_code == 201, created.text
    request = created.json()
    rid, props = request["id"], request["properties"]
    assert props["state"] == "submitted" and props["version"] == 1 and props["status"] == "open"
    assert props["requester_name"] == "王*英" and props["requester_phone"] == "138****5678"
    assert props["requested_at"].endswith("+08:00") and props["deadline"] > props["requested_at"]
    member = world["ids"]["member"]
    assert _get(world, "member", f"/requests/{rid}").status_code == 404  # not theirs yet
    steps = [
        ("secretary", "dispatch", {"assigned_user_id": member, "note": "请王党员跟进"}, "dispatched"),
        ("member", "accept", {}, "accepted"),
        ("member", "complete", {"note": "已更换灯泡"}, "completed"),
        ("worker", "rate", {"rating": 5, "comment": "很满意"}, "closed"),
    ]
    for version, (who, action, fields, state) in enumerate(steps, start=1):
        if action == "accept":
            mine = _get(world, "member", "/requests", assigned_to_me="true").json()["features"]
            assert [f["id"] for f in mine] == [rid]  # 党员接单: the member sees what was dispatched to them
        answer = _act(world, who, rid, action, version, **fields)
        assert answer.status_code == 200, answer.text
        assert answer.json()["properties"]["state"] == state
        assert answer.json()["properties"]["version"] == version + 1
    final = _get(world, "secretary", f"/requests/{rid}").json()["properties"]
    assert final["rating"] == 5 and final["rating_comment"] == "很满意" and final["status_notes"] == "已更换灯泡"
    assert final["closed_at"] and final["completed_at"] and final["status"] == "closed" and not final["overdue"]
    history = final["history"]
    assert [(h["version"], h["action"], h["to_state"]) for h in history] == [
        (1, "submit", "submitted"),
        (2, "dispatch", "dispatched"),
        (3, "accept", "accepted"),
        (4, "complete", "completed"),
        (5, "rate", "closed"),
    ]
    assert history[1]["user_id"] == world["ids"]["secretary"] and history[1]["note"] == "请王党员跟进"
    with world["engine"].connect() as conn:
        audited = conn.execute(
            text("SELECT action, detail FROM audit_log WHERE object_table = 'requests' AND :id = ANY(object_ids)"),
            {"id": rid},
        ).all()
        stored = conn.execute(text("SELECT requester_name, requester_phone FROM requests WHERE id = :id"), {"id": rid})
    assert [a.action for a in audited] == ["create", "update", "update", "update", "update"]
    assert NAME not in str(audited) and PHONE not in str(audited)
    assert stored.one() == (NAME, PHONE)  # kept whole, served masked


def test_a_unit_and_the_branch_acting_for_it(world):
    rid = _post(world).json()["id"]
    assert _act(world, "secretary", rid, "dispatch", 1, assigned_unit="幸福物业公司").status_code == 200
    assert _act(world, "member", rid, "accept", 2).status_code in (403, 404)
    assert _act(world, "secretary", rid, "accept", 2).status_code == 200
    done = _act(world, "secretary", rid, "complete", 3, note="物业已处理").json()["properties"]
    assert done["assigned_unit"] == "幸福物业公司" and done["state"] == "completed"
    closed = _act(world, "secretary", rid, "close", 4).json()["properties"]
    assert closed["state"] == "closed" and closed["rating"] is None


def test_forbidden_transitions_by_role(world):
    rid = _post(world).json()["id"]
    member = world["ids"]["member"]
    # a party member does not even see a request before it is dispatched to them
    assert _act(world, "member", rid, "dispatch", 1, assigned_user_id=member).status_code == 404
    refused = [
        ("worker", "dispatch", {"assigned_user_id": member}),
        ("worker", "reject", {"reason": "不管"}),
        ("worker", "duplicate", {"duplicate_of": rid}),
    ]
    for who, action, fields in refused:
        answer = _act(world, who, rid, action, 1, **fields)
        assert answer.status_code == 403, (who, action, answer.text)
        assert answer.json()["code"] == "forbidden"
    assert _act(world, "planner", rid, "dispatch", 1, assigned_user_id=member).status_code == 403
    assert _act(world, "secretary_b", rid, "dispatch", 1, assigned_user_id=member).status_code == 404  # not theirs
    assert _act(world, "secretary", rid, "dispatch", 1, assigned_user_id=member).status_code == 200
    for who, action, fields in [("member2", "accept", {}), ("worker", "accept", {}), ("member2", "decline", {})]:
        assert _act(world, who, rid, action, 2, **fields).status_code in (403, 404), (who, action)
    for who in ("worker", "member2"):
        assert _act(world, who, rid, "complete", 2, note="x").status_code in (403, 404)
    assert _act(world, "member", rid, "reject", 2, reason="不想做").status_code == 403  # sees it now: 403
    assert _act(world, "member", rid, "rate", 2, rating=5).status_code == 403  # 评单 is the resident's
    versions = _get(world, "secretary", f"/requests/{rid}").json()["properties"]
    assert versions["version"] == 2 and len(versions["history"]) == 2


def test_wrong_state_and_stale_version_change_nothing(world):
    rid = _post(world).json()["id"]
    wrong = _act(world, "secretary", rid, "close", 1)
    assert wrong.status_code == 409 and wrong.json()["code"] == "invalid_transition"
    assert "submitted" in wrong.json()["detail"] and "close" in wrong.json()["detail"]
    member = world["ids"]["member"]
    assert _act(world, "secretary", rid, "dispatch", 1, assigned_user_id=member).status_code == 200
    stale = _act(world, "secretary", rid, "reject", 1, reason="晚了")
    assert stale.status_code == 409 and stale.json()["code"] == "stale_version"
    assert "version 2" in stale.json()["detail"] and stale.json()["current_version"] == 2
    now = _get(world, "secretary", f"/requests/{rid}").json()["properties"]
    assert now["state"] == "dispatched" and now["version"] == 2 and len(now["history"]) == 2


def test_a_member_of_another_community_cannot_be_given_it(world):
    rid = _post(world).json()["id"]
    for target in (world["ids"]["member_b"], world["ids"]["worker"], 9_000_000):
        answer = _act(world, "secretary", rid, "dispatch", 1, assigned_user_id=target)
        assert answer.status_code == 400 and "assigned_user_id" in answer.json()["detail"]
    assert _get(world, "secretary", f"/requests/{rid}").json()["properties"]["version"] == 1


def test_two_secretaries_dispatch_at_once_one_wins(world):
    rid = _post(world).json()["id"]
    with ServerThread(world["settings"]) as server:
        barrier, results = threading.Barrier(2), {}

        def dispatch(who: str, member: str) -> None:
            body = {"action": "dispatch", "version": 1, "assigned_user_id": world["ids"][member]}
            with httpx.Client(base_url=server.url, headers=world["headers"][who]) as http:
                barrier.wait()
                results[who] = http.post(f"/requests/{rid}/transitions", json=body)

        threads = [
            threading.Thread(target=dispatch, args=("secretary", "member")),
            threading.Thread(target=dispatch, args=("secretary2", "member2")),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    codes = sorted(r.status_code for r in results.values())
    assert codes == [200, 409], {k: r.text for k, r in results.items()}
    loser = next(r for r in results.values() if r.status_code == 409)
    assert loser.json()["code"] == "stale_version"
    winner = next(who for who, r in results.items() if r.status_code == 200)
    expected = world["ids"]["member" if winner == "secretary" else "member2"]
    now = _get(world, "secretary", f"/requests/{rid}").json()["properties"]
    assert now["assigned_user_id"] == expected and now["version"] == 2
    assert [h["action"] for h in now["history"]] == ["submit", "dispatch"]


def test_possible_duplicates_within_50_m_and_7_days(world):
    service = "environment"
    first = _post(world, service_code=service, description="垃圾堆放").json()
    near = _post(world, service_code=service, location=_moved(world, 30)).json()
    far = _post(world, service_code=service, location=_moved(world, 80)).json()
    other = _post(world, service_code="security", location=_moved(world, 10)).json()
    suggested = {d["id"]: d for d in near["properties"]["possible_duplicates"]}
    assert first["id"] in suggested and 25 < suggested[first["id"]]["distance_m"] < 35
    assert suggested[first["id"]]["days_apart"] < 0.01
    assert far["id"] not in suggested and first["id"] not in {d["id"] for d in far["properties"]["possible_duplicates"]}
    assert first["id"] not in {d["id"] for d in other["properties"]["possible_duplicates"]}
    listed = _get(world, "secretary", f"/requests/{first['id']}/duplicates").json()
    assert near["id"] in {d["id"] for d in listed["duplicates"]} and far["id"] not in {
        d["id"] for d in listed["duplicates"]
    }
    with world["engine"].begin() as conn:  # eight days earlier: beyond the window
        conn.execute(
            text("UPDATE requests SET requested_at = requested_at - interval '8 days' WHERE id = :id"),
            {"id": first["id"]},
        )
    later = _get(world, "secretary", f"/requests/{near['id']}/duplicates").json()["duplicates"]
    assert first["id"] not in {d["id"] for d in later}
    # marked as a duplicate, it points at its parent and is not suggested any more
    marked = _act(world, "secretary", far["id"], "duplicate", 1, duplicate_of=near["id"]).json()["properties"]
    assert marked["state"] == "duplicate" and marked["duplicate_of"] == near["id"] and marked["status"] == "closed"
    now = _get(world, "secretary", f"/requests/{near['id']}/duplicates").json()["duplicates"]
    assert far["id"] not in {d["id"] for d in now}
    onto_itself = _act(world, "secretary", near["id"], "duplicate", 1, duplicate_of=near["id"])
    assert onto_itself.status_code == 400
    assert _act(world, "secretary", near["id"], "duplicate", 1, duplicate_of=9_000_000).status_code == 404
    assert _act(world, "secretary", near["id"], "duplicate", 1, duplicate_of=far["id"]).status_code == 400


@pytest.mark.parametrize(
    ("changes", "status", "names"),
    [
        ({"service_code": "pothole"}, 400, "service_code"),
        ({"service_code": "BAD CODE"}, 422, "service_code"),
        ({"location": {"type": "Point", "coordinates": [2.35, 48.85]}}, 422, "location"),
        ({"location": {"type": "Point", "coordinates": [116.0]}}, 422, "location"),
        ({"description": ""}, 422, "description"),
        ({"description": "   "}, 422, "description"),
        ({"description": "x" * 2001}, 422, "description"),
        ({"description": "bell\x07"}, 422, "description"),
        ({"requester_phone": "12345"}, 422, "requester_phone"),
        ({"requester_name": "a\nb"}, 422, "requester_name"),
        ({"client_id": "not-a-uuid"}, 422, "client_id"),
        ({"household_id": 0}, 422, "household_id"),
        ({"household_id": 9_000_000}, 404, "household"),
        ({"resident_id": 9_000_000}, 404, "resident"),
    ],
)
def test_bad_input_is_refused_naming_the_problem_and_nothing_is_stored(world, changes, status, names):
    before = (_count(world), _count(world, "request_history"))
    answer = _post(world, **changes)
    assert answer.status_code == status, answer.text
    assert names in answer.json()["detail"]
    assert (_count(world), _count(world, "request_history")) == before


def test_places_of_others_are_refused(world):
    before = _count(world)
    outside = _post(world, location=_moved(world, 0, "g3"))
    assert outside.status_code == 422 and "not in a grid of yours" in outside.json()["detail"]
    theirs = _post(world, household_id=world["other_household"])
    assert theirs.status_code == 404
    mismatch = _post(world, household_id=world["household"], resident_id=world["other_resident"])
    assert mismatch.status_code in (400, 404)
    assert _post(world, "planner").status_code == 403
    assert world["client"].post("/requests", json=_body(world)).status_code == 401
    assert _count(world) == before


def test_hostile_text_is_kept_as_sent(world):
    rid = _post(world, description=HOSTILE, requester_name="<b>x</b>").json()["id"]
    body = _get(world, "secretary", f"/requests/{rid}").json()["properties"]
    assert body["description"] == HOSTILE
    note = "'; DROP TABLE request_history; --<script>"
    assert _act(world, "secretary", rid, "reject", 1, reason=note).json()["properties"]["status_notes"] == note
    assert _get(world, "secretary", f"/requests/{rid}").json()["properties"]["history"][-1]["note"] == note


def test_each_user_sees_their_places_only(world):
    mine = _post(world).json()["id"]
    theirs = _post(world, "worker_b", location=_moved(world, 0, "g3")).json()["id"]
    worker = {f["id"] for f in _get(world, "worker", "/requests", limit=500).json()["features"]}
    other = {f["id"] for f in _get(world, "worker_b", "/requests", limit=500).json()["features"]}
    secretary = {f["id"] for f in _get(world, "secretary", "/requests", limit=500).json()["features"]}
    admin = {f["id"] for f in _get(world, "admin", "/requests", limit=500).json()["features"]}
    assert mine in worker and theirs not in worker and theirs in other and mine not in other
    assert mine in secretary and theirs not in secretary and {mine, theirs} <= admin
    assert _get(world, "worker", f"/requests/{theirs}").status_code == 404
    assert _get(world, "worker", f"/requests/{theirs}/duplicates").status_code == 404
    assert _get(world, "worker", "/requests", grid_code=world["g3"]["code"]).status_code == 404
    assert _get(world, "secretary", "/requests", community_code=world["codes"]["b"]).status_code == 404
    by_grid = _get(world, "secretary", "/requests", grid_code=world["g1"]["code"], limit=500).json()["features"]
    assert mine in {f["id"] for f in by_grid}
    assert _get(world, "planner", "/requests").status_code == 403
    assert _get(world, "member", f"/requests/{mine}").status_code == 404


def _all_pages(world, who, **params) -> list[int]:
    ids, page = [], _get(world, who, "/requests", limit=500, **params)
    while True:
        assert page.status_code == 200, page.text
        ids += [f["id"] for f in page.json()["features"]]
        following = [link["href"] for link in page.json()["links"] if link["rel"] == "next"]
        if not following:
            return ids
        page = world["client"].get(following[0], headers=world["headers"][who])


def test_a_list_without_a_place_is_what_row_level_security_shows(world):
    """GET /requests names the user's grids and the user (dispatched to them) on top of row-level security, so that
    the planner reads an index: the list must still be exactly what the policy alone shows — a request dispatched
    to a party member in another grid of the community too."""
    with world["engine"].connect() as conn:
        elsewhere = (
            conn.execute(
                text(INNER_POINT_SQL.replace("ORDER BY", "AND g.id <> :g1 ORDER BY")),
                {"c": world["g1"]["community_id"], "margin": 5, "g1": world["g1"]["id"]},
            )
            .mappings()
            .one()
        )
    location = {"type": "Point", "coordinates": [elsewhere["lon"], elsewhere["lat"]]}
    given = _post(world, "secretary", location=location).json()["id"]
    member = world["ids"]["member"]
    assert _act(world, "secretary", given, "dispatch", 1, assigned_user_id=member).status_code == 200
    _post(world, "worker_b", location=_moved(world, 0, "g3"))
    app = make_engine(app_database_url(world["engine"].url.render_as_string(hide_password=False)))
    try:
        for who in ("worker", "worker_b", "secretary", "secretary_b", "member", "member2", "admin"):
            with connect(app, scope=user_scope(world["ids"][who])) as conn:
                policy = list(conn.scalars(text("SELECT id FROM requests ORDER BY id DESC")))
            assert _all_pages(world, who) == policy, who
        assert given in _all_pages(world, "member") and given not in _all_pages(world, "worker")
    finally:
        app.dispose()


def test_pages_filters_and_overdue(world):
    rid = _post(world, service_code="dispute", description="邻里纠纷").json()["id"]
    with world["engine"].begin() as conn:
        conn.execute(text("UPDATE requests SET deadline = now() - interval '1 hour' WHERE id = :id"), {"id": rid})
    overdue = _get(world, "secretary", "/requests", overdue="true", limit=500).json()["features"]
    assert rid in {f["id"] for f in overdue} and all(f["properties"]["overdue"] for f in overdue)
    on_time = _get(world, "secretary", "/requests", overdue="false", limit=500).json()["features"]
    assert rid not in {f["id"] for f in on_time}
    disputes = _get(world, "secretary", "/requests", service_code="dispute", state="submitted").json()["features"]
    assert {f["properties"]["service_code"] for f in disputes} == {"dispute"} and rid in {f["id"] for f in disputes}
    for number in range(5):  # enough for two pages of three, whatever other tests left in the module's world
        assert _post(world, description=f"第{number}条").status_code == 201
    ids, page = [], _get(world, "secretary", "/requests", limit=3)
    while True:
        body = page.json()
        ids += [f["id"] for f in body["features"]]
        following = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if not following:
            break
        page = world["client"].get(following[0], headers=world["headers"]["secretary"])
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids)) >= 5
    assert _get(world, "secretary", "/requests", state="lost").status_code == 422
    assert _get(world, "secretary", "/requests", cursor="nope").status_code == 400


def test_offline_retry_and_conflict(world):
    client_id = str(uuid.uuid4())
    first = _post(world, client_id=client_id, requester_phone=PHONE)
    again = _post(world, client_id=client_id, requester_phone=PHONE)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    before = _count(world)
    changed = _post(world, client_id=client_id, description="别的内容")
    assert changed.status_code == 409 and changed.json()["code"] == "client_id_conflict"
    elsewhere = _post(world, "worker_b", client_id=client_id, location=_moved(world, 0, "g3"))
    assert elsewhere.status_code == 409  # someone else's client_id: not shown, not overwritten
    assert _count(world) == before


def test_services(world):
    services = _get(world, "member", "/services").json()
    assert {s["code"] for s in services} >= {"livelihood", "micro_wish", "facility"}
    assert all(s["deadline_hours"] > 0 for s in services)
    assert _get(world, "planner", "/services").status_code == 403
