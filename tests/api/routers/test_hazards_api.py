"""/hazards on the sample street: reporting (with offline retries), what each user sees, every transition by every
kind of user through the API, and bad input refused with a 4xx that names the problem and stores nothing."""

import hashlib
import json
import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from api.storage import Connection, connect, user_scope
from api.storage.database import app_database_url, make_engine
from api.workflows import ASSIGNEE, MANAGER, REPORTER, VIEWER
from api.workflows import hazards as wf
from tests.api.routers.hazard_world import HOSTILE, World, hazard_world


@pytest.fixture(scope="module")
def world(engine, database_url):
    with hazard_world(engine, database_url) as built:
        yield built


def report(world: World, who: str = "worker", grid: str = "g1", **fields):
    body = {"category": "fire_lane", "location": {"type": "Point", "coordinates": world.points[grid]}}
    body |= {"description": "楼道堆放杂物, 堵塞消防通道"} | fields
    return world.call(who, "POST", "/hazards", json=body)


def act(world: World, who: str, hazard_id: int, action: str, version: int, **fields):
    body = {"action": action, "version": version} | fields
    return world.call(who, "POST", f"/hazards/{hazard_id}/transitions", json=body)


# --- reporting ---------------------------------------------------------------------------------------------------


def test_categories_with_their_deadlines(world):
    categories = world.call("member", "GET", "/hazard-categories").json()["categories"]
    assert {c["code"]: c["deadline_hours"] for c in categories}["fire_lane"] == 24
    assert len(categories) == 9 and categories[-1]["code"] == "other"
    assert world.call("planner", "GET", "/hazard-categories").status_code == 403


def test_a_report_is_stored_due_after_its_categorys_hours_with_its_first_history_row(world):
    before = world.counts()
    response = report(world, severity="high")
    assert response.status_code == 201, response.text
    hazard = response.json()
    props = hazard["properties"]
    assert hazard["geometry"]["coordinates"] == [round(c, 7) for c in world.points["g1"]]
    assert (props["state"], props["version"], props["severity"]) == ("reported", 1, "high")
    assert props["grid_id"] == world.grids["g1"]
    assert props["grid_code"] == world.codes["g1"] and props["reported_by"] == world.users["worker"]
    reported, deadline = (datetime.fromisoformat(props[k]) for k in ("reported_at", "deadline"))
    assert deadline - reported == timedelta(hours=24) and props["deadline"].endswith("+08:00")
    assert props["overdue"] is False and props["extensions"] == 0
    assert [(h["version"], h["action"], h["to_state"]) for h in props["history"]] == [(1, "report", "reported")]
    assert world.counts() == (before[0] + 1, before[1] + 1, before[2] + 1)
    audit = world.sql("SELECT login, action, object_ids FROM audit_log WHERE object_table = 'hazards' ORDER BY id DESC")
    assert audit[0] == ("worker", "create", [props["id"]])


def test_a_building_or_household_gives_the_grid(world):
    by_building = report(world, "secretary", "g1b", building_id=world.buildings["g1b"]).json()["properties"]
    assert by_building["grid_id"] == world.grids["g1b"] and by_building["building_id"] == world.buildings["g1b"]
    household = report(world, "worker", household_id=world.households["g1"]).json()["properties"]
    assert household["household_id"] == world.households["g1"] and household["building_id"] == world.buildings["g1"]


def test_a_party_member_reports_in_their_grid(world):
    assert report(world, "member").status_code == 201
    refused = report(world, "member", "g2")
    assert refused.status_code == 422 and refused.json()["code"] == "outside_your_places"


def test_a_hostile_description_is_stored_and_returned_byte_for_byte(world):
    created = report(world, description=HOSTILE).json()["properties"]
    assert created["description"] == HOSTILE
    got = world.call("worker", "GET", f"/hazards/{created['id']}")
    assert got.json()["properties"]["description"] == HOSTILE
    listed = world.call("worker", "GET", "/hazards", params={"limit": 500}).json()["features"]
    assert [f["properties"]["description"] for f in listed if f["id"] == created["id"]] == [HOSTILE]
    stored = world.sql("SELECT description FROM hazards WHERE id = :id", id=created["id"])[0][0]
    assert stored.encode() == HOSTILE.encode()
    assert world.sql("SELECT to_regclass('hazards')")[0][0] is not None


