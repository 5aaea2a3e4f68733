"""Role × endpoint × place, through the API: every allowed request succeeds; every other one gets 401, 403 or 404
(a map page: 303 to /login) and leaks nothing — no rows, counts or totals of another place, and an error text
that reads as for a place that does not exist."""

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.accounts.roles import parse_scope
from api.accounts.users import put_user
from api.main import create_app
from api.settings import Settings
from tests.conftest import sample_loaded
from tests.signing import PASSWORD, account

KEY = "a signing key for the access matrix, 0123456789abcdef"
ROLES = ("admin", "street_leader", "community_secretary", "grid_worker", "party_member", "planner")
PLANNING = {"admin", "street_leader", "community_secretary", "planner"}
MANAGING = {"admin", "street_leader", "community_secretary"}
FIELD = {"admin", "street_leader", "community_secretary", "grid_worker", "party_member"}


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    """The sample street with coverage and a 中心户 run; one account per role, placed in community A (the secretary,
    the grid worker and the party member in its first grid), and B, another community with its grids."""
    with sample_loaded(engine):
        settings = Settings(database_url=database_url, tiles="none", secret_key=KEY)
        with TestClient(create_app(settings), follow_redirects=False) as client:
            with engine.connect() as conn:
                street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
                (a, a_code), (b, _) = conn.execute(
                    text(
                        "SELECT c.id, st.code || c.code FROM communities c JOIN streets st ON st.id = c.street_id "
                        "WHERE EXISTS (SELECT 1 FROM households h JOIN grids g ON g.id = h.grid_id "
                        "WHERE g.community_id = c.id) ORDER BY c.id LIMIT 2"
                    )
                ).all()
                grids = {
                    c: list(conn.scalars(text("SELECT id FROM grids WHERE community_id = :c ORDER BY id"), {"c": c}))
                    for c in (a, b)
                }
                a_grid_code = conn.scalar(text("SELECT code FROM grids WHERE id = :g"), {"g": grids[a][0]})
            admin = account(engine, "admin", login="matrix-admin")
            token = client.post("/auth/token", data={"username": admin, "password": PASSWORD}).json()
            client.headers["Authorization"] = f"Bearer {token['access_token']}"
            assert client.post("/coverage/refresh").status_code == 200
            assert client.post("/centers/assign").status_code == 200
            with engine.connect() as conn:
                center = conn.scalar(
                    text(
                        "SELECT ch.id FROM center_households ch JOIN households h ON h.id = ch.household_id "
                        "WHERE h.grid_id = :g ORDER BY ch.id LIMIT 1"
                    ),
                    {"g": grids[a][0]},
                )
                b_households = set(
                    conn.scalars(text("SELECT h.id FROM households h WHERE h.grid_id = ANY(:g)"), {"g": grids[b]})
                )
                a_workers = set(
                    conn.scalars(
                        text("SELECT DISTINCT worker_id FROM grid_worker_grids WHERE grid_id = ANY(:g)"),
                        {"g": grids[a]},
                    )
                )
            scopes = {
                "admin": [],
                "street_leader": [f"street:{street}"],
                "community_secretary": [f"community:{a_code}"],
                "grid_worker": [f"grid:{a_grid_code}"],
                "party_member": [f"grid:{a_grid_code}"],
                "planner": [f"street:{street}"],
            }
            headers = {None: {}}
            for role in ROLES:
                put_user(
                    engine,
                    f"matrix-{role}",
                    role=role,
                    scopes=[parse_scope(s) for s in scopes[role]],
                    password=PASSWORD,
                    center_household_id=center if role == "party_member" else None,
                )
                issued = client.post("/auth/token", data={"username": f"matrix-{role}", "password": PASSWORD})
                headers[role] = {"Authorization": f"Bearer {issued.json()['access_token']}"}
            del client.headers["Authorization"]
            yield {
                "client": client,
                "headers": headers,
                "a": a,
                "b": b,
                "grids": grids,
                "b_households": b_households,
                "a_workers": a_workers,
            }


def _call(world: dict, role: str | None, method: str, path: str, **kwargs):
    return world["client"].request(method, path, headers=world["headers"][role], **kwargs)


