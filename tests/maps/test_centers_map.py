"""maps/centers.py: the 中心户 map as folium objects from a small hand-made assignment, and the pages
`gridmap centers --map` writes for both real OSM extracts, in headless Chromium."""

from __future__ import annotations

import html
import json
import math
import re
import time
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from maps.base import external_urls
from maps.centers import CENTER_LAYERS, HULL_NOTE, CentersLegend, centers_map
from tests.api.cli.test_centers_cli import frame_of, households_from_osm, osm_path, read_result, run_cli, write_geojson
from tests.chromium import chromium_driver, js_errors, save_screenshot
from tests.maps.test_maps import RENDER_TOOLTIPS

XSS = "<img src=x onerror=window.__xss=1>"
X0, Y0 = 113.55, 22.27  # Zhuhai


def lonlat(x: float, y: float) -> tuple[float, float]:
    return X0 + x / (111_320 * math.cos(math.radians(Y0))), Y0 + y / 110_574


HOUSEHOLDS = [  # id, grid, is_center, capacity, x, y (metres)
    ("c1", "G1", True, 2, 0, 0),
    ("c2", "G1", True, 1, 120, 40),
    ("h1", "G1", False, 0, 30, 10),
    ("h2", "G1", False, 0, 10, 60),
    ("h3", "G1", False, 0, 150, 20),
    ("h4", "G1", False, 0, 90, 110),
    (XSS, XSS, True, 1, 400, 0),
    ("x1", XSS, False, 0, 420, 30),
]
TABLE = [  # household_id, center_id, walk_m, status, reason
    ("c1", "c1", 0.0, "center", None),
    ("c2", "c2", 0.0, "center", None),
    ("h1", "c1", 41.5, "assigned", None),
    ("h2", "c1", 77.0, "assigned", None),
    ("h3", "c2", 52.25, "assigned", None),
    ("h4", None, None, "uncovered", "grid G1 lacks 1 places (4 households, capacity 3)"),
    (XSS, XSS, 0.0, "center", None),
    ("x1", XSS, 40.0, "assigned", None),
]


@pytest.fixture
def data() -> dict:
    households = gpd.GeoDataFrame(
        [{"id": i, "grid_id": g, "is_center": c, "capacity": k, "geometry": Point(lonlat(x, y))}
         for i, g, c, k, x, y in HOUSEHOLDS],
        crs=4326,
    )  # fmt: skip
    table = pd.DataFrame(TABLE, columns=["household_id", "center_id", "walk_m", "status", "reason"])
    return {"households": households, "table": table}


def grid_polygons() -> gpd.GeoDataFrame:
    (a, b), (c, d) = lonlat(-50, -50), lonlat(250, 200)
    (e, f), (g, h) = lonlat(300, -50), lonlat(500, 100)
    return gpd.GeoDataFrame(
        {"grid_id": ["G1", XSS], "code": ["440402001001001", "440402001001002"]},
        geometry=[box(a, b, c, d), box(e, f, g, h)],
        crs=4326,
    )


def layers(fmap: folium.Map) -> dict[str, folium.GeoJson]:
    found = [child for child in fmap._children.values() if isinstance(child, folium.GeoJson)]
    return {html.unescape(layer.layer_name): layer for layer in found}


def legend_of(fmap: folium.Map) -> str:
    (legend,) = [c for c in fmap._children.values() if isinstance(c, CentersLegend)]
    return html.unescape(legend.html)


def test_layers_and_counts(data):
    geojson = layers(centers_map(**data, tiles="none"))
    assert list(geojson) == [CENTER_LAYERS[k] for k in ("grids", "links", "households", "uncovered", "centers")]
    counts = {name: len(layer.data["features"]) for name, layer in geojson.items()}
    assert counts[CENTER_LAYERS["centers"]] == 3 and counts[CENTER_LAYERS["uncovered"]] == 1
    assert counts[CENTER_LAYERS["links"]] == counts[CENTER_LAYERS["households"]] == 4
    assert counts[CENTER_LAYERS["grids"]] == 2
    # each line runs from the household to its center; households share their center's colour
    lines = geojson[CENTER_LAYERS["links"]].data["features"]
    h1 = [list(xy) for xy in lines[0]["geometry"]["coordinates"]]
    assert h1 == [[round(v, 6) for v in lonlat(30, 10)], [round(v, 6) for v in lonlat(0, 0)]]
    centers = {f["properties"]["center"]: f["properties"] for f in geojson[CENTER_LAYERS["centers"]].data["features"]}
    assert centers["c1"]["load"] == "2 / 2" and centers["c2"]["load"] == "1 / 1"
    dots = geojson[CENTER_LAYERS["households"]].data["features"]
    assert [f["properties"]["k"] for f in dots] == [centers["c1"]["k"]] * 2 + [centers["c2"]["k"]] + [0]
    assert centers["c1"]["k"] != centers["c2"]["k"]


