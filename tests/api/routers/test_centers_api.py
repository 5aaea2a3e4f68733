"""党员中心户 assignment stored in PostGIS and served by the API, on the sample street in a real database.

Rules checked in SQL on the stored rows (capacity, same grid); the total against gis.centers.assign run directly on the
generator's frames; stability by removing one center and re-running.
"""

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.main import create_app
from api.privacy import SMALL_COUNT, mask_name
from api.settings import Settings
from gis.centers import Access, assign_on_network, households_from_layers
from gis.network import build_walk_graph, household_doors, snap_points
from gis.workload import grid_workload
from tests.chromium import chromium_driver, js_errors, save_screenshot
from tests.conftest import ServerThread, sample_loaded
from tests.signing import browser_sign_in, signed_in


@pytest.fixture(scope="module")
def area(engine):
    with sample_loaded(engine) as area:
        yield area


@pytest.fixture(scope="module")
def client(area, database_url):
    with TestClient(create_app(Settings(database_url=database_url, tiles="none"))) as client:
        yield signed_in(client)


@pytest.fixture(scope="module")
def first_run(client):
    response = client.post("/centers/assign")
    assert response.status_code == 200, response.text
    return response.json()


def test_centers_map_before_any_assignment_is_409(client, engine):
    """Runs first: no run of this module is stored yet (emptied again in case another module left one)."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE center_assignments, center_runs"))
    response = client.get("/maps/centers")
    assert response.status_code == 409, response.text
    assert response.json() == {
        "code": "centers_unavailable",
        "detail": "no 中心户 assignment is stored yet: POST /centers/assign first",
    }


def test_stored_pairs_keep_capacity_and_grid(first_run, engine):
    with engine.connect() as conn:
        over = conn.scalar(
            text(
                "SELECT count(*) FROM (SELECT a.center_id, count(*) AS n, max(c.capacity) AS cap "
                "FROM center_assignments a JOIN center_households c ON c.household_id = a.center_id "
                "WHERE a.status <> 'center' GROUP BY a.center_id) t WHERE n > cap"
            )
        )
        across = conn.scalar(
            text(
                "SELECT count(*) FROM center_assignments a JOIN households h ON h.id = a.household_id "
                "JOIN households c ON c.id = a.center_id WHERE h.grid_id IS DISTINCT FROM c.grid_id"
            )
        )
        to_non_center = conn.scalar(
            text(
                "SELECT count(*) FROM center_assignments a LEFT JOIN center_households c "
                "ON c.household_id = a.center_id WHERE a.center_id IS NOT NULL AND c.household_id IS NULL"
            )
        )
        stored = conn.scalar(text("SELECT count(*) FROM center_assignments"))
        households = conn.scalar(text("SELECT count(*) FROM households"))
    assert over == 0 and across == 0 and to_non_center == 0
    assert stored == households == first_run["counts"]["households"]
    assert first_run["counts"]["assigned"] + first_run["counts"]["centers"] + first_run["counts"]["uncovered"] == stored


def test_total_matches_a_direct_run_on_the_frames(first_run, area):
    households = households_from_layers(area.households, area.center_households)
    graph = build_walk_graph(area.walk_nodes, area.walk_edges)
    doors = household_doors(households, households["building"], area.buildings)  # as the SQL's doors
    access = Access.from_snap(graph, snap_points(graph, doors))
    direct = assign_on_network(households, graph=graph.csr, node_xy=graph.node_xy, access=access)
    assert len(direct.uncovered) == first_run["counts"]["uncovered"]
    assert np.isclose(direct.total_walk_m, first_run["counts"]["total_walk_m"], atol=1.0)


def test_same_input_moves_nobody_and_grids_report(client, first_run):
    again = client.post("/centers/assign").json()
    assert again["counts"]["moved"] == 0 and again["moved"] == []
    assert again["counts"]["total_walk_m"] == first_run["counts"]["total_walk_m"]
    grids = client.get("/centers/grids").json()["grids"]
    assert sum(g["households"] for g in grids) == first_run["counts"]["households"]
    assert all(g["assigned"] + g["uncovered"] + g["centers"] == g["households"] for g in grids)
    assert client.get("/centers/grids", params={"grid_id": 999999}).status_code == 404


def test_removing_a_center_moves_only_its_households_and_chains(client, engine):
    with engine.connect() as conn:
        before = pd.read_sql(text("SELECT household_id, center_id, status FROM center_assignments"), conn)
        center = conn.scalar(
            text(
                "SELECT center_id FROM center_assignments WHERE status <> 'center' AND center_id IS NOT NULL "
                "GROUP BY center_id ORDER BY count(*) DESC, center_id LIMIT 1"
            )
        )
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM center_households WHERE household_id = :c"), {"c": center})
    body = client.post("/centers/assign").json()
    with engine.connect() as conn:
        after = pd.read_sql(text("SELECT household_id, center_id, status FROM center_assignments"), conn)
    merged = before.merge(after, on="household_id", suffixes=("_before", "_after"))
    theirs = merged[(merged["center_id_before"] == center) & (merged["status_before"] != "center")]
    changed = merged[
        (merged["status_before"] != "center")
        & (merged["center_id_before"] != merged["center_id_after"])
        & merged["center_id_before"].notna()
    ]
    assert len(theirs) > 0 and set(theirs["household_id"]) <= set(changed["household_id"])
    others = changed[changed["center_id_before"] != center]
    moved = {m["household_id"]: m["reason"] for m in body["moved"]}
    assert set(changed["household_id"]) == set(moved)  # the report lists exactly who moved
    assert all("make room" in moved[h] for h in others["household_id"])  # chains only, said so
    assert len(others) <= len(theirs)  # each chain starts at one of the removed center's households
    assert body["counts"]["moved"] == len(changed)
    # the former center household is now looked after like any other household, or uncovered with a reason
    assert after.loc[after["household_id"] == center, "status"].iloc[0] in ("assigned", "new", "uncovered", "moved")


def test_stored_run_caps_snapping_at_the_settings_max_snap_m(area, engine, database_url):
    """The stored path runs gis.centers.run with GRIDMAP_MAX_SNAP_M: a tiny cap leaves most doors off the network."""
    from api.stored_centers import assign_stored

    def uncovered(max_snap_m: float) -> int:
        settings = Settings(database_url=database_url, max_snap_m=max_snap_m)
        with engine.connect() as conn, conn.begin():
            return assign_stored(conn, stable=False, suggest=False, settings=settings).counts["uncovered"]

    assert uncovered(0.01) > uncovered(Settings().max_snap_m) + 100


def test_capacity_short_is_listed_with_reasons_and_suggestions(client, engine):
    with engine.begin() as conn:
        grid = conn.scalar(text("SELECT min(grid_id) FROM households"))
        conn.execute(
            text(
                "UPDATE center_households SET capacity = 1 WHERE household_id IN "
                "(SELECT id FROM households WHERE grid_id = :g)"
            ),
            {"g": grid},
        )
    body = client.post("/centers/assign").json()
    uncovered = client.get("/centers/uncovered", params={"grid_id": grid}).json()["households"]
    assert body["counts"]["uncovered"] > 0 and len(uncovered) > 0
    assert all("lacks" in u["reason"] for u in uncovered)
    suggested = [s for s in body["suggested_centers"] if s["grid_id"] == grid]
    assert suggested and sum(s["covers"] for s in suggested) <= len(uncovered)
    assert "name" not in str(uncovered[0]) and "phone" not in str(uncovered[0])


def test_workload_per_grid_and_worker(client, area):
    grids = pd.DataFrame(client.get("/workload/grids").json())
    direct = grid_workload(area.households, grids=area.grids, center_households=area.center_households)
    direct = direct.merge(area.grids[["source_id", "code"]], left_on="grid_ref", right_on="source_id")
    merged = grids.merge(direct, on="code", suffixes=("", "_direct"))
    assert len(merged) == len(area.grids)
    for column in ("households", "flagged"):
        assert (merged[column] == merged[f"{column}_direct"]).all(), column
    # Small special-care counts (1–4) are suppressed with the load they can be read back from; the rest agree.
    small = merged["special_care_direct"].between(1, SMALL_COUNT - 1)
    assert (merged["suppressed"] == small).all()
    assert merged.loc[small, ["special_care", "load"]].isna().all().all()
    shown = merged[~small]
    assert (shown["special_care"] == shown["special_care_direct"]).all() and (
        shown["load"] == shown["load_direct"]
    ).all()
    assert not [c for c in grids.columns if c.startswith("tag_")]  # no per-tag counts (刑满释放, 信访 …) served openly
    workers = pd.DataFrame(client.get("/workload/workers").json())
    assert len(workers) == len(area.grid_workers)
    assert np.isclose(workers["households"].sum(), grids["households"].sum())  # shared grids split, not doubled
    flagged = workers.loc[workers["flagged"] & ~workers["suppressed"], "reason"]
    assert set(flagged.str.contains("median")) <= {True}
    assert set(workers["name"]) == {mask_name(n) for n in area.grid_workers["name"]}
    assert not set(workers["name"]) & set(area.grid_workers["name"])  # no full name served
    assert "tags" not in grids.columns and client.get("/workload/grids", params={"factor": 0.5}).status_code == 422


@pytest.mark.browser
def test_centers_map_served_in_chromium(client, first_run, database_url, engine):
    with engine.connect() as conn:
        grid = conn.scalar(text("SELECT min(grid_id) FROM households"))
        counts = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE a.status = 'center'), count(*) FILTER (WHERE a.status = 'uncovered'), "
                "count(*) FROM center_assignments a JOIN households h ON h.id = a.household_id WHERE h.grid_id = :g"
            ),
            {"g": grid},
        ).one()
    settings = Settings(database_url=database_url, tiles="none")
    with ServerThread(settings) as server, chromium_driver() as driver:
        browser_sign_in(driver, server.url, engine)
        driver.get(f"{server.url}/maps/centers?grid_id={grid}")
        driver.implicitly_wait(5)
        drawn = driver.execute_script("return document.querySelectorAll('.leaflet-interactive').length")
        text_on_page = driver.execute_script("return document.body.innerText")
        save_screenshot(driver, "centers-map-served")
        errors = js_errors(driver)
    centers, uncovered, households = counts
    assert errors == []
    assert centers > 0 and drawn >= households  # every household is a marker, plus lines and the grid
    assert "中心户" in text_on_page
    assert client.get("/maps/centers", params={"grid_id": 999999}).status_code == 404


def test_cli_assign_and_map(client, engine, database_url, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from api.cli import app

    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    runner = CliRunner()
    result = runner.invoke(app, ["assign-centers"])
    # same input as the API's last run, in a grid short of places: nobody moves
    assert result.exit_code == 0 and "moved=0" in result.output and "uncovered:" in result.output, result.output
    out = tmp_path / "centers.html"
    with engine.connect() as conn:  # ids are not 1-based: other modules load the sample into the same database
        grid = conn.scalar(text("SELECT min(grid_id) FROM households"))
    drawn = runner.invoke(app, ["centers-map", "--grid-id", str(grid), "--out", str(out)])
    assert drawn.exit_code == 0 and out.stat().st_size > 10_000, drawn.output
    assert runner.invoke(app, ["centers-map", "--grid-id", "999999"]).exit_code == 2


def test_a_run_waits_for_a_run_being_stored(client, engine):
    """Storing a run truncates the pairs, which a transaction with an older snapshot would read as an empty table:
    a run that starts while another is being stored must wait for it and take its pairs as the previous ones."""
    import threading

    from api.stored_centers import assign_and_store

    client.post("/centers/assign")
    storing = engine.connect()
    storing.begin()
    storing.execute(text("LOCK TABLE center_assignments IN EXCLUSIVE MODE"))  # as assign_and_store starts
    storing.execute(text("CREATE TEMP TABLE kept_pairs ON COMMIT DROP AS SELECT * FROM center_assignments"))
    storing.execute(text("TRUNCATE center_assignments"))
    storing.execute(text("INSERT INTO center_assignments SELECT * FROM kept_pairs"))
    out = {}
    waiting = threading.Thread(target=lambda: out.setdefault("run", assign_and_store(engine)[1]))
    waiting.start()
    waiting.join(timeout=1.0)
    assert waiting.is_alive()  # blocked on the lock, before taking its snapshot
    storing.commit()
    storing.close()
    waiting.join(timeout=60)
    statuses = out["run"].assignment.households["status"]
    assert (statuses == "kept").sum() > 0 and not statuses.isin(["new", "moved"]).any()


def test_households_deleted_since_the_run(client, engine):
    """The stored rows have no foreign keys (migration 0004): a household deleted since the run is not read back, a
    deleted center reads as none, and the next run takes the rest as its previous."""
    client.post("/centers/assign")
    with engine.connect() as conn:
        center, gone = conn.execute(
            text(
                "SELECT a.center_id, min(a.household_id) FROM center_assignments a "
                "WHERE a.status <> 'center' AND a.center_id IS NOT NULL GROUP BY a.center_id "
                "ORDER BY count(*) DESC, a.center_id LIMIT 1"
            )
        ).one()
        grid = conn.scalar(text("SELECT grid_id FROM households WHERE id = :c"), {"c": center})
        looked_after = conn.scalar(
            text("SELECT count(*) FROM center_assignments WHERE center_id = :c AND status <> 'center'"), {"c": center}
        )
    before = client.get("/centers/grids", params={"grid_id": grid}).json()["grids"][0]
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM center_households WHERE household_id IN (:c, :h)"), {"c": center, "h": gone})
        conn.execute(text("DELETE FROM households WHERE id IN (:c, :h)"), {"c": center, "h": gone})
    after = client.get("/centers/grids", params={"grid_id": grid}).json()["grids"][0]
    assert after["assigned"] + after["uncovered"] + after["centers"] == after["households"] == before["households"] - 2
    # the deleted center's other households count as uncovered until the next run
    assert after["uncovered"] == before["uncovered"] + looked_after - 1
    assert after["assigned"] == before["assigned"] - looked_after
    page = client.get("/maps/centers", params={"grid_id": grid})
    assert page.status_code == 200, page.text
    body = client.post("/centers/assign").json()
    moved = {m["household_id"] for m in body["moved"]}
    assert str(gone) not in moved and int(gone) not in moved
    assert body["counts"]["moved"] >= looked_after - 1  # the deleted center's households, less the deleted one
    with engine.connect() as conn:
        stored = conn.scalar(
            text("SELECT count(*) FROM center_assignments WHERE household_id IN (:c, :h)"), {"c": center, "h": gone}
        )
        dangling = conn.scalar(text("SELECT count(*) FROM center_assignments WHERE center_id = :c"), {"c": center})
    assert stored == 0 and dangling == 0


def test_no_households_is_a_clear_409(client, engine):
    """Runs last: it empties the household layer of this module's sample."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM households"))  # not TRUNCATE … CASCADE, which would empty the accounts too
    response = client.post("/centers/assign")
    assert response.status_code == 409 and "households" in response.json()["detail"]
