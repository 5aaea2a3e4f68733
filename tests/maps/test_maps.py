"""maps/: the overview map as folium objects and rendered HTML, then opened in headless Chromium."""

import html
import time
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pytest
from folium.map import FitBounds
from shapely.geometry import Point, box

from maps.base import (
    LEAFLET_VERSION,
    OSM_TILES,
    VENDOR_DIR,
    base_map,
    escape,
    escaped_properties,
    external_urls,
    info_html,
)
from maps.labels import LAYER_NAMES
from maps.overview import overview_map
from tests.chromium import chromium_driver, js_errors, save_screenshot

XSS = "<img src=x onerror=window.__xss=1>"
XSS_TYPE = "<img src=x onerror=window.__xss=2>"  # an unknown service type: it becomes a layer name and legend row
CDN_HOSTS = ("cdn.jsdelivr", "code.jquery", "maxcdn", "cdnjs", "unpkg", "bootstrapcdn")
X0, Y0 = 113.55, 22.27  # Zhuhai


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


@pytest.fixture
def layers() -> dict[str, gpd.GeoDataFrame]:
    """Two grids side by side, five buildings, four service points (one of an unknown type), a compound."""
    grids = _frame(
        [
            {"code": "440402001001", "name": "第一网格", "geometry": box(X0, Y0, X0 + 0.004, Y0 + 0.004)},
            {"code": "440402001002", "name": XSS, "geometry": box(X0 + 0.004, Y0, X0 + 0.008, Y0 + 0.004)},
        ]
    )
    buildings = _frame(
        [
            {
                "kind": "residential",
                "name": f"{i}栋",
                "floors": np.nan if i == 0 else 6.0,
                "households": 24,
                "geometry": box(X0 + 0.001 * i + 0.0005, Y0 + 0.001, X0 + 0.001 * i + 0.0008, Y0 + 0.0013),
            }
            for i in range(5)
        ]
    )
    service_points = _frame(
        [
            {"type": "party_center", "name": "党群服务中心", "geometry": Point(X0 + 0.002, Y0 + 0.003)},
            {"type": "clinic", "name": XSS, "geometry": Point(X0 + 0.005, Y0 + 0.003)},
            {"type": "clinic", "name": "卫生站", "geometry": Point(X0 + 0.006, Y0 + 0.002)},
            {"type": XSS_TYPE, "name": "?", "geometry": Point(X0 + 0.007, Y0 + 0.0035)},
        ]
    )
    compounds = _frame([{"name": XSS, "geometry": box(X0 + 0.0003, Y0 + 0.0007, X0 + 0.0055, Y0 + 0.0016)}])
    communities = _frame([{"code": "001", "name": "翠香社区", "geometry": box(X0, Y0, X0 + 0.008, Y0 + 0.004)}])
    return {
        "grids": grids,
        "buildings": buildings,
        "service_points": service_points,
        "compounds": compounds,
        "communities": communities,
    }


def _geojson_layers(fmap: folium.Map) -> dict[str, folium.GeoJson]:
    return {child.layer_name: child for child in fmap._children.values() if isinstance(child, folium.GeoJson)}


def _expected_overlays() -> set[str]:
    return {
        LAYER_NAMES["communities"],
        LAYER_NAMES["grids"],
        LAYER_NAMES["compounds"],
        LAYER_NAMES["buildings"],
        "党群服务中心 party_center",
        "社区卫生服务站 clinic",
        f"{XSS_TYPE} {XSS_TYPE}",
    }


# --- objects and HTML -----------------------------------------------------------------------------------------


def test_layers_present_by_name_with_every_feature(layers):
    geojson = _geojson_layers(overview_map(**layers, tiles="none"))
    assert set(geojson) == {escape(name) for name in _expected_overlays()}
    counts = {name: len(layer.data["features"]) for name, layer in geojson.items()}
    assert counts[LAYER_NAMES["grids"]] == 2
    assert counts[LAYER_NAMES["buildings"]] == 5
    assert counts["社区卫生服务站 clinic"] == 2
    assert sum(counts.values()) == sum(len(f) for f in layers.values())