def test_a_photo_already_uploaded_is_referred_to(world):
    content = b"\x89PNG\r\n\x1a\n a test photo"
    digest = hashlib.sha256(content).hexdigest()
    world.sql(
        "INSERT INTO photos (sha256, media_type, bytes, content, uploaded_by) VALUES (:s, 'image/png', :n, :c, :u)",
        s=digest,
        n=len(content),
        c=content,
        u=world.users["worker"],
    )
    assert report(world, photo_sha256=digest).json()["properties"]["photo_sha256"] == digest
    # another worker's photo, shown by no hazard they see, is not theirs to refer to
    assert report(world, "other_worker", "g2", photo_sha256=digest).json()["code"] == "unknown_photo"


BAD_REPORTS = [
    ({"category": "volcano"}, 422, "unknown_category", "volcano"),
    ({"location": {"type": "Point", "coordinates": [2.35, 48.85]}}, 422, "invalid_parameter", "location"),
    ({"location": {"type": "Point", "coordinates": [116.4]}}, 422, "invalid_parameter", "location"),
    ({"location": {"type": "Polygon", "coordinates": [116.4, 39.9]}}, 422, "invalid_parameter", "location"),
    ({"location": {"type": "Point", "coordinates": [87.6, 43.8]}}, 422, "outside_your_places", "[87.6, 43.8]"),
    ({"grid": "g2"}, 422, "outside_your_places", "none of your grids"),
    ({"building": "g2"}, 404, "not_found", "building"),
    ({"household": "g2"}, 404, "not_found", "household"),
    ({"household_id": 9_000_000}, 404, "not_found", "household 9000000"),
    ({"photo_sha256": "ab" * 32}, 422, "unknown_photo", "ab" * 32),
    ({"photo_sha256": "not a hash"}, 422, "invalid_parameter", "photo_sha256"),
    ({"description": "x" * 2001}, 422, "invalid_parameter", "description"),
    ({"description": ""}, 422, "invalid_parameter", "description"),
    ({"description": "NUL \x00 inside"}, 422, "invalid_parameter", "NUL"),
    ({"severity": "apocalyptic"}, 422, "invalid_parameter", "severity"),
    ({"client_id": "not-a-uuid"}, 422, "invalid_parameter", "client_id"),
    ({"household": "g1", "building": "g1b"}, 400, "invalid_parameter", "not in building"),
]


@pytest.mark.parametrize(("fields", "status", "code", "named"), BAD_REPORTS, ids=lambda v: str(v)[:40])
def test_bad_reports_are_refused_naming_the_problem_and_store_nothing(world, fields, status, code, named):
    fields = dict(fields)
    grid = fields.pop("grid", "g1")
    if "building" in fields:
        fields["building_id"] = world.buildings[fields.pop("building")]
    if "household" in fields:
        fields["household_id"] = world.households[fields.pop("household")]
    before = world.counts()
    response = report(world, "worker", grid, **fields)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code and named in response.json()["detail"]
    assert world.counts() == before


def test_a_lone_surrogate_is_refused_not_a_server_error(world):
    point = json.dumps(world.points["g1"])
    body = '{"category": "gas", "description": "\\ud800", "location": {"type": "Point", "coordinates": ' + point + "}}"
    before = world.counts()
    headers = world.headers["worker"] | {"Content-Type": "application/json"}
    response = world.client.post("/hazards", content=body.encode(), headers=headers)
    assert response.status_code == 422 and "description" in response.json()["detail"]
    assert world.counts() == before


# --- offline entries ---------------------------------------------------------------------------------------------


