"""The worker map in headless Chromium at a phone's size (360×740), served by the real API on the sample street with
its year of field work: the layers counted from the page's Leaflet objects, hostile text shown as text, nothing
loaded from another host, and a visit logged offline stored exactly once when the connection returns (also when
the answer to a first send was lost, and refused when a retry's content differs)."""

import json

import pytest
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text

from api.settings import Settings
from api.storage import SYSTEM, transaction
from tests.chromium import chromium_driver, js_errors, save_screenshot
from tests.conftest import ServerThread, sample_loaded
from tests.maps.worker_world import HOSTILE, count_visits, hostile_world
from tests.signing import browser_sign_in

pytestmark = pytest.mark.browser

PHONE = (360, 740)
NETWORK = {"latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}

LAYER_COUNTS_JS = """
var w = window.gridmapWorker, l = w.layers;
var keys = ['grids', 'buildings', 'hazards', 'requests', 'tour'];
return {
  grids: l.grids.getLayers().length,
  buildings: l.buildings.getLayers().length,
  hazards: l.hazards.getLayers().length,
  requests: l.requests.getLayers().length,
  stops: l.tour.getLayers().filter(function (x) { return x instanceof L.Marker; }).length,
  lines: l.tour.getLayers().filter(function (x) { return x instanceof L.Polyline; }).length,
  on_map: keys.filter(function (k) { return w.map.hasLayer(l[k]); }).length,
  overlays: document.querySelectorAll('.leaflet-control-layers-overlays input').length,
  collapsed: !document.querySelector('.leaflet-control-layers-expanded'),
  locate: document.querySelectorAll('.gridmap-locate a').length,
  viewport: (document.querySelector('meta[name=viewport]') || {}).content || '',
};
"""
POPUP_TEXTS_JS = """
var w = window.gridmapWorker, out = [];
function text(layer) {
  layer.openPopup();
  var c = layer.getPopup().getElement().querySelector('.leaflet-popup-content');
  out.push(c ? c.textContent : '');
  layer.closePopup();
}
w.layers.buildings.eachLayer(function (b) { if (b.feature.properties.id === HOSTILE_ID) text(b); });
w.layers.hazards.eachLayer(text);
w.layers.requests.eachLayer(text);
return out;
"""
LOSE_FIRST_ANSWER_JS = """
window.__realFetch = window.fetch;
var lost = false;
window.fetch = function (url, options) {
  return window.__realFetch(url, options).then(function (response) {
    if (!lost) { lost = true; throw new TypeError('the answer was lost'); }
    return response;
  });
};
"""
POPUP_SHOWN_JS = """
var p = document.querySelector('.leaflet-popup'), pan = window.gridmapWorker.map._panAnim;
return !!p && getComputedStyle(p).opacity === '1' && !(pan && pan._inProgress);
"""
DUE_JS = """
var done = arguments[arguments.length - 1];
fetch('/visits/due', {credentials: 'same-origin'}).then(function (r) { return r.json(); }).then(done);
"""


@pytest.fixture(scope="module")
def server(engine, database_url):
    with sample_loaded(engine, history=True):
        world = hostile_world(engine)
        with ServerThread(Settings(database_url=database_url, tiles="none")) as running:
            yield world, running


def _open_worker_map(driver, server, engine, world) -> None:
    driver.set_window_size(*PHONE)
    driver.get(f"{server.url}/maps/worker")
    assert "/login?next=%2Fmaps%2Fworker" in driver.current_url  # not signed in: to the sign-in form
    browser_sign_in(driver, server.url, engine, role="grid_worker", scopes=[f"grid:{world.grid_code}"])
    driver.get(f"{server.url}/maps/worker")
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return !!window.gridmapWorker"))


def _queue(driver) -> list:
    return driver.execute_script("return window.gridmapWorker.queue()")


def _status(driver) -> str:
    return driver.execute_script("return document.querySelector('.gridmap-queue').textContent")


def _popup_button(driver, building_id: int, label: str, click: bool = False) -> None:
    """Open the building's popup and, with `click`, press its button `label` (found when pressed: Leaflet may
    build the popup's content more than once while opening it)."""
    driver.execute_script(
        "var id = arguments[0]; window.gridmapWorker.layers.buildings.eachLayer(function (b) {"
        " if (b.feature.properties.id === id) b.openPopup(); });",
        building_id,
    )
    if click:
        pressed = driver.execute_script(
            "var label = arguments[0], b = Array.from(document.querySelectorAll('.leaflet-popup-content button'))"
            ".filter(function (b) { return b.textContent === label; })[0];"
            "if (b) b.click(); return !!b;",
            label,
        )
        assert pressed, f"no button {label} in the popup of building {building_id}"


def _click(driver, element) -> None:
    driver.execute_script("arguments[0].click()", element)


def test_worker_map_on_a_phone(server, engine):
    world, running = server
    with chromium_driver() as driver:
        _open_worker_map(driver, running, engine, world)
        counts = driver.execute_script(LAYER_COUNTS_JS)
        due = driver.execute_async_script(DUE_JS)
        texts = driver.execute_script(POPUP_TEXTS_JS.replace("HOSTILE_ID", str(world.hostile_building)))
        driver.execute_script("return new Promise(function (r) { setTimeout(r, 500); })")
        pwned = driver.execute_script("return window.__pwned === undefined ? null : window.__pwned")
        loaded = driver.execute_script(
            "return performance.getEntriesByType('resource').map(function (e) { return e.name; })"
        )
        due_building = next(
            f["properties"]["id"]
            for f in driver.execute_script("return window.gridmapWorker.data.buildings.features")
            if f["properties"]["due"] > 0 and f["properties"]["id"] != world.hostile_building
        )
        _popup_button(driver, due_building, "登记走访")  # the popup of a building due, for the screenshot
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(POPUP_SHOWN_JS))
        save_screenshot(driver, "worker-map")
        errors = js_errors(driver)
    assert errors == []
    assert counts["grids"] == 1 and counts["buildings"] == world.buildings
    assert counts["hazards"] == world.open_hazards and counts["requests"] == world.open_requests
    assert counts["stops"] == len(due["walk_order"]["building_ids"]) > 0 and counts["lines"] == 1
    assert counts["on_map"] == 5 and counts["overlays"] == 5 and counts["collapsed"] and counts["locate"] == 1
    assert "width=device-width" in counts["viewport"]
    # The hostile building name, hazard description and request text are shown as text; nothing ran.
    assert sum(HOSTILE in t for t in texts) == 3, texts
    assert pwned is None
    assert loaded and all(url.startswith(running.url) for url in loaded), loaded  # tiles off: gridmap only


