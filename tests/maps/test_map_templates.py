"""Text from data never runs: every text field that reaches a map × hostile strings, served and from the CLI.

A place name once went through Jinja a second time when a map was rendered (maps/render.py tells how), so a
name ran code on the server. The property checked here, for every map gridmap draws: the page renders, each
hostile string comes back literally (in the features' properties, tooltips, permanent labels, layer control and
legend, as Chromium decodes them), nothing is evaluated and no script from the data runs.
"""

import json
import time

import folium
import geopandas as gpd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.utils import htmlsafe_json_dumps
from shapely.geometry import Point, box
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from api.settings import Settings
from maps import render_html
from maps.base import escape
from maps.overview import overview_map
from maps.render import is_installed
from tests.api.cli.test_centers_cli import households_from_osm, run_cli, write_geojson
from tests.chromium import chromium_driver, js_errors, save_screenshot
from tests.conftest import ServerThread, need_shared_data, sample_loaded
from tests.signing import browser_sign_in, signed_in

PAYLOADS = (
    "{{7*7}} clinic",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{% for i in range(3) %}loop{% endfor %}",
    "Clinic {#3 east",
    "{# a comment #} {%raw%} {{ '}}' }}",
    "</script><script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "'\"` ${window.__pwned = 'template literal'} \\ \\n \\u0027 </style>",
    "𠮷野家 😀 網格 \u200b",
    "长" * 1500 + "{{7*7}}",
)
X0, Y0 = 113.55, 22.27


def hostile(field: str, k: int) -> str:
    """Payload k for `field`, tagged so the page's copy can be traced back to the field."""
    return f"§{field}#{k} {PAYLOADS[k % len(PAYLOADS)]}"


# --- folium itself --------------------------------------------------------------------------------------------


def test_one_pass_rendering_is_installed():
    assert is_installed()


@pytest.mark.parametrize("payload", PAYLOADS, ids=[f"payload{k}" for k in range(len(PAYLOADS))])
def test_folium_popup_tooltip_and_html_render_data_literally(payload):
    """Popup and Tooltip took the path that compiled rendered markup (folium.map.Element(rendered))."""
    fmap = folium.Map(location=(Y0, X0), tiles=None)
    marker = folium.Marker((Y0, X0))
    marker.add_child(folium.Popup(escape(payload)))
    marker.add_child(folium.Tooltip(escape(payload)))
    marker.add_to(fmap)
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [X0, Y0]}, "properties": {"n": payload}}
    folium.GeoJson(
        {"type": "FeatureCollection", "features": [feature]},
        name=escape(payload),
        tooltip=folium.GeoJsonTooltip(fields=["n"]),
        popup=folium.GeoJsonPopup(fields=["n"]),
    ).add_to(fmap)
    folium.LayerControl().add_to(fmap)
    page = render_html(fmap)
    assert escape(payload) in page
    # The raw property, as json.dumps or Jinja's tojson (which also escapes < > & ') writes it.
    assert json.dumps(payload)[1:-1] in page or str(htmlsafe_json_dumps(payload))[1:-1] in page


def test_render_html_refuses_without_the_one_pass_rendering(monkeypatch):
    import branca.element

    monkeypatch.setattr(branca.element.MacroElement, "render", lambda self, **kw: None)
    with pytest.raises(RuntimeError, match="Jinja"):
        render_html(folium.Map(location=(Y0, X0), tiles=None))


# --- the overview map as a property over text ------------------------------------------------------------------

# Jinja, HTML and JS syntax mixed with ordinary text, so that the generator reaches delimiters, quotes and escapes.
FRAGMENTS = st.sampled_from(["{{", "}}", "{%", "%}", "{#", "#}", "<", ">", "</script>", "'", '"', "`", "${", "\\", "&"])
TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=12).map("".join)


def _overview_frames(texts: list[str]) -> dict[str, gpd.GeoDataFrame]:
    t = iter(texts)
    grid = box(X0, Y0, X0 + 0.004, Y0 + 0.004)
    point = Point(X0 + 0.001, Y0 + 0.001)
    return {
        "grids": gpd.GeoDataFrame({"code": [next(t)], "name": [next(t)]}, geometry=[grid], crs=4326),
        "buildings": gpd.GeoDataFrame(
            {"kind": [next(t)], "floors": [3], "households": [9]},
            geometry=[box(X0 + 0.001, Y0 + 0.001, X0 + 0.0012, Y0 + 0.0012)],
            crs=4326,
        ),
        "service_points": gpd.GeoDataFrame({"name": [next(t)], "type": [next(t)]}, geometry=[point], crs=4326),
        "compounds": gpd.GeoDataFrame({"name": [next(t)]}, geometry=[grid.buffer(-0.001)], crs=4326),
        "communities": gpd.GeoDataFrame({"code": [next(t)], "name": [next(t)]}, geometry=[grid], crs=4326),
    }


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.lists(TEXT, min_size=8, max_size=8))
def test_overview_map_renders_any_text_literally(texts):
    page = render_html(overview_map(**_overview_frames(texts), tiles="none"))
    for value in texts:
        forms = {escape(value), json.dumps(escape(value))[1:-1], str(htmlsafe_json_dumps(escape(value)))[1:-1]}
        assert any(form in page for form in forms), value