def test_an_offline_retry_returns_the_original_and_other_content_is_a_conflict(world):
    client_id = str(uuid.uuid4())
    first = report(world, client_id=client_id, description="消防通道被占 (离线)")
    assert first.status_code == 201
    before = world.counts()
    again = report(world, client_id=client_id, description="消防通道被占 (离线)")
    assert again.status_code == 200 and again.json() == first.json()
    changed = report(world, client_id=client_id, description="另一条")
    assert changed.status_code == 409 and changed.json()["code"] == "client_id_conflict"
    assert client_id in changed.json()["detail"]
    # someone who cannot see the entry gets the conflict too, and learns nothing of it
    elsewhere = report(world, "other_worker", "g2", client_id=client_id, description="消防通道被占 (离线)")
    assert elsewhere.status_code == 409 and "消防" not in elsewhere.text
    assert world.counts() == before


def test_a_retry_after_a_change_still_returns_the_entry(world):
    client_id = str(uuid.uuid4())
    first = report(world, client_id=client_id).json()
    assert act(world, "secretary", first["id"], "accept", 1).status_code == 200
    again = report(world, client_id=client_id)
    assert again.status_code == 200 and again.json()["properties"]["state"] == "accepted"


# --- what each user sees -----------------------------------------------------------------------------------------


def _all(world: World, who: str, **params) -> list[dict]:
    features, page = [], world.call(who, "GET", "/hazards", params={"limit": 7, **params})
    while True:
        assert page.status_code == 200, page.text
        features += page.json()["features"]
        following = [link["href"] for link in page.json()["links"] if link["rel"] == "next"]
        if not following:
            return features
        page = world.client.get(following[0], headers=world.headers[who])


def test_each_user_sees_the_hazards_of_their_places(world):
    mine = world.make(["reported", "accepted"], grid="g1", reporter="worker", assignee=None)
    theirs = world.make(["reported", "dispatched"], grid="g2", reporter="other_worker", assignee=None)
    elsewhere_in_a = world.make(["reported"], grid="g1b", reporter="secretary", assignee=None)
    grid_of = dict(world.sql("SELECT id, grid_id FROM hazards"))
    seen = {who: {f["id"] for f in _all(world, who)} for who in ("worker", "other_worker", "secretary", "leader")}
    assert seen["worker"] == {h for h, g in grid_of.items() if g == world.grids["g1"]} >= set(mine)
    assert seen["other_worker"] == {h for h, g in grid_of.items() if g == world.grids["g2"]} >= set(theirs)
    in_a = {world.grids["g1"], world.grids["g1b"]}
    assert seen["secretary"] == {h for h, g in grid_of.items() if g in in_a} >= set(elsewhere_in_a)
    assert seen["leader"] == set(grid_of)
    ids = [f["id"] for f in _all(world, "leader")]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert world.call("worker", "GET", f"/hazards/{theirs[0]}").status_code == 404
    assert world.call("worker", "GET", f"/hazards/{theirs[0]}").json() == world.call(
        "worker", "GET", "/hazards/9000000"
    ).json() | {"detail": f"no hazard {theirs[0]}"}
    assert world.call("worker", "GET", "/hazards", params={"grid_code": world.codes["g2"]}).status_code == 404
    assert world.call("planner", "GET", "/hazards").status_code == 403
    assert world.client.get("/hazards").status_code == 401


def test_the_reporter_and_the_assignee_see_their_hazard_outside_their_grids(world):
    (hazard,) = world.make(["dispatched"], grid="g2", reporter="member", assignee="worker")
    assert world.call("member", "GET", f"/hazards/{hazard}").status_code == 200
    assert world.call("worker", "GET", f"/hazards/{hazard}").status_code == 200
    assert world.call("worker2", "GET", f"/hazards/{hazard}").status_code == 404


