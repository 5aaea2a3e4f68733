"""Base maps and tile-drawn pages in headless Chromium, on the sample street: for each base (OpenStreetMap,
Tianditu, AMap, an office tile server, none) the overview page loads with no console errors, asks no host but
gridmap for anything except that base's tiles (none at all without tiles; every other host fails to resolve, so
nothing reaches the real network), draws its base tile layers and gridmap's vector-tile layers (counted from the
page's Leaflet objects) and credits OpenStreetMap. A hostile name in the tiles shows as text in a popup and runs
nothing. Screenshots in tests/artifacts/."""

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from api.settings import Settings
from tests.chromium import NO_NETWORK, chromium_driver, js_errors, requested_urls, save_screenshot
from tests.conftest import ServerThread, sample_loaded
from tests.signing import bearer_headers, browser_sign_in

pytestmark = pytest.mark.browser

KEY = "a signing key for the base map browser tests, 0123456789abcdef"
TIANDITU_KEY = "0123456789abcdef0123456789abcdef"
OFFICE_TILES = "http://tiles.office.example:8080/basemap/{z}/{x}/{y}.png"
HOSTILE = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"
BUDGET = 300_000

BASES = {
    "openstreetmap": ({"tiles": "openstreetmap"}, 1, {"tile.openstreetmap.org"}),
    "tianditu": ({"tiles": "tianditu", "tianditu_key": TIANDITU_KEY}, 2, {f"t{n}.tianditu.gov.cn" for n in range(8)}),
    "amap": ({"tiles": "amap"}, 1, {f"webrd0{n}.is.autonavi.com" for n in range(1, 5)}),
    "office": ({"tiles": OFFICE_TILES, "tiles_attribution": "© 某区规划局"}, 1, {"tiles.office.example"}),
    "none": ({"tiles": "none"}, 0, set()),
}

# The folium map object of the page, its base tile layers, gridmap's tile layers (shown) and the SVG paths they drew.
COUNT_LAYERS = """
const map = Object.keys(window).map(k => window[k]).find(v => v instanceof L.Map);
const layers = Object.values(map._layers);
const tiled = (window.gridmapTileLayers || []);
return {
    base: layers.filter(l => l instanceof L.TileLayer).length,
    tileLayers: tiled.length,
    shown: tiled.filter(t => map.hasLayer(t.layer)).map(t => t.tiles),
    paths: document.querySelectorAll('.leaflet-gridmapTiles-pane path').length,
    attribution: document.querySelector('.leaflet-control-attribution').textContent,
};
"""


@pytest.fixture(scope="module")
def street(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine):
        with engine.begin() as conn:
            for table in ("buildings", "service_points"):
                first = f"(SELECT min(id) FROM {table})"
                conn.execute(text(f"UPDATE {table} SET name = :n WHERE id = {first}"), {"n": HOSTILE})
            # one building traced from OpenStreetMap: the maps must credit OSM on every base
            conn.execute(text("UPDATE buildings SET source = 'osm:way/1' WHERE id = (SELECT max(id) FROM buildings)"))
            types = conn.scalar(text("SELECT count(DISTINCT type) FROM service_points"))
        yield {"types": types}