# --- every map, served and from the CLI, in Chromium ----------------------------------------------------------

# Every string the page shows, as the browser decodes it: feature properties, every tooltip opened, the
# permanent labels, the layer control and the legend (tooltips opened for a few features of each kind).
# window.__pwned is set by any payload that runs.
COLLECT = """
const decode = s => { const t = document.createElement('textarea'); t.innerHTML = s; return t.value; };
const maps = Object.keys(window).filter(k => k.startsWith('map_')).map(k => window[k])
    .filter(v => v instanceof L.Map);
const texts = [];
const opened = {};
for (const map of maps) {
  const layers = [];
  map.eachLayer(layer => layers.push(layer));
  for (const layer of layers) {
    if (!layer.feature) continue;
    const values = Object.values(layer.feature.properties || {}).filter(v => typeof v === 'string');
    values.forEach(v => texts.push(decode(v)));
    const kind = Object.keys(layer.feature.properties || {}).sort().join(',');
    opened[kind] = (opened[kind] || 0) + 1;
    if (values.some(v => v.includes('§')) && opened[kind] <= 5) {  // a few tooltips of each kind of feature
      const at = layer.getCenter ? layer.getCenter() : layer.getLatLng();
      layer.fire('mouseover', {latlng: at}, true);
      document.querySelectorAll('.leaflet-tooltip').forEach(el => texts.push(el.textContent));
      layer.fire('mouseout', {latlng: at}, true);
    }
  }
}
// Layers drawn from gridmap's vector tiles (maps.vectortiles): the properties of every feature drawn, as the tiles
// carry them (raw text), and the tooltips of a few features of each layer.
for (const t of (window.gridmapTileLayers || [])) {
  let n = 0;
  for (const tile of Object.values(t.layer._vectorTiles || {})) {
    for (const f of Object.values(tile._features || {})) {
      const p = f.feature.properties || {};
      Object.values(p).filter(v => typeof v === 'string').forEach(v => texts.push(v));
      if (n++ < 5) {
        t.layer.fire('mouseover', {layer: f.feature, latlng: t.layer._map.getCenter()});
        document.querySelectorAll('.leaflet-tooltip').forEach(el => texts.push(el.textContent));
        t.layer.fire('mouseout', {layer: f.feature});
      }
    }
  }
}
for (const el of document.querySelectorAll('.leaflet-control-layers, .gridmap-legend, .leaflet-tooltip')) {
  texts.push(el.textContent);
}
return {texts: texts, pwned: window.__pwned === undefined ? null : String(window.__pwned), maps: maps.length};
"""


TILES_LOADED = """
return (window.gridmapTileLayers || []).every(t => !t.layer._map
    || (!t.layer.isLoading() && Object.keys(t.layer._vectorTiles || {}).length > 0));
"""


def check_page(driver, url: str, expected: set[str], name: str) -> None:
    """Open `url`: it renders one map, shows every expected string literally, and ran nothing from the data."""
    driver.get(url)
    driver.implicitly_wait(5)
    driver.set_script_timeout(120)
    deadline = time.monotonic() + 30  # tile layers: every shown one has loaded its tiles
    while time.monotonic() < deadline and not driver.execute_script(TILES_LOADED):
        time.sleep(0.2)
    seen = driver.execute_script(COLLECT)
    save_screenshot(driver, f"hostile-{name}")
    assert seen["maps"] == 1, name
    assert seen["pwned"] is None, f"{name}: a hostile string ran as script ({seen['pwned']})"
    shown = "\n".join(seen["texts"])
    missing = sorted(value[:60] for value in expected if value not in shown)
    assert not missing, f"{name}: not shown literally: {missing}"
    assert js_errors(driver) == [], name


