"""The overview map served by the running API, opened in headless Chromium on the sample street."""

import time

import pytest
from sqlalchemy import text

from api.settings import Settings
from tests.chromium import chromium_driver, js_errors, save_screenshot
from tests.conftest import ServerThread, sample_loaded
from tests.signing import browser_sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sample_counts(engine, database_url):
    with sample_loaded(engine):
        with engine.connect() as conn:
            counts = {
                t: conn.scalar(text(f"SELECT count(*) FROM {t}"))
                for t in ("grids", "buildings", "service_points", "compounds", "communities")
            }
            types = conn.scalar(text("SELECT count(DISTINCT type) FROM service_points"))
        yield counts, types


def test_overview_map_in_chromium(sample_counts, database_url, engine):
    counts, service_types = sample_counts
    settings = Settings(database_url=database_url, tiles="none")
    with ServerThread(settings) as server, chromium_driver() as driver:
        driver.get(f"{server.url}/maps/overview")
        assert "/login?next=%2Fmaps%2Foverview" in driver.current_url  # not signed in: to the sign-in form
        browser_sign_in(driver, server.url, engine)
        driver.get(f"{server.url}/maps/overview")
        driver.implicitly_wait(5)
        deadline = time.monotonic() + 30  # grids, buildings and service points come from the vector tiles
        while time.monotonic() < deadline and not driver.execute_script(
            "return (window.gridmapTileLayers || []).length > 0 && window.gridmapTileLayers.every("
            "t => !t.layer.isLoading() && Object.keys(t.layer._vectorTiles).length > 0)"
        ):
            time.sleep(0.2)
        drawn = driver.execute_script("return document.querySelectorAll('.leaflet-interactive').length")
        overlays = driver.execute_script(
            "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
            ".map(l => l.textContent.trim())"
        )
        attribution = driver.execute_script("return document.querySelector('.leaflet-control-attribution').textContent")
        leaflet_from = driver.execute_script(
            "return Array.from(document.scripts).map(s => s.src).filter(s => s.includes('leaflet'))"
        )
        save_screenshot(driver, "overview-map")
        errors = js_errors(driver)
    assert errors == []
    # Every grid, building, compound and service point is an SVG/canvas path on the page.
    assert drawn >= counts["grids"] + counts["buildings"] + counts["service_points"] + counts["compounds"]
    # Grids, buildings, compounds, communities and one overlay per service type present in the sample.
    assert len(overlays) >= 4 + service_types
    assert any("网格" in name for name in overlays) and any("楼栋" in name for name in overlays)
    assert leaflet_from and all(src.startswith(server.url) for src in leaflet_from)
    assert "Leaflet" in attribution


def test_api_docs_render_offline(engine, database_url):
    """Swagger UI comes from gridmap itself, so /docs works on a closed network."""
    settings = Settings(database_url=database_url, tiles="none")
    with ServerThread(settings) as server, chromium_driver() as driver:
        driver.get(f"{server.url}/docs")
        driver.implicitly_wait(10)
        operations = driver.find_elements("css selector", ".opblock")
        scripts = driver.execute_script("return Array.from(document.scripts).map(s => s.src).filter(Boolean)")
        save_screenshot(driver, "api-docs")
        errors = js_errors(driver)
    assert errors == []
    assert len(operations) >= 4  # health, collections, items, overview map
    assert scripts and all(src.startswith(server.url) for src in scripts)