# Endpoints with no place in them: (method, path, keyword arguments, roles admitted).
SCENARIO = {"changes": [{"action": "add", "service_type": "clinic", "lon": 116.45, "lat": 39.92}]}
ENDPOINTS = [
    ("GET", "/collections", {}, PLANNING),
    ("GET", "/collections/buildings/items", {"params": {"limit": 5}}, PLANNING),
    ("GET", "/coverage/status", {}, PLANNING),
    ("GET", "/coverage/stats", {"params": {"by": "community"}}, PLANNING),
    ("GET", "/coverage/completeness", {}, PLANNING),
    ("GET", "/coverage/uncovered", {"params": {"service_type": "clinic", "limit": 5}}, PLANNING),
    ("POST", "/coverage/scenario", {"json": SCENARIO}, PLANNING),
    ("GET", "/maps/overview", {}, PLANNING),
    ("GET", "/maps/coverage", {"params": {"service_type": "party_center"}}, PLANNING),
    ("GET", "/centers/grids", {}, MANAGING),
    ("GET", "/centers/uncovered", {}, MANAGING),
    ("GET", "/workload/grids", {}, MANAGING),
    ("GET", "/workload/workers", {}, MANAGING),
    ("GET", "/grids/check", {}, MANAGING),
    ("GET", "/maps/centers", {}, MANAGING),
    ("GET", "/maps/leader", {}, MANAGING),
    ("GET", "/maps/worker", {}, {"grid_worker", "party_member"}),
    ("POST", "/centers/assign", {}, {"admin"}),
    ("GET", "/households", {"params": {"limit": 5}}, FIELD),
    ("GET", "/hazards", {"params": {"limit": 5}}, FIELD),
    ("GET", "/hazard-categories", {}, FIELD),
    ("GET", "/requests", {"params": {"limit": 5}}, FIELD),
    ("GET", "/services", {}, FIELD),
    ("GET", "/visit-rules", {}, FIELD),
    ("GET", "/visits", {"params": {"limit": 5}}, FIELD),
    ("POST", "/visits/batch", {"json": []}, FIELD),
    ("GET", "/commitments", {"params": {"limit": 5}}, MANAGING | {"party_member"}),
    ("GET", "/kpis", {"params": {"level": "grid", "from": "2026-01-01", "to": "2026-03-31"}}, PLANNING),
    ("GET", "/me", {}, set(ROLES)),
    ("GET", "/ogc", {}, set(ROLES)),
    ("GET", "/ogc/conformance", {}, set(ROLES)),
    ("GET", "/ogc/collections", {}, set(ROLES)),
    ("GET", "/ogc/collections/buildings", {}, PLANNING),
    ("GET", "/ogc/collections/buildings/items", {"params": {"limit": 5}}, PLANNING),
    ("GET", "/ogc/collections/grids/items", {"params": {"limit": 5}}, PLANNING),
    ("GET", "/ogc/collections/households/items", {"params": {"limit": 5}}, FIELD),
    ("GET", "/ogc/collections/hazards/items", {"params": {"limit": 5}}, FIELD),
    ("GET", "/ogc/collections/requests/items", {"params": {"limit": 5}}, FIELD),
    # the z12 tile of the sample street's centre: non-personal layers for planners, field work for the field
    # readers under their own scope
    ("GET", "/tiles/buildings/12/3373/1551.pbf", {}, PLANNING),
    ("GET", "/tiles/coverage/12/3373/1551.pbf", {}, PLANNING),
    ("GET", "/tiles/grids/12/3373/1551.pbf", {}, PLANNING),
    ("GET", "/tiles/hazards/12/3373/1551.pbf", {}, FIELD),
    ("GET", "/tiles/requests/12/3373/1551.pbf", {}, FIELD),
    ("GET", "/tiles/visits/12/3373/1551.pbf", {}, FIELD),
]