def test_only_needed_properties_rounded(layers):
    buildings = _geojson_layers(overview_map(**layers, tiles="none"))[LAYER_NAMES["buildings"]]
    feature = buildings.data["features"][1]
    assert set(feature["properties"]) == {"kind", "floors", "households"}
    assert feature["properties"]["floors"] == 6 and isinstance(feature["properties"]["floors"], int)
    assert buildings.data["features"][0]["properties"]["floors"] is None  # NaN would be invalid JSON
    x, y = feature["geometry"]["coordinates"][0][0]
    assert round(x, 6) == x and round(y, 6) == y


def test_bounds_cover_data(layers):
    fmap = overview_map(**layers, tiles="none")
    (fit,) = [child for child in fmap._children.values() if isinstance(child, FitBounds)]
    (south, west), (north, east) = fit.bounds
    for frame in layers.values():
        min_x, min_y, max_x, max_y = frame.total_bounds
        assert west <= min_x and south <= min_y and east >= max_x and north >= max_y
    assert (west, south, east, north) == pytest.approx((X0, Y0, X0 + 0.008, Y0 + 0.004))


def test_text_from_data_is_escaped(layers):
    fmap = overview_map(**layers, tiles="none")
    geojson = _geojson_layers(fmap)
    grid_names = [f["properties"]["name"] for f in geojson[LAYER_NAMES["grids"]].data["features"]]
    assert grid_names[1] == html.escape(XSS)
    clinic_names = [f["properties"]["name"] for f in geojson["社区卫生服务站 clinic"].data["features"]]
    assert html.escape(XSS) in clinic_names
    page = fmap.get_root().render()
    assert "onerror=window.__xss" in page  # the payload is there, but only as escaped text
    assert XSS not in page and XSS_TYPE not in page
    assert "<img" not in page.lower()


def test_escape_is_safe_in_html_and_js_template_literals():
    assert escape('<a href="x">\'&') == "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;"
    assert escape("${alert(1)}`\\u") == "&#36;{alert(1)}&#96;&#92;u"
    assert escape(None) == ""
    table = info_html({"<b>名称</b>": XSS, "户数": 3})
    assert "<b>" not in table and "<img" not in table and "<td>3</td>" in table


def test_escaped_properties():
    frame = _frame([{"name": "<b>", "floors": 5.0, "ratio": 0.5, "geometry": Point(0, 0)}])
    frame.loc[1] = {"name": None, "floors": np.nan, "ratio": 1.25, "geometry": Point(1, 1)}
    props = escaped_properties(frame, ["name", "floors", "ratio", "absent"])
    assert props == [
        {"name": "&lt;b&gt;", "floors": 5, "ratio": 0.5, "absent": None},
        {"name": None, "floors": None, "ratio": 1.25, "absent": None},
    ]


@pytest.mark.parametrize("asset_base_url", [None, "/static/vendor"])
def test_no_external_urls_without_tiles(layers, asset_base_url):
    page = overview_map(**layers, tiles="none", asset_base_url=asset_base_url).get_root().render()
    assert external_urls(page) == []
    assert not any(host in page for host in CDN_HOSTS)
    assert "jquery" not in page.lower() and "bootstrap" not in page.lower()
    if asset_base_url is None:
        assert "<script src=" not in page and "<link" not in page
        assert "Leaflet 1.9.3" in page and "url(images/" not in page  # CSS images inlined as data: URIs
    else:
        assert '<script src="/static/vendor/leaflet.js"></script>' in page
        assert '<link rel="stylesheet" href="/static/vendor/leaflet.css"/>' in page
        assert "Leaflet 1.9.3" not in page


def test_osm_tiles_are_the_only_external_url(layers):
    page = overview_map(**layers, tiles="openstreetmap", asset_base_url="/static/vendor").get_root().render()
    assert OSM_TILES in page
    assert external_urls(page, tiles=OSM_TILES) == []


def test_osm_attribution_when_osm_data_drawn(layers):
    served = {"tiles": "none", "asset_base_url": "/static/vendor"}  # inlined leaflet.js has 'addAttribution' too
    with_osm = overview_map(**layers, **served, osm_data=True).get_root().render()
    without = overview_map(**layers, **served, osm_data=False).get_root().render()
    assert "addAttribution" in with_osm and "OpenStreetMap" in with_osm
    assert "addAttribution" not in without and "OpenStreetMap" not in without


