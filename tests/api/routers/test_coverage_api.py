"""Coverage stored in PostGIS and served by the API, on the sample street in a real database.

The stored rows are checked against gis.coverage.core run directly on the generator's frames (the method itself is
checked against networkx in tests/test_coverage.py); the SQL statistics against gis.coverage.report.gap_report.
"""

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.coverage_state import refresh
from api.main import create_app
from api.settings import Settings
from api.storage import database
from gis.coverage import coverage, gap_report, population
from gis.network import build_walk_graph
from tests.chromium import chromium_driver, js_errors, save_screenshot, wait_for_tile_layers
from tests.conftest import ServerThread, sample_loaded
from tests.signing import browser_sign_in, signed_in

PROFILES = {"standard": 1.2, "elderly": 0.8}


@pytest.fixture(scope="module")
def area(engine):
    with sample_loaded(engine) as area:
        yield area


@pytest.fixture(scope="module")
def settings(database_url) -> Settings:
    return Settings(database_url=database_url, tiles="none")


@pytest.fixture(scope="module")
def client(area, settings):
    with TestClient(create_app(settings)) as client:
        yield signed_in(client)


@pytest.fixture(scope="module")
def direct(area):
    """gis.coverage.core on the generator's own frames, keyed by the sample's source ids."""
    graph = build_walk_graph(area.walk_nodes, area.walk_edges)
    return coverage(graph, area.buildings, area.service_points, profiles=PROFILES).table()


def _ids(engine, table: str) -> dict[int, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text(f"SELECT id, source_id FROM {table}")).all())


def test_stored_rows_match_a_direct_computation(client, engine, direct):
    assert client.get("/coverage/status").status_code == 200  # computes and stores on first use
    with engine.connect() as conn:
        stored = pd.read_sql(text("SELECT * FROM building_coverage"), conn)
    buildings, points = _ids(engine, "buildings"), _ids(engine, "service_points")
    stored["building_id"] = stored["building_id"].map(buildings)
    stored["service_id"] = stored["service_point_id"].map(lambda i: None if pd.isna(i) else points[int(i)])
    merged = direct.merge(stored, on=["building_id", "service_type"], how="left", suffixes=("", "_db"))
    types = set(direct["service_type"])
    assert len(stored) >= len(direct) and merged["walk_m_db"].notna().sum() == direct["walk_m"].notna().sum()
    assert np.allclose(merged["walk_m"], merged["walk_m_db"], atol=0.01, equal_nan=True)
    same = (merged["service_id"] == merged["service_id_db"]).mean()
    assert same > 0.999, f"nearest point differs for {1 - same:.2%} of rows (ties only are allowed)"
    # required 完整社区 types are stored even when the area has none of them
    assert types <= set(stored["service_type"])


def test_refresh_only_when_an_input_changes(client, engine, settings, area):
    run, state = refresh(engine, settings)
    assert state is None  # nothing changed since the first request
    with engine.begin() as conn:  # households are not an input: no recomputation
        conn.execute(text("UPDATE households SET size = size WHERE id = (SELECT min(id) FROM households)"))
    assert refresh(engine, settings)[1] is None
    with engine.begin() as conn:
        conn.execute(text("UPDATE service_points SET name = name WHERE id = (SELECT min(id) FROM service_points)"))
    run2, state2 = refresh(engine, settings)
    assert state2 is not None and run2["input_version"] != run["input_version"]
    assert client.post("/coverage/refresh").json()["recomputed"] is False


def test_stats_agree_with_gap_report(client, area, direct):
    rows = client.get("/coverage/stats", params={"by": "all"}).json()["rows"]
    got = pd.DataFrame(rows).set_index(["service_type", "profile", "level"])
    expected = gap_report(direct, population(area.buildings, area.households), by=None)
    expected = expected.set_index(["service_type", "profile", "level"])
    assert len(got) == len(expected) == len(set(direct["service_type"])) * 2 * 3
    for column in ("buildings_covered", "households_covered", "residents_covered", "residents"):
        assert (got.loc[expected.index, column].to_numpy() == expected[column].to_numpy()).all(), column
    by_grid = pd.DataFrame(client.get("/coverage/stats", params={"by": "grid"}).json()["rows"])
    summed = by_grid.groupby(["service_type", "profile", "level"])["residents_covered"].sum()
    assert (summed.loc[got.index] == got["residents_covered"]).all()
    assert by_grid["group_name"].notna().all() and by_grid["group_id"].nunique() == len(area.grids)


def test_uncovered_geojson_matches_the_stats(client):
    params = {"service_type": "elderly_care", "profile": "elderly", "level": 5}
    body = client.get("/coverage/uncovered", params={**params, "limit": 5000}).json()
    rows = client.get("/coverage/stats", params={"by": "all", "service_type": "elderly_care"}).json()["rows"]
    row = next(r for r in rows if r["profile"] == "elderly" and r["level"] == 5)
    assert body["numberMatched"] == row["buildings_uncovered"] == len(body["features"]) > 0
    budget = 5 * 60 * 0.8
    walks = [f["properties"]["walk_m"] for f in body["features"]]
    assert all(w is None or w > budget for w in walks)
    assert walks == sorted(walks, key=lambda w: -np.inf if w is None else -w)
    assert {"name", "grid", "residents"} <= set(body["features"][0]["properties"])
    assert "phone" not in str(body["features"][0]["properties"])


def test_completeness_lists_missing_types(client):
    body = client.get("/coverage/completeness", params={"profile": "elderly", "level": 5}).json()
    assert body["rows"] and all(
        set(r["shares"]) == {"kindergarten", "elderly_care", "clinic", "party_center"} for r in body["rows"]
    )
    for row in body["rows"]:
        assert row["complete"] == (not row["missing"])
        assert all(row["shares"][t] < 0.85 for t in row["missing"])