@pytest.mark.parametrize("role", [None, *ROLES])
@pytest.mark.parametrize(
    ("method", "path", "kwargs", "admitted"), ENDPOINTS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_each_role_reaches_exactly_its_endpoints(world, role, method, path, kwargs, admitted):
    response = _call(world, role, method, path, **kwargs)
    if role is None:
        expected = 303 if path.startswith("/maps/") else 401
        assert response.status_code == expected, response.text
        if expected == 303:
            assert response.headers["location"].startswith("/login?next=%2Fmaps%2F")
        assert "households" not in response.text or path == "/households"
    elif role in admitted:
        # a field-work tile is 204 (no feature: the bare sample has no field work)
        personal = any(f"/tiles/{layer}/" in path for layer in ("hazards", "requests", "visits"))
        assert response.status_code == (204 if personal else 200), response.text
    else:
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "forbidden" and "households" not in response.text


def test_health_is_open(world):
    assert _call(world, None, "GET", "/health").status_code == 200


@pytest.mark.parametrize("path", ["/open311/v2/discovery.json", "/open311/v2/services.json"])
def test_open311_discovery_and_services_are_open(world, path):
    assert _call(world, None, "GET", path).status_code == 200


# Endpoints that name a place: (method, path, how the place is given, which place: community or grid).
PLACED = [
    ("GET", "/workload/grids", "community_id", "community"),
    ("GET", "/grids/check", "community_id", "community"),
    ("GET", "/maps/centers", "community_id", "community"),
    ("GET", "/maps/centers", "grid_id", "grid"),
    ("GET", "/maps/leader", "community_id", "community"),
    ("GET", "/centers/grids", "grid_id", "grid"),
    ("GET", "/centers/uncovered", "grid_id", "grid"),
]


@pytest.mark.parametrize(("method", "path", "name", "kind"), PLACED)
def test_another_place_reads_as_one_that_does_not_exist(world, method, path, name, kind):
    a, b = world["a"], world["b"]
    inside = world["grids"][a][0] if kind == "grid" else a
    outside = world["grids"][b][0] if kind == "grid" else b
    for role in ("admin", "street_leader"):
        assert _call(world, role, method, path, params={name: outside}).status_code == 200
    assert _call(world, "community_secretary", method, path, params={name: inside}).status_code == 200
    refused = _call(world, "community_secretary", method, path, params={name: outside})
    missing = _call(world, "community_secretary", method, path, params={name: 9_000_000})
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["detail"].replace(str(outside), "N") == missing.json()["detail"].replace("9000000", "N")


def test_a_partition_of_another_community_is_refused(world):
    body = {"community_id": world["b"]}
    assert _call(world, "community_secretary", "POST", "/grids/partition", json=body).status_code == 404
    assert _call(world, "planner", "POST", "/grids/partition", json=body).status_code == 403


def test_lists_hold_only_the_secretarys_places(world):
    a_grids, b_grids = set(world["grids"][world["a"]]), set(world["grids"][world["b"]])
    secretary = {
        "centers": _call(world, "community_secretary", "GET", "/centers/grids").json(),
        "workload": _call(world, "community_secretary", "GET", "/workload/grids").json(),
        "check": _call(world, "community_secretary", "GET", "/grids/check").json(),
        "uncovered": _call(world, "community_secretary", "GET", "/centers/uncovered").json(),
    }
    assert {row["grid_id"] for row in secretary["centers"]["grids"]} == a_grids
    assert "counts" not in secretary["centers"]["run"]  # the run's counts span the whole street
    assert {row["grid_id"] for row in secretary["workload"]} == a_grids
    assert {row["grid_id"] for row in secretary["check"]["rows"]} == a_grids
    assert secretary["check"]["grids"] == len(a_grids)
    assert {row["grid_id"] for row in secretary["uncovered"]["households"]} <= a_grids
    leader = _call(world, "street_leader", "GET", "/centers/grids").json()
    assert a_grids | b_grids <= {row["grid_id"] for row in leader["grids"]}
    workers = _call(world, "community_secretary", "GET", "/workload/workers").json()
    assert world["a_workers"] and {w["worker_id"] for w in workers} == world["a_workers"]


def test_ogc_households_stay_in_the_users_places(world):
    b_households = world["b_households"]
    for role in ("community_secretary", "grid_worker"):
        served: set[int] = set()
        params = {"limit": 1000, "offset": 0}
        while True:
            body = _call(world, role, "GET", "/ogc/collections/households/items", params=params).json()
            served |= {feature["id"] for feature in body["features"]}
            if not any(link["rel"] == "next" for link in body["links"]):
                break
            params["offset"] += 1000
        assert served and not served & b_households and body["numberMatched"] == len(served)
    admin = _call(world, "admin", "GET", "/ogc/collections/households/items", params={"limit": 1000}).json()
    assert admin["numberMatched"] > len(b_households)


def test_the_centers_map_draws_only_the_users_households(world):
    secretary = _call(world, "community_secretary", "GET", "/maps/centers").text
    leader = _call(world, "street_leader", "GET", "/maps/centers").text
    drawn = {int(h) for h in re.findall(r'"household":\s*"(\d+)"', secretary)}
    assert drawn and not drawn & world["b_households"]
    assert {int(h) for h in re.findall(r'"household":\s*"(\d+)"', leader)} & world["b_households"]


def test_the_center_run_is_audited_with_who_asked(world, engine):
    with engine.connect() as conn:
        entry = conn.execute(
            text("SELECT login, action, detail FROM audit_log WHERE object_table = 'center_assignments' ORDER BY id")
        ).first()
    assert entry is not None and entry.login == "matrix-admin" and entry.action == "update"
    assert entry.detail["run_id"] >= 1 and "households" in entry.detail


def test_field_work_endpoints_by_role(world):
    """The due list, visits and photos: planners 403, no credentials 401; the field roles reach them (a manager
    names the grid of a due list: 400 without one; a photo nobody uploaded: 404)."""
    nothing = "0" * 64
    for role in ROLES:
        due = _call(world, role, "GET", "/visits/due")
        photo = _call(world, role, "GET", f"/photos/{nothing}")
        png = world["headers"][role] | {"Content-Type": "image/png"}
        put = world["client"].put(f"/photos/{nothing}", content=b"x", headers=png)
        visit = _call(world, role, "POST", "/visits", json={})
        if role == "planner":
            assert {due.status_code, photo.status_code, put.status_code, visit.status_code} == {403}
            continue
        assert due.status_code == (200 if role in ("grid_worker", "party_member") else 400), due.text
        assert photo.status_code == 404 and put.status_code == 422 and visit.status_code == 422
    assert _call(world, None, "GET", "/visits/due").status_code == 401
    assert _call(world, None, "PUT", f"/photos/{nothing}", content=b"x").status_code == 401
    rules = [{"tag": "infant", "role": "party_member", "interval_days": 14}]
    for role in ROLES:
        answer = _call(world, role, "PUT", "/visit-rules/999999999999", json=rules)
        assert answer.status_code == (404 if role in MANAGING else 403), answer.text