def test_filters(world):
    late, fresh = world.make(["dispatched", "dispatched"], grid="g1b", reporter="secretary", category="flooding")
    (suspended,) = world.make(["suspended"], grid="g1b", reporter="secretary", category="flooding")
    world.sql("UPDATE hazards SET deadline = now() - interval '1 hour' WHERE id IN (:a, :b)", a=late, b=suspended)
    world.sql("UPDATE hazards SET reported_at = '2025-01-15T10:00:00+08:00' WHERE id = :a", a=fresh)

    def ids(**params) -> set[int]:
        return {f["id"] for f in _all(world, "secretary", grid_code=world.codes["g1b"], category="flooding", **params)}

    assert ids() == {late, fresh, suspended}
    assert ids(overdue=True) == {late}  # a suspended hazard's clock stands
    assert ids(overdue=False) == {fresh, suspended}
    assert ids(state="suspended") == {suspended}
    assert ids(**{"from": "2025-01-01T00:00:00+08:00", "to": "2025-02-01T00:00:00+08:00"}) == {fresh}
    assert ids(**{"from": "2025-02-01T00:00:00+08:00"}) == {late, suspended}
    overdue = world.call("secretary", "GET", f"/hazards/{late}").json()["properties"]["overdue"]
    assert overdue is True
    assert {f["id"] for f in _all(world, "secretary", community_code=world.codes["a"], category="flooding")} == ids()
    assert world.call("secretary", "GET", "/hazards", params={"community_code": world.codes["b"]}).status_code == 404
    for bad in ({"state": "exploded"}, {"from": "2025-01-01T00:00:00"}, {"overdue": "maybe"}, {"limit": 501}):
        assert world.call("secretary", "GET", "/hazards", params=bad).status_code == 422, bad
    assert world.call("secretary", "GET", "/hazards", params={"cursor": "nope"}).status_code == 400


# --- transitions -------------------------------------------------------------------------------------------------


def test_a_case_from_report_to_close_through_the_api(world):
    hazard = report(world, "member").json()
    hid = hazard["id"]
    steps = [
        ("secretary", "accept", {}),
        ("secretary", "dispatch", {"assigned_unit": "物业公司", "assigned_user_id": world.users["worker2"]}),
        ("worker2", "start", {}),
        ("worker2", "note", {"note": "已联系物业, 明日清理"}),
        ("worker2", "finish", {"note": "已清理"}),
        ("leader", "verify", {}),
        ("admin", "close", {}),
    ]
    for version, (who, action, fields) in enumerate(steps, start=1):
        response = act(world, who, hid, action, version, **fields)
        assert response.status_code == 200, (action, response.text)
        assert response.json()["properties"]["version"] == version + 1
    props = response.json()["properties"]
    assert props["state"] == "closed" and props["closed_at"] is not None and props["assigned_unit"] == "物业公司"
    history = props["history"]
    assert [h["version"] for h in history] == list(range(1, 9))
    assert [h["action"] for h in history] == ["report"] + [a for _, a, _ in steps]
    assert history[4]["note"] == "已联系物业, 明日清理" and history[4]["role"] == "grid_worker"
    assert history[2]["detail"]["assigned_user_id"] == world.users["worker2"]
    audit = world.sql(
        "SELECT detail->>'action' FROM audit_log WHERE object_table = 'hazards' AND :id = ANY(object_ids) "
        "AND action = 'update' ORDER BY id",
        id=hid,
    )
    assert [a for (a,) in audit] == [a for _, a, _ in steps]


