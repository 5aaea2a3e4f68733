"""The leader map served by the running API, opened in headless Chromium on the sample street with its year of field
work: no console errors, nothing loaded from any other host with tiles off, the layers counted from the page's
Leaflet objects, the time slider moving the heat, hostile labels shown as text; a screenshot kept."""

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from api.settings import Settings
from tests.chromium import chromium_driver, js_errors, save_screenshot
from tests.conftest import HISTORY_UNTIL, ServerThread, sample_loaded
from tests.signing import browser_sign_in

pytestmark = pytest.mark.browser

PERIOD = f"from=2025-12-01&to={HISTORY_UNTIL.isoformat()}"
HOSTILE_CATEGORY = "<img src=x onerror=\"window.__pwned='category'\">"
HOSTILE_GRID = "<script>window.__pwned='grid'</script>"

# Counted from the map's own Leaflet objects.
COUNT_LAYERS = """
var map = Object.values(window).find(function (v) { return v instanceof L.Map; });
var counts = {heat: 0, clusters: 0, hazards: 0, closure: 0, hotspots: 0, overlays: 0};
map.eachLayer(function (layer) {
    if (layer instanceof L.TimeDimension.Layer && layer.gridmapKind === 'heat') counts.heat++;
    if (layer instanceof L.MarkerClusterGroup) { counts.clusters++; counts.hazards += layer.getLayers().length; }
    var p = layer.feature && layer.feature.properties;
    if (p && (p.layer === 'closure' || p.layer === 'hotspots')) counts[p.layer]++;
});
counts.overlays = document.querySelectorAll('.leaflet-control-layers-overlays label').length;
return counts;
"""
HEAT_STATE = """
var map = Object.values(window).find(function (v) { return v instanceof L.Map; });
var heat = null;
map.eachLayer(function (layer) { if (layer.gridmapKind === 'heat') heat = layer; });
return {time: heat._currentLoadedTime, points: JSON.stringify(heat._currentTimeData.data),
        label: document.querySelector('.timecontrol-date').textContent,
        canvas: document.querySelector('.heatmap-canvas').toDataURL()};
"""


@pytest.fixture(scope="module")
def street(engine, database_url) -> Iterator[str]:
    with sample_loaded(engine, history=True):
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO services (code, name, group_name, kind, deadline_hours, description) "
                     "VALUES ('hostile', :name, 'x', 'request', 24, 'x') "
                     "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name"),
                {"name": HOSTILE_CATEGORY},
            )  # fmt: skip
            conn.execute(text("UPDATE grids SET name = :n WHERE id = (SELECT min(id) FROM grids)"), {"n": HOSTILE_GRID})
            code = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
        yield code
        with engine.begin() as conn:  # the catalogue is not emptied with the layers: leave it as it was
            conn.execute(text("DELETE FROM services WHERE code = 'hostile'"))


def test_leader_map_in_chromium(street, engine, database_url):
    settings = Settings(database_url=database_url, tiles="none")
    with ServerThread(settings) as server, chromium_driver() as driver:
        browser_sign_in(driver, server.url, engine, role="street_leader", scopes=[f"street:{street}"])
        driver.get(f"{server.url}/maps/leader?{PERIOD}")
        driver.implicitly_wait(5)
        driver.find_element("css selector", ".timecontrol-date")
        counts = driver.execute_script(COUNT_LAYERS)
        before = driver.execute_script(HEAT_STATE)
        driver.find_element("css selector", ".timecontrol-backward").click()
        driver.find_element("css selector", ".timecontrol-backward").click()
        after = driver.execute_script(HEAT_STATE)
        save_screenshot(driver, "leader-map")
        loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        errors = js_errors(driver)
        # the grid's hostile name, shown in its tooltip as text
        tooltip = driver.execute_script(
            """var map = Object.values(window).find(function (v) { return v instanceof L.Map; });
            var text = null;
            map.eachLayer(function (layer) {
                var p = layer.feature && layer.feature.properties;
                if (p && p.layer === 'closure' && p.name.indexOf('pwned') >= 0) {
                    var at = layer.getBounds().getCenter();
                    layer.fire('mouseover', {latlng: at, layerPoint: map.latLngToLayerPoint(at),
                                             containerPoint: map.latLngToContainerPoint(at)}, true);
                }
            });
            Array.from(document.querySelectorAll('.leaflet-tooltip')).forEach(function (t) {
                if (t.textContent.indexOf('pwned') >= 0) text = t.textContent;
            });
            return text;"""
        )
        pwned_grid = driver.execute_script("return window.__pwned || null")
        # the hostile category chosen: its label in the legend and the filter, as text
        driver.get(f"{server.url}/maps/leader?{PERIOD}&category=hostile")
        legend = driver.find_element("css selector", ".gridmap-legend").text
        options = driver.execute_script(
            "return Array.from(document.querySelectorAll('select[name=category] option')).map(o => o.textContent)"
        )
        pwned_category = driver.execute_script("return window.__pwned || null")
        errors += js_errors(driver)
    assert errors == []
    assert all(url.startswith(server.url) for url in loaded), [u for u in loaded if not u.startswith(server.url)]
    assert counts["heat"] == 1 and counts["clusters"] == 1 and counts["hazards"] > 0
    assert counts["closure"] > 0 and counts["hotspots"] > 0
    assert counts["overlays"] == 5  # heat, hotspots, closure, overdue, hazards
    assert before["time"] != after["time"] and before["label"] != after["label"]
    assert before["points"] != after["points"] and before["canvas"] != after["canvas"]
    assert pwned_grid is None and pwned_category is None
    assert tooltip is not None and HOSTILE_GRID in tooltip
    assert HOSTILE_CATEGORY in legend
    assert any(HOSTILE_CATEGORY in option for option in options)


def test_leader_map_file_works_offline(street, database_url, tmp_path, monkeypatch):
    """`gridmap leader-map` writes one self-contained file: opened from disk it draws every layer, loads nothing."""
    from typer.testing import CliRunner

    from api.cli import app

    out = tmp_path / "leader.html"
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    monkeypatch.setenv("GRIDMAP_TILES", "none")
    result = CliRunner().invoke(app, ["leader-map", "--from", "2025-12-01", "--to", HISTORY_UNTIL.isoformat(),
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 0, result.output
    with chromium_driver() as driver:
        driver.get(out.as_uri())
        driver.implicitly_wait(5)
        driver.find_element("css selector", ".timecontrol-date")
        counts = driver.execute_script(COUNT_LAYERS)
        loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        errors = js_errors(driver)
    assert errors == []
    assert [url for url in loaded if not url.startswith("file:") and not url.startswith("data:")] == []
    assert counts["heat"] == 1 and counts["clusters"] == 1 and counts["hazards"] > 0 and counts["hotspots"] > 0