def test_a_visit_logged_offline_is_stored_once(server, engine):
    world, running = server
    with chromium_driver() as driver:
        _open_worker_map(driver, running, engine, world)
        building, due_before = driver.execute_script(
            "var d = window.gridmapWorker.data; var p = d.buildings.features.map(function (f) { return f.properties; })"
            ".filter(function (p) { return p.due > 0 && (d.households[String(p.id)] || []).length; })[0];"
            "return [p.id, p.due];"
        )
        household = driver.execute_script(
            "return window.gridmapWorker.data.households[String(arguments[0])]"
            ".filter(function (h) { return h[3] !== null; })[0][0]",
            building,
        )
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, **NETWORK})
        _popup_button(driver, building, "登记走访", click=True)
        driver.execute_script(
            "document.querySelector('.gridmap-visit-form select[name=household_id]').value = String(arguments[0])",
            household,
        )
        driver.find_element("css selector", ".gridmap-visit-form textarea").send_keys("离线走访 <b>测试</b>")
        _click(driver, driver.find_element("css selector", ".gridmap-visit-form button[type=submit]"))
        WebDriverWait(driver, 10).until(lambda d: len(_queue(d)) == 1 and "离线" in _status(d))
        entry = _queue(driver)[0]
        assert count_visits(engine, entry["client_id"]) == 0  # nothing reached the server
        body = json.loads(entry["body"])
        assert body["notes"] == "离线走访 <b>测试</b>" and body["location"]["type"] == "Point"
        assert body["household_id"] == household

        # Back online: the queue is sent by itself (the `online` event), and emptied on the 201.
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, **NETWORK})
        WebDriverWait(driver, 10).until(lambda d: len(_queue(d)) == 0)  # well before the 30 s retry
        assert count_visits(engine, entry["client_id"]) == 1
        due_after = driver.execute_script(
            "var id = arguments[0]; return window.gridmapWorker.data.buildings.features"
            ".filter(function (f) { return f.properties.id === id; })[0].properties.due",
            building,
        )
        assert due_after == due_before - 1  # the building is drawn anew with one household fewer due

        # The answer to that send lost: the phone still holds the entry and sends it again on the next load; the
        # server answers 200 with the stored visit, the entry leaves the queue, and there is still one visit.
        key = driver.execute_script("return 'gridmap.queue.' + window.gridmapWorker.data.user.id")
        driver.execute_script("localStorage.setItem(arguments[0], JSON.stringify([arguments[1]]))", key, entry)
        driver.refresh()
        WebDriverWait(driver, 20).until(lambda d: d.execute_script("return !!window.gridmapWorker"))
        WebDriverWait(driver, 20).until(lambda d: len(_queue(d)) == 0 and "已提交" in _status(d))
        assert count_visits(engine, entry["client_id"]) == 1

        # A lost answer as it happens: the server stores the visit but the phone gets no answer (its fetch fails
        # after the request went through); the entry stays, goes again on the next round, and is stored once.
        driver.execute_script(LOSE_FIRST_ANSWER_JS)
        _popup_button(driver, building, "登记走访", click=True)
        driver.find_element("css selector", ".gridmap-visit-form textarea").send_keys("回答丢失")
        _click(driver, driver.find_element("css selector", ".gridmap-visit-form button[type=submit]"))
        WebDriverWait(driver, 10).until(lambda d: len(_queue(d)) == 1 and "离线" in _status(d))
        lost = _queue(driver)[0]
        assert count_visits(engine, lost["client_id"]) == 1  # stored, though the phone does not know it
        driver.execute_script("window.fetch = window.__realFetch; window.gridmapWorker.flush()")
        WebDriverWait(driver, 10).until(lambda d: len(_queue(d)) == 0 and "已提交" in _status(d))
        assert count_visits(engine, lost["client_id"]) == 1

        # The same client_id with other content: 409, shown and dropped; the stored visit unchanged.
        changed = entry | {"body": json.dumps(body | {"notes": "另一次"})}
        driver.execute_script("localStorage.setItem(arguments[0], JSON.stringify([arguments[1]]))", key, changed)
        driver.execute_script("window.gridmapWorker.flush()")
        WebDriverWait(driver, 20).until(lambda d: len(_queue(d)) == 0 and "409" in _status(d))
        assert count_visits(engine, entry["client_id"]) == 1

        # A hazard reported from the hostile building's popup: stored once, its text as typed.
        _popup_button(driver, world.hostile_building, "上报隐患", click=True)
        driver.find_element("css selector", ".gridmap-hazard-form textarea").send_keys(HOSTILE)
        _click(driver, driver.find_element("css selector", ".gridmap-hazard-form button[type=submit]"))
        WebDriverWait(driver, 20).until(lambda d: len(_queue(d)) == 0 and "已提交" in _status(d))
        errors = js_errors(driver)
        pwned = driver.execute_script("return window.__pwned === undefined ? null : window.__pwned")
    assert errors == [] and pwned is None
    with transaction(engine, scope=SYSTEM) as conn:
        rows = conn.execute(
            text("SELECT description, building_id FROM hazards WHERE description = :t AND building_id = :b"),
            {"t": HOSTILE, "b": world.hostile_building},
        ).all()
    assert len(rows) == 1