def test_refusals_by_hand(world):
    hid = report(world).json()["id"]
    before = world.counts()
    cases = [
        ("worker", "accept", 1, {}, 403, "forbidden"),  # a grid worker manages nothing
        ("worker2", "close", 1, {}, 403, "forbidden"),
        ("member", "close", 1, {}, 404, "not_found"),  # a party member sees the hazards they reported only
        ("planner", "accept", 1, {}, 403, "forbidden"),
        ("secretary_b", "accept", 1, {}, 404, "not_found"),  # not in their places: not there at all
        ("secretary", "close", 1, {}, 409, "invalid_transition"),
        ("secretary", "accept", 2, {}, 409, "stale_version"),
        ("secretary", "explode", 1, {}, 422, "invalid_parameter"),
        ("secretary", "accept", 1, {"hours": 5}, 400, "invalid_parameter"),
        ("secretary", "reject", 1, {}, 400, "invalid_parameter"),  # needs a reason
        ("secretary", "accept", 1, {"note": "x" * 2001}, 422, "invalid_parameter"),
        ("secretary", "accept", 0, {}, 422, "invalid_parameter"),
        ("secretary", "accept", 1, {"note": "NUL \x00"}, 422, "invalid_parameter"),
        ("secretary", "accept", 1, {"assigned_unit": ""}, 422, "invalid_parameter"),
    ]
    for who, action, version, fields, status, code in cases:
        response = act(world, who, hid, action, version, **fields)
        assert (response.status_code, response.json()["code"]) == (status, code), (who, action, response.text)
    assert world.counts() == before
    closing = act(world, "secretary", hid, "close", 1).json()
    assert closing["state"] == "reported" and closing["action"] == "close" and "reported" in closing["detail"]
    assert act(world, "secretary", hid, "accept", 1).status_code == 200
    stale = act(world, "admin", hid, "accept", 1).json()
    assert stale["code"] == "stale_version" and stale["current_version"] == 2 and "version 2" in stale["detail"]
    assert act(world, "admin", 9_000_000, "accept", 1).status_code == 404


def test_dispatch_goes_to_someone_working_in_the_hazards_grid(world):
    hid = report(world).json()["id"]
    assert act(world, "secretary", hid, "accept", 1).status_code == 200
    before = world.counts()
    for who in ("other_worker", "planner", "secretary_b"):
        refused = act(world, "secretary", hid, "dispatch", 2, assigned_user_id=world.users[who])
        assert refused.status_code == 404 and f"no user {world.users[who]}" in refused.json()["detail"]
    assert act(world, "secretary", hid, "dispatch", 2, assigned_user_id=9_000_000).status_code == 404
    assert act(world, "secretary", hid, "dispatch", 2).status_code == 400  # nobody named
    assert world.counts() == before
    assert act(world, "secretary", hid, "dispatch", 2, assigned_user_id=world.users["member"]).status_code == 200


def test_extend_and_suspend_through_the_api(world):
    hid = report(world).json()["id"]
    act(world, "secretary", hid, "accept", 1)
    deadline = datetime.fromisoformat(world.call("worker", "GET", f"/hazards/{hid}").json()["properties"]["deadline"])
    extended = act(world, "secretary", hid, "extend", 2, hours=12).json()["properties"]
    assert datetime.fromisoformat(extended["deadline"]) == deadline + timedelta(hours=12)
    assert extended["extensions"] == 1 and extended["state"] == "accepted"
    assert act(world, "secretary", hid, "extend", 3, hours=721).status_code == 422
    suspended = act(world, "secretary", hid, "suspend", 3, note="等待燃气公司").json()["properties"]
    assert (suspended["state"], suspended["resume_state"]) == ("suspended", "accepted")
    assert suspended["history"][-1]["detail"] == {"resume_to": "accepted"}
    resumed = act(world, "secretary", hid, "resume", 4).json()["properties"]
    assert resumed["state"] == "accepted" and resumed["resume_state"] is None
    assert datetime.fromisoformat(resumed["deadline"]) >= datetime.fromisoformat(extended["deadline"])


# The matrix: every action from every state by each kind of user, expected from the workflow's table.
ACTORS = {
    # login: the parties they are to a hazard of grid g1 reported by the party member and dispatched to `worker`
    "secretary": frozenset({MANAGER, VIEWER}),
    "leader": frozenset({MANAGER, VIEWER}),
    "worker": frozenset({ASSIGNEE, VIEWER}),
    "member": frozenset({REPORTER, VIEWER}),
    "worker2": frozenset({VIEWER}),
}


def _expected(action: str, state: str, parties: frozenset[str]) -> tuple[int, str]:
    try:
        row = wf.WORKFLOW.find(action, state, parties)
    except Exception as refused:  # noqa: BLE001
        return {"Forbidden": 403, "InvalidTransition": 409}[type(refused).__name__], ""
    if row.target == wf.RESUME:
        return 200, "dispatched"
    return 200, row.target_from(state)