def test_grid_load_in_the_tooltip_and_hulls_said_in_the_legend(data):
    fmap = centers_map(**data, tiles="none")
    grids = layers(fmap)[CENTER_LAYERS["grids"]]
    props = {f["properties"]["code"]: f["properties"] for f in grids.data["features"]}
    assert props["G1"] == {
        "code": "G1", "households": 6, "centers": 2, "capacity": 3, "assigned": 3, "uncovered": 1,
        "mean_walk": round((41.5 + 77 + 52.25) / 3),
    }  # fmt: skip
    tooltip = next(c for c in grids._children.values() if isinstance(c, folium.GeoJsonTooltip))
    assert tooltip.fields[:6] == ["code", "households", "centers", "capacity", "assigned", "uncovered"]
    legend = legend_of(fmap)
    assert HULL_NOTE in legend and "Center households (3) · 3 已满 at capacity" in legend
    assert "Uncovered (1)" in legend and "Grids (2)" in legend
    # with grid polygons: their codes, the same load, no hull note
    given = centers_map(**data, grids=grid_polygons(), tiles="none")
    props = {f["properties"]["code"]: f["properties"] for f in layers(given)[CENTER_LAYERS["grids"]].data["features"]}
    assert props["440402001001001"]["households"] == 6 and props["440402001001002"]["centers"] == 1
    assert HULL_NOTE not in legend_of(given)


def test_result_csv_form_without_status(data, tmp_path):
    """The map reads RESULT.csv as the CLI writes it (ids as text, empty center_id for the uncovered)."""
    path = tmp_path / "result.csv"
    data["table"][["household_id", "center_id", "walk_m"]].to_csv(path, index=False)
    table = read_result(path)
    households = data["households"].assign(is_center=data["households"]["is_center"].map(str))  # 'True'/'False'
    geojson = layers(centers_map(households=households, table=table, tiles="none"))
    assert len(geojson[CENTER_LAYERS["centers"]].data["features"]) == 3
    assert len(geojson[CENTER_LAYERS["uncovered"]].data["features"]) == 1


def test_text_from_data_is_escaped_and_no_external_urls(data):
    page = centers_map(**data, tiles="none", osm_data=True).get_root().render()
    assert "onerror=window.__xss" in page and XSS not in page and "<img" not in page.lower()
    assert external_urls(page) == [] and "OpenStreetMap" in page


# --- pages written by the CLI, in the browser -----------------------------------------------------------------

COUNT = "return document.querySelectorAll(arguments[0]).length"


@pytest.fixture(scope="module", params=["zhuhai", "beijing"])
def cli_page(request, tmp_path_factory) -> dict:
    area = request.param
    tmp = tmp_path_factory.mktemp(f"centers-map-{area}")
    collection = households_from_osm(osm_path(area))
    for feature in collection["features"]:  # text from the file must not run as script
        props = feature["properties"]
        if props["grid_id"] == "G11":
            props["grid_id"] = XSS
    first_center = next(f for f in collection["features"] if f["properties"]["is_center"])
    first_center["properties"]["id"] = XSS + "c"
    households = write_geojson(tmp / "households.geojson", collection)
    out, page = tmp / "result.csv", tmp / "centers.html"
    code, output = run_cli("--osm", osm_path(area), "--households", households, "--out", out, "--map", page)
    assert code == 0, output
    return {"area": area, "collection": collection, "table": read_result(out), "page": page, "output": output}


@pytest.mark.browser
def test_cli_map_in_chromium(cli_page):
    frame = frame_of(cli_page["collection"])
    table = cli_page["table"]
    n_centers = int(frame["is_center"].sum())
    assigned = int((table["center_id"].notna() & (table["status"] != "center")).sum())
    uncovered = int(table["center_id"].isna().sum())
    suggested = int(re.search(r"suggested new centers \S+: (\d+)", cli_page["output"]).group(1))
    with chromium_driver() as driver:
        driver.get(cli_page["page"].as_uri())
        leaflet = driver.execute_script("return typeof L === 'object' ? L.version : null")
        counts = {
            css: driver.execute_script(COUNT, f".gridmap-{css}")
            for css in ("center", "link", "household", "uncovered", "suggested", "grid")
        }
        labels = driver.execute_script(COUNT, ".gridmap-grid-code")
        legend = driver.execute_script("return document.querySelector('.gridmap-legend').textContent")
        attribution = driver.execute_script("return document.querySelector('.leaflet-control-attribution').textContent")
        save_screenshot(driver, f"centers-map-{cli_page['area']}")
        tooltips = driver.execute_script(RENDER_TOOLTIPS)
        time.sleep(0.5)  # an injected <img src=x> would fire onerror by now
        xss = driver.execute_script("return window.__xss")
        errors = js_errors(driver)

    assert errors == [] and leaflet == "1.9.3"
    assert counts == {
        "center": n_centers, "link": assigned, "household": assigned, "uncovered": uncovered,
        "suggested": suggested, "grid": frame["grid_id"].nunique(),
    }  # fmt: skip
    assert labels == frame["grid_id"].nunique()  # each grid labelled with its id
    assert f"Center households ({n_centers})" in legend and "hull of its households" in legend
    assert f"Uncovered ({uncovered})" in legend
    assert "OpenStreetMap contributors" in attribution
    assert xss is None and not any("<img" in tip for tip in tooltips)
    escaped = html.escape(XSS, quote=False)
    assert any(escaped + "c" in tip for tip in tooltips) and any(escaped in tip and "户数" in tip for tip in tooltips)
    grid_tips = [tip for tip in tooltips if "户数 Households" in tip and "容量 Capacity" in tip]
    assert len(grid_tips) == frame["grid_id"].nunique()
    reason_tips = [tip for tip in tooltips if "原因 Reason" in tip]
    assert len(reason_tips) == uncovered and all(re.search(r"lacks|reach", tip) for tip in reason_tips)


def test_cli_page_is_self_contained(cli_page):
    page = Path(cli_page["page"]).read_text()
    assert external_urls(page, tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png") == []
    assert "cdn.jsdelivr" not in page and json.dumps(XSS)[1:-1] not in page