def wait_for(driver, script: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def open_page(driver, server: ServerThread, engine, path: str, *, network_log: bool = True) -> dict:
    browser_sign_in(driver, server.url, engine)
    if network_log:
        requested_urls(driver)  # the sign-in's requests are not the map's
    driver.get(f"{server.url}{path}")
    assert wait_for(driver, "return document.querySelectorAll('.leaflet-gridmapTiles-pane path').length > 50")
    assert wait_for(driver, "return window.gridmapTileLayers.every(t => !t.layer._map || !t.layer.isLoading())")
    time.sleep(0.5)  # drawn
    return driver.execute_script(COUNT_LAYERS)


@pytest.mark.parametrize("base", list(BASES))
def test_overview_on_each_base_loads_only_its_tiles(base, street, engine, database_url):
    settings, base_layers, hosts = BASES[base]
    config = Settings(database_url=database_url, secret_key=KEY, **settings)  # type: ignore[arg-type]
    with ServerThread(config) as server, chromium_driver(flags=[NO_NETWORK], network_log=True) as driver:
        counts = open_page(driver, server, engine, "/maps/overview")
        urls = requested_urls(driver)
        save_screenshot(driver, f"overview-{base}")
        errors = js_errors(driver)
        size = len(httpx.get(f"{server.url}/maps/overview", headers=bearer_headers(server.url, engine)).content)
    assert errors == []
    elsewhere = {urlsplit(url).hostname for url in urls if urlsplit(url).scheme in ("http", "https")} - {"127.0.0.1"}
    assert elsewhere <= hosts  # nothing but the base's tiles from another host …
    if hosts:
        assert elsewhere, "the base's tiles were asked for"  # … and those were
    assert not [url for url in urls if urlsplit(url).scheme not in ("http", "https", "data", "blob")]
    assert counts["base"] == base_layers
    # grids, buildings and one layer per service type from the vector tiles, all shown
    assert counts["tileLayers"] == 2 + street["types"] and {"grids", "buildings"} <= set(counts["shown"])
    assert any("/tiles/buildings/" in url and (".pbf?crs=gcj02" in url) == (base == "amap") for url in urls)
    assert "OpenStreetMap contributors" in counts["attribution"]
    assert size < BUDGET


def test_hostile_names_in_the_tiles_show_as_text(street, engine, database_url):
    config = Settings(database_url=database_url, secret_key=KEY, tiles="none")
    with ServerThread(config) as server, chromium_driver(flags=[NO_NETWORK]) as driver:
        open_page(driver, server, engine, "/maps/overview", network_log=False)
        clicked = wait_for(
            driver,
            """
            for (const t of window.gridmapTileLayers) {
                for (const tile of Object.values(t.layer._vectorTiles || {})) {
                    for (const f of Object.values(tile._features || {})) {
                        const p = f.feature.properties;
                        if (String(p.name || '').includes('<script>')) {
                            t.layer.fire('click', {layer: f.feature, latlng: t.layer._map.getCenter()});
                            return t.tiles;
                        }
                    }
                }
            }
            return null;
            """,
        )
        popup = driver.execute_script(
            "const p = document.querySelector('.leaflet-popup-content');"
            "return p && {text: p.textContent, imgs: p.querySelectorAll('img, script').length}"
        )
        time.sleep(0.5)
        pwned = driver.execute_script("return window.__pwned || null")
        save_screenshot(driver, "overview-hostile-popup")
        errors = js_errors(driver)
    assert clicked in ("buildings", "service_points")
    assert popup is not None and HOSTILE in popup["text"] and popup["imgs"] == 0
    assert pwned is None and errors == []


def test_coverage_map_draws_from_tiles_on_amap(street, engine, database_url):
    config = Settings(database_url=database_url, secret_key=KEY, tiles="amap")
    with ServerThread(config) as server, chromium_driver(flags=[NO_NETWORK], network_log=True) as driver:
        counts = open_page(driver, server, engine, "/maps/coverage?service_type=clinic")
        urls = requested_urls(driver)
        save_screenshot(driver, "coverage-amap")
        errors = js_errors(driver)
    assert errors == []
    assert {"coverage", "service_points"} <= set(counts["shown"]) and counts["base"] == 1
    assert any("/tiles/coverage/" in url and url.endswith("?crs=gcj02") for url in urls)
    hosts = {urlsplit(url).hostname for url in urls if urlsplit(url).scheme in ("http", "https")} - {"127.0.0.1"}
    assert hosts <= BASES["amap"][2]
    assert "OpenStreetMap contributors" in counts["attribution"] and "高德" in counts["attribution"]