@pytest.mark.parametrize("who", ACTORS)
def test_every_transition_by_every_kind_of_user(world, who):
    combos = [(a, s) for a in wf.ACTIONS for s in wf.STATES]
    ids = world.make([s for _, s in combos])
    outcomes = {}
    for hid, (action, state) in zip(ids, combos, strict=True):
        body = {"note": "矩阵"} | ({"assigned_unit": "城管科"} if action == "dispatch" else {})
        response = act(world, who, hid, action, 1, **body)
        status, to = _expected(action, state, ACTORS[who])
        assert response.status_code == status, (who, action, state, response.text)
        if status == 200:
            assert response.json()["properties"]["state"] == to
        else:
            assert response.json()["code"] == ("forbidden" if status == 403 else "invalid_transition")
        outcomes[hid] = status
    stored = dict(world.sql("SELECT id, version FROM hazards WHERE id = ANY(:ids)", ids=ids))
    history = dict(
        world.sql(
            "SELECT case_id, array_agg(version ORDER BY version) FROM hazard_history "
            "WHERE case_id = ANY(:ids) GROUP BY case_id",
            ids=ids,
        )
    )
    for hid, status in outcomes.items():
        assert stored[hid] == (2 if status == 200 else 1)
        assert history[hid] == ([1, 2] if status == 200 else [1])
    assert 200 in outcomes.values()


# --- row-level security alone ------------------------------------------------------------------------------------


def test_row_level_security_keeps_a_grid_worker_in_their_grids(world):
    (theirs,) = world.make(["reported"], grid="g2", reporter="other_worker", assignee=None)
    (mine,) = world.make(["reported"], grid="g1", reporter="worker2", assignee=None)
    app = make_engine(app_database_url(world.engine.url.render_as_string(hide_password=False)))
    try:
        with connect(app, scope=user_scope(world.users["worker"])) as conn:
            grids = set(conn.scalars(text("SELECT DISTINCT grid_id FROM hazards")))
            followed = set(conn.scalars(text("SELECT DISTINCT case_id FROM hazard_history")))
            visible = set(conn.scalars(text("SELECT id FROM hazards")))
            touch = text("UPDATE hazards SET version = version WHERE id = :id")
            assert conn.execute(touch, {"id": theirs}).rowcount == 0
            assert conn.execute(touch, {"id": mine}).rowcount == 1
            conn.rollback()
        assignments = dict(world.sql("SELECT id, assigned_user_id FROM hazards"))
        reporters = dict(world.sql("SELECT id, reported_by FROM hazards"))
        own = {h for h in assignments if world.users["worker"] in (assignments[h], reporters[h])}
        in_grid = {h for (h,) in world.sql("SELECT id FROM hazards WHERE grid_id = :g", g=world.grids["g1"])}
        assert visible == in_grid | own and theirs not in visible and mine in visible
        assert followed == visible  # every hazard has its history, and only the visible ones' show
        own_grids = {g for (g,) in world.sql("SELECT grid_id FROM hazards WHERE id = ANY(:ids)", ids=sorted(own))}
        assert grids == {world.grids["g1"]} | own_grids
        with connect(app, scope=user_scope(world.users["worker"])) as conn:
            _insert_elsewhere_refused(conn, world)
    finally:
        app.dispose()


def _insert_elsewhere_refused(conn: Connection, world: World) -> None:
    from sqlalchemy.exc import ProgrammingError

    lon, lat = world.points["g2"]
    with pytest.raises(ProgrammingError, match="row-level security"):
        conn.execute(
            text(
                "INSERT INTO hazards (category, grid_id, location, description, deadline) "
                "VALUES ('gas', :g, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 'x', now())"
            ),
            {"g": world.grids["g2"], "lon": lon, "lat": lat},
        )
    conn.rollback()


def test_times_are_china_time(world):
    props = report(world).json()["properties"]
    for key in ("reported_at", "deadline", "updated_at"):
        assert props[key].endswith("+08:00")
    assert props["history"][0]["at"].endswith("+08:00")
