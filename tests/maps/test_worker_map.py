"""The worker map (/maps/worker) served by the API on the sample street with its year of field work: who gets it,
what it holds (only the user's grid; hostile text as JSON data, never markup), the page cache per user and per
state of the field work, the page budget, and `gridmap worker-map`."""

import uuid
from datetime import datetime

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import box
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from api.main import create_app
from api.settings import Settings
from api.visits.due import CHINA
from maps import render_html
from maps.base import external_urls
from maps.worker import worker_map
from tests.conftest import sample_loaded
from tests.maps.test_map_templates import PAYLOADS
from tests.maps.worker_world import HOSTILE, count_visits, hostile_world, page_data
from tests.signing import PASSWORD, account

PAGE_BUDGET = 1_000_000


@pytest.fixture(scope="module")
def served(engine, database_url):
    with sample_loaded(engine, history=True):
        world = hostile_world(engine)
        with TestClient(create_app(Settings(database_url=database_url, tiles="none"))) as client:
            yield world, client


def _headers(client: TestClient, engine, role: str, scopes: list[str], login: str) -> dict:
    account(engine, role, scopes, login=login)
    response = client.post("/auth/token", data={"username": login, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_only_field_workers_get_the_page(served, engine):
    world, client = served
    response = client.get("/maps/worker", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fmaps%2Fworker"
    street, community = world.grid_code[:9], world.grid_code[:12]
    for role, scopes in (
        ("planner", [f"street:{street}"]),
        ("community_secretary", [f"community:{community}"]),
        ("street_leader", [f"street:{street}"]),
        ("admin", []),
    ):
        headers = _headers(client, engine, role, scopes, f"wm-{role.replace('_', '-')}")
        assert client.get("/maps/worker", headers=headers).status_code == 403, role


def test_a_worker_sees_their_grid_only_and_hostile_text_stays_data(served, engine):
    world, client = served
    headers = _headers(client, engine, "grid_worker", [f"grid:{world.grid_code}"], "wm-worker")
    response = client.get("/maps/worker", headers=headers)
    assert response.status_code == 200, response.text
    assert "private" in response.headers["cache-control"]
    page = response.text
    assert len(response.content) < PAGE_BUDGET
    data = page_data(page)
    assert [f["properties"]["code"] for f in data["grids"]["features"]] == [world.grid_code]
    assert world.other_grid_code not in page
    assert len(data["buildings"]["features"]) == world.buildings
    assert len(data["hazards"]) == world.open_hazards and len(data["requests"]) == world.open_requests
    with engine.connect() as conn:
        ids = set(conn.scalars(text("SELECT id FROM buildings WHERE grid_id = :g"), {"g": world.grid_id}))
    assert {f["properties"]["id"] for f in data["buildings"]["features"]} == ids
    # The hostile text is in the data as typed (the page writes it with textContent), never as markup.
    assert HOSTILE not in page and "<img src=x" not in page and "<script>window.__pwned" not in page
    hostile = [f for f in data["buildings"]["features"] if f["properties"]["id"] == world.hostile_building]
    assert hostile[0]["properties"]["name"] == HOSTILE
    assert HOSTILE in [h["description"] for h in data["hazards"]]
    assert HOSTILE in [r["description"] for r in data["requests"]]
    statuses = {f["properties"]["status"] for f in data["buildings"]["features"]}
    assert statuses <= {"overdue", "due", "done", "empty"} and statuses & {"overdue", "due"}
    # The walking order is the due list's (GET /visits/due), drawn on the buildings' points.
    due = client.get("/visits/due", headers=headers).json()
    assert [s[2] for s in data["tour"]["stops"]] == due["walk_order"]["building_ids"]
    assert data["user"]["login"] == "wm-worker" and data["api"] == ""
    assert external_urls(page) == []  # tiles off: nothing from any other host


def test_the_page_is_kept_per_user_and_changes_with_the_field_work(served, engine):
    world, client = served
    mine = _headers(client, engine, "grid_worker", [f"grid:{world.grid_code}"], "wm-worker-a")
    other = _headers(client, engine, "grid_worker", [f"grid:{world.other_grid_code}"], "wm-worker-b")
    first = client.get("/maps/worker", headers=mine)
    theirs = client.get("/maps/worker", headers=other)
    assert page_data(theirs.text)["user"]["login"] == "wm-worker-b"
    assert page_data(theirs.text)["grids"]["features"][0]["properties"]["code"] == world.other_grid_code
    again = client.get("/maps/worker", headers=mine | {"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    data = page_data(first.text)
    due_building = next(f["properties"] for f in data["buildings"]["features"] if f["properties"]["due"] > 0)
    household = next(h for h in data["households"][str(due_building["id"])] if h[3] is not None)
    client_id = str(uuid.uuid4())
    visit = {
        "client_id": client_id,
        "household_id": household[0],
        "visited_at": datetime.now(CHINA).isoformat(),
        "location": {"type": "Point", "coordinates": [due_building["lon"], due_building["lat"]]},
    }
    assert client.post("/visits", json=visit, headers=mine).status_code == 201
    after = client.get("/maps/worker", headers=mine | {"If-None-Match": first.headers["etag"]})
    assert after.status_code == 200  # a new page: the visit is on it
    moved = next(
        f["properties"]
        for f in page_data(after.text)["buildings"]["features"]
        if f["properties"]["id"] == due_building["id"]
    )
    assert moved["due"] == due_building["due"] - 1
    assert count_visits(engine, client_id) == 1


def test_a_party_member_gets_their_grid(served, engine):
    world, client = served
    headers = _headers(client, engine, "party_member", [f"grid:{world.grid_code}"], "wm-party")
    response = client.get("/maps/worker", headers=headers)
    assert response.status_code == 200
    assert [f["properties"]["code"] for f in page_data(response.text)["grids"]["features"]] == [world.grid_code]


def test_cli_writes_a_users_worker_map(served, engine, database_url, monkeypatch, tmp_path):
    world, _ = served
    account(engine, "grid_worker", [f"grid:{world.grid_code}"], login="wm-cli")
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    monkeypatch.setenv("GRIDMAP_TILES", "none")
    out = tmp_path / "worker.html"
    result = CliRunner().invoke(app, ["worker-map", "wm-cli", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert out.stat().st_size < PAGE_BUDGET and external_urls(page) == []
    data = page_data(page)
    assert data["api"] is None and len(data["buildings"]["features"]) == world.buildings
    assert HOSTILE not in page
    account(engine, "planner", [f"street:{world.grid_code[:9]}"], login="wm-cli-planner")
    refused = CliRunner().invoke(app, ["worker-map", "wm-cli-planner", "--out", str(tmp_path / "no.html")])
    assert refused.exit_code == 2 and "grid worker" in refused.output
    missing = CliRunner().invoke(app, ["worker-map", "nobody-here", "--out", str(tmp_path / "no.html")])
    assert missing.exit_code == 2 and "no enabled account" in missing.output


def test_every_hostile_text_comes_back_literally_from_the_data_block():
    """maps.worker without a database: each payload of the template tests (Jinja, </script>, onerror, lone
    surrogate-free Unicode, long text) in every text field comes back exactly as typed, and never as markup."""
    for k, payload in enumerate(PAYLOADS):
        building = box(113.55, 22.27, 113.5503, 22.2703)
        grids = gpd.GeoDataFrame({"code": ["440402001001001"], "name": [payload]}, geometry=[building.buffer(0.001)])
        buildings = gpd.GeoDataFrame(
            {"id": [1], "name": [payload], "kind": [payload], "lon": [113.5501], "lat": [22.2701], "households": [1],
             "care": [0]},
            geometry=[building], crs=4326,
        )  # fmt: skip
        households = pd.DataFrame({"id": [7], "building_id": [1], "unit": [payload], "room": [payload]})
        case = {
            "id": 3,
            "state_label": payload,
            "overdue": False,
            "description": payload,
            "lon": 113.5501,
            "lat": 22.27,
        }
        hazards = pd.DataFrame([case | {"category_name": payload, "severity": "high"}])
        requests = pd.DataFrame([case | {"service_name": payload}])
        due = {"households": [{"household_id": 7, "building_id": 1, "days_overdue": 3}], "today": "2026-12-06"}
        page = render_html(
            worker_map(
                grids=grids, buildings=buildings, households=households, hazards=hazards, requests=requests, due=due,
                categories=[("fire_lane", payload)], user={"id": 1, "login": payload}, tiles="none",
            )
        )  # fmt: skip
        data = page_data(page)
        assert data["grids"]["features"][0]["properties"]["name"] == payload, k
        building_props = data["buildings"]["features"][0]["properties"]
        assert building_props["name"] == payload and building_props["status"] == "overdue"
        assert data["households"]["1"] == [[7, payload, payload, 3]]
        assert data["hazards"][0]["description"] == payload and data["hazards"][0]["category_name"] == payload
        assert data["requests"][0]["description"] == payload and data["categories"] == [["fire_lane", payload]]
        assert data["user"]["login"] == payload
        if "<" in payload:
            assert payload not in page  # the markup only as \u003c … inside the JSON