def test_circles_per_point(client, engine):
    point_id = min(_ids(engine, "service_points"))
    body = client.get("/coverage/circles", params={"service_point_id": point_id}).json()
    kinds = {(f["properties"]["kind"], f["properties"]["level"]) for f in body["features"]}
    assert kinds == {(k, lv) for k in ("network", "euclidean") for lv in (5.0, 10.0, 15.0)}
    assert all(f["properties"]["service_point_id"] == str(point_id) for f in body["features"])
    assert client.get("/coverage/circles", params={"service_point_id": 999999}).status_code == 404
    assert client.get("/coverage/circles").status_code == 400


def test_siting_gains_uncovered_residents(client):
    body = client.post(
        "/coverage/siting", json={"service_type": "elderly_care", "profile": "elderly", "level": 5, "k": 3}
    ).json()
    gains = [f["properties"]["residents_gained"] for f in body["features"]]
    assert gains and gains[0] > 0 and gains == sorted(gains, reverse=True)
    nodes = client.post("/coverage/siting", json={"service_type": "elderly_care", "level": 5, "candidates": "nodes"})
    assert nodes.status_code == 200
    bad = client.post("/coverage/siting", json={"service_type": "spa", "k": 3})
    assert bad.status_code == 422 and "service_type" in bad.json()["detail"] and "spa" in bad.json()["detail"]


def test_scenario_add_and_remove(client, engine):
    uncovered = client.get(
        "/coverage/uncovered", params={"service_type": "elderly_care", "profile": "elderly", "level": 5, "limit": 1}
    ).json()["features"][0]
    lon, lat = np.asarray(uncovered["geometry"]["coordinates"][0], dtype=float).reshape(-1, 2).mean(axis=0)
    change = {"action": "add", "service_type": "elderly_care", "lon": lon, "lat": lat}
    body = client.post("/coverage/scenario", json={"changes": [change], "profile": "elderly", "level": 5}).json()
    result = body["results"][0]
    assert result["newly_covered_buildings"] >= 1 and result["newly_uncovered_buildings"] == 0
    assert result["after"]["residents_covered"] > result["before"]["residents_covered"]
    assert sum(g["buildings_covered_change"] for g in result["changed_groups"]) == result["newly_covered_buildings"]
    point_id = min(_ids(engine, "service_points"))
    removed = client.post("/coverage/scenario", json={"changes": [{"action": "remove", "service_point_id": point_id}]})
    assert removed.status_code == 200 and removed.json()["results"][0]["newly_covered_buildings"] == 0
    with engine.connect() as conn:  # a scenario stores nothing
        assert conn.scalar(text("SELECT count(*) FROM service_points WHERE id = :i"), {"i": point_id}) == 1


@pytest.mark.parametrize(
    "change, status, words",
    [
        ({"action": "remove", "service_point_id": 999999}, 400, "999999"),
        ({"action": "add", "service_type": "elderly_care"}, 422, "lon and lat"),
        ({"action": "add", "service_type": "spa", "lon": 116.4, "lat": 39.9}, 422, "spa"),
        ({"action": "move", "service_point_id": 1, "lon": 10.0, "lat": 39.9}, 422, "lon"),
    ],
)
def test_scenario_bad_input(client, change, status, words):
    response = client.post("/coverage/scenario", json={"changes": [change]})
    assert response.status_code == status and words in str(response.json()["detail"])


def test_no_network_is_a_clear_409(database_url):
    url = make_url(database_url)
    url = url.set(database=f"{url.database}_empty").render_as_string(hide_password=False)
    database.create_database(url)
    try:
        database.init_database(url)
        with TestClient(create_app(Settings(database_url=url, tiles="none"))) as empty:
            response = signed_in(empty).get("/coverage/stats")
        assert response.status_code == 409 and "walk network" in response.json()["detail"]
    finally:
        database.drop_database(url)


@pytest.mark.browser
def test_planner_map_served_in_chromium(client, settings, area, engine):
    with ServerThread(settings) as server, chromium_driver() as driver:
        browser_sign_in(driver, server.url, engine, role="planner", scopes=[f"street:{area.streets['code'].iloc[0]}"])
        driver.get(f"{server.url}/maps/coverage?service_type=elderly_care&profile=elderly&suggest=2")
        driver.implicitly_wait(5)
        assert wait_for_tile_layers(driver)  # buildings and points come from the vector tiles
        drawn = driver.execute_script("return document.querySelectorAll('.leaflet-interactive').length")
        overlays = driver.execute_script(
            "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
            ".map(l => l.textContent.trim())"
        )
        legend = driver.execute_script("return document.body.innerText")
        save_screenshot(driver, "coverage-map-served")
        errors = js_errors(driver)
    assert errors == []
    assert drawn >= len(area.buildings)
    assert len(overlays) >= 4
    assert "分钟" in legend


def test_cli_refresh_and_planner_map(client, database_url, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from api.cli import app

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    runner = CliRunner()
    result = runner.invoke(app, ["refresh-coverage"])
    assert result.exit_code == 0, result.output
    assert "residents beyond 15 min" in result.output and "社区" in result.output
    out = tmp_path / "planner.html"
    result = runner.invoke(app, ["coverage-map", "--type", "clinic", "--out", str(out), "--suggest", "0"])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 100_000 and "leaflet" in out.read_text().lower()
    bad = runner.invoke(app, ["coverage-map", "--type", "spa"])
    assert bad.exit_code == 2 and "spa" in bad.output