@pytest.fixture(scope="module")
def hostile_area(engine, database_url):
    """The sample street with hostile text in every free-text column a map reads; coverage and 中心户 computed."""
    fields = {
        "communities": ["name"],
        "grids": ["name"],
        "compounds": ["name"],
        "buildings": ["kind", "name"],
        "service_points": ["name", "level", "hours"],
    }
    with sample_loaded(engine):
        written: dict[str, set[str]] = {}
        with engine.begin() as conn:
            for table, columns in fields.items():
                ids = conn.scalars(text(f"SELECT id FROM {table} ORDER BY id")).all()
                for column in columns:
                    field = f"{table}.{column}"
                    for k, row_id in enumerate(ids):
                        # Few rows (communities): each carries several payloads, so every payload is stored.
                        value = " ".join(hostile(field, j) for j in range(k, len(PAYLOADS), len(ids)))
                        value = value or hostile(field, k)
                        conn.execute(
                            text(f"UPDATE {table} SET {column} = :v WHERE id = :id"), {"v": value, "id": row_id}
                        )
                        written.setdefault(field, set()).add(value)
            # The planner map draws the points of the type it is for.
            written["party_center.name"] = set(
                conn.scalars(text("SELECT name FROM service_points WHERE type = 'party_center'"))
            )
        settings_ = Settings(database_url=database_url, tiles="none")
        from fastapi.testclient import TestClient

        from api.main import create_app

        with TestClient(create_app(settings_)) as client:
            signed_in(client)
            assert client.post("/coverage/refresh").status_code == 200
            assert client.post("/centers/assign").status_code == 200
        yield {"written": written, "settings": settings_, "engine": engine}


def _expected(written: dict[str, set[str]], *fields: str) -> set[str]:
    return set().union(*(written[f] for f in fields))


@pytest.mark.browser
def test_served_maps_show_hostile_text_literally(hostile_area):
    written = hostile_area["written"]
    overview = _expected(written, "grids.name", "compounds.name", "buildings.kind", "service_points.name")
    with ServerThread(hostile_area["settings"]) as server, chromium_driver() as driver:
        browser_sign_in(driver, server.url, hostile_area["engine"])
        check_page(driver, f"{server.url}/maps/overview", overview, "served-overview")
        planner = _expected(written, "buildings.name", "party_center.name")
        check_page(driver, f"{server.url}/maps/coverage?service_type=party_center", planner, "served-coverage")
        check_page(driver, f"{server.url}/maps/centers", set(), "served-centers")


@pytest.mark.browser
def test_cli_maps_show_hostile_text_literally(hostile_area, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", hostile_area["settings"].database_url)
    monkeypatch.setenv("GRIDMAP_TILES", "none")
    runner = CliRunner()
    pages = {
        "overview": ["overview-map"],
        "coverage": ["coverage-map", "--type", "party_center"],
        "centers": ["centers-map"],
    }
    written = hostile_area["written"]
    expected = {
        "overview": _expected(written, "grids.name", "compounds.name", "buildings.kind", "service_points.name"),
        "coverage": _expected(written, "buildings.name", "party_center.name"),
        "centers": set(),  # grid codes are digits (a check constraint); ids are numbers: no free text here
    }
    with chromium_driver() as driver:
        for name, args in pages.items():
            out = tmp_path / f"{name}.html"
            result = runner.invoke(app, [*args, "--out", str(out)])
            assert result.exit_code == 0, result.output
            check_page(driver, out.as_uri(), expected[name], f"cli-{name}")


@pytest.mark.browser
def test_file_mode_maps_show_hostile_text_literally(tmp_path):
    """`gridmap coverage --map` and `gridmap centers --map` draw names, types, ids and grid ids from files."""
    osm = need_shared_data() / "osm" / "zhuhai-xiangzhou.osm.pbf"
    services = [
        (hostile("id", k), "elderly_care" if k % 2 else "clinic", hostile("name", k), 113.530 + 0.002 * k, 22.276)
        for k in range(len(PAYLOADS))
    ]
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [x, y]},
         "properties": {"id": i, "type": t, "name": n}}
        for i, t, n, x, y in services
    ]  # fmt: skip
    path = tmp_path / "services.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
    page = tmp_path / "coverage.html"
    result = CliRunner().invoke(
        app,
        ["coverage", "--osm", str(osm), "--services", str(path), "--out", str(tmp_path / "c.csv"),
         "--map", str(page), "--map-type", "elderly_care"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    shown = {n for _, t, n, _, _ in services if t == "elderly_care"}

    # 中心户 file mode: household ids and grid ids are free text from the file.
    collection = households_from_osm(osm)
    features = collection["features"]
    grids = sorted({f["properties"]["grid_id"] for f in features})
    renamed = {grid: hostile("grid_id", k) for k, grid in enumerate(grids)}
    for k, feature in enumerate(features):
        props = feature["properties"]
        props["grid_id"] = renamed[props["grid_id"]]
        if props["is_center"] or k % 50 == 0:
            props["id"] = hostile("id", k)
    households = write_geojson(tmp_path / "households.geojson", collection)
    centers_page = tmp_path / "centers.html"
    code, output = run_cli("--osm", osm, "--households", households, "--out", tmp_path / "r.csv", "--map", centers_page)
    assert code == 0, output
    center_ids = {f["properties"]["id"] for f in features if f["properties"]["is_center"]}
    with chromium_driver() as driver:
        check_page(driver, page.as_uri(), shown, "file-coverage")
        check_page(driver, centers_page.as_uri(), set(renamed.values()) | center_ids, "file-centers")