def test_folium_defaults_untouched_and_vendored_version_matches():
    base_map(center=(Y0, X0), tiles="none")
    leaflet_urls = [url for name, url in folium.Map.default_js if name == "leaflet"]
    assert leaflet_urls == [f"https://cdn.jsdelivr.net/npm/leaflet@{LEAFLET_VERSION}/dist/leaflet.js"]
    assert any(name == "jquery" for name, _ in folium.Map.default_js)  # ours are per-instance lists
    assert f"Leaflet {LEAFLET_VERSION}," in (VENDOR_DIR / "leaflet.js").read_text(encoding="utf-8")[:200]
    assert (VENDOR_DIR / "LEAFLET-LICENSE").is_file() and (VENDOR_DIR / "images" / "layers.png").is_file()


def test_base_map_arguments():
    with pytest.raises(ValueError, match="bounds or center"):
        base_map()
    with pytest.raises(ValueError, match="attribution"):
        base_map(center=(Y0, X0), tiles="https://t.example/{z}/{x}/{y}.png")
    with pytest.raises(ValueError, match="tiles must be"):
        base_map(center=(Y0, X0), tiles="google")
    with pytest.raises(ValueError, match="needs a key"):
        base_map(center=(Y0, X0), tiles="tianditu")  # a key comes with settings.base_map
    custom = base_map(center=(Y0, X0), tiles="https://t.example/{z}/{x}/{y}.png", attribution="© Example")
    page = custom.get_root().render()
    assert "https://t.example/{z}/{x}/{y}.png" in page and "Example" in page


def test_empty_layers_give_a_map(layers):
    empty = {name: frame.iloc[0:0] for name, frame in layers.items()}
    fmap = overview_map(**empty, tiles="none")
    assert _geojson_layers(fmap) == {}
    assert "L.map(" in fmap.get_root().render()


# --- in the browser -------------------------------------------------------------------------------------------

# Build every tooltip the page can show (GeoJsonTooltip content functions, for every feature) and add it to the
# document, so an unescaped payload would run; return their HTML.
RENDER_TOOLTIPS = """
const map = window[Object.keys(window).find(k => k.startsWith('map_'))];
const shown = [];
map.eachLayer(layer => {
    const tip = layer.getTooltip && layer.getTooltip();
    if (tip && typeof tip._content === 'function' && layer.eachLayer) {
        layer.eachLayer(child => {
            const div = tip._content(child);
            document.body.appendChild(div);
            shown.push(div.innerHTML);
        });
    }
});
return shown;
"""


@pytest.mark.browser
def test_overview_map_in_chromium(layers, tmp_path: Path):
    page = tmp_path / "overview.html"
    overview_map(**layers, tiles="none", asset_base_url=None, osm_data=True).save(str(page))
    with chromium_driver() as driver:
        driver.get(page.as_uri())
        drawn = driver.execute_script("return document.querySelectorAll('.leaflet-interactive').length")
        overlays = driver.execute_script(
            "return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
            ".map(l => l.textContent.trim())"
        )
        attribution = driver.execute_script("return document.querySelector('.leaflet-control-attribution').textContent")
        legend = driver.execute_script("return document.querySelector('.gridmap-legend').textContent")
        grid_codes = driver.execute_script(
            "return Array.from(document.querySelectorAll('.gridmap-grid-code')).map(e => e.textContent)"
        )
        tooltips = driver.execute_script(RENDER_TOOLTIPS)
        time.sleep(0.5)  # an injected <img src=x> would fire onerror by now
        xss = driver.execute_script("return window.__xss")
        driver.execute_script("document.querySelectorAll('body > div:not(.folium-map)').forEach(e => e.remove())")
        save_screenshot(driver, "test-maps-overview")
        errors = js_errors(driver)

    assert errors == []
    assert drawn >= sum(len(frame) for frame in layers.values())
    assert set(overlays) == _expected_overlays()
    assert "OpenStreetMap contributors" in attribution and "Leaflet" in attribution
    assert "党群服务中心 (1)" in legend and "社区卫生服务站 (2)" in legend and XSS_TYPE in legend
    assert sorted(grid_codes) == ["440402001001", "440402001002"]
    assert len(tooltips) == sum(len(frame) for frame in layers.values())
    assert any(html.escape(XSS, quote=False) in tip for tip in tooltips)
    assert not any("<img" in tip for tip in tooltips)
    assert xss is None
