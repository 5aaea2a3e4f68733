"""maps/coverage.py: the planner map from small hand-made frames, as folium objects, as HTML and in Chromium.

The frames are written down here in a local metre frame around a point in Zhuhai: a block of 4 × 6 buildings, two
clinics, a party centre and a point of an unknown (script-bearing) type, the coverage table with hand-chosen walks
for both profiles, network circles (crosses along two roads) with Euclidean rings, and two suggested sites.
"""

import html
import math
import re
import time
import warnings
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from folium.map import FitBounds
from shapely.geometry import LineString, Point, box, shape

from maps.base import OSM_TILES, escape, external_urls
from maps.coverage import coverage_map
from maps.coverage_style import (
    BEYOND_COLOUR,
    UNREACHABLE_COLOUR,
    CoverageLegend,
    WalkTooltip,
    class_colours,
    walk_classes,
)
from maps.labels import LAYER_NAMES, circle_layer_name
from tests.chromium import chromium_driver, js_errors, save_screenshot
from tests.maps.test_maps import CDN_HOSTS, RENDER_TOOLTIPS

XSS = "<img src=x onerror=window.__xss=1>"
XSS_TYPE = "<img src=x onerror=window.__xss=2>"
X0, Y0 = 113.55, 22.27  # Zhuhai
SPEEDS = {"standard": 1.2, "elderly": 0.8}
LEVELS = (5, 10, 15)
ROWS, COLS = 4, 6
DX, DY = 130.0, 90.0  # building spacing, metres
DETOUR_FACTOR = 1.6  # network metres per straight metre
CLINICS = {"clinic/a": (805.0, 250.0), "clinic/b": (420.0, -110.0)}  # metres from the block's south-west corner
UNREACHABLE, NO_ROW, DETOUR = 18, 12, 1  # building positions: across a railway, missing from the table, far round
ON_LEVEL = 9  # exactly 5 minutes away for the standard walker

UNCOVERED_NAME = f"{LAYER_NAMES['uncovered']} (>15 min)"
OTHER_LAYERS = {"党群服务中心 party_center", f"{XSS_TYPE} {XSS_TYPE}"}
SHOWN_LAYERS = {
    LAYER_NAMES["grids"],
    *(circle_layer_name(level) for level in LEVELS),
    LAYER_NAMES["walk_time"],
    UNCOVERED_NAME,
    "社区卫生服务站 clinic",
    LAYER_NAMES["suggestions"],
}
ALL_LAYERS = SHOWN_LAYERS | OTHER_LAYERS | {LAYER_NAMES["euclidean"]}


def lonlat(x: float, y: float) -> tuple[float, float]:
    """Local metres east / north of (X0, Y0) → lon / lat (equirectangular; plenty for a few hundred metres)."""
    return X0 + x / (111_320 * math.cos(math.radians(Y0))), Y0 + y / 110_574


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs="EPSG:4326")


def _footprint(x: float, y: float, w: float = 60, h: float = 30) -> object:
    (x0, y0), (x1, y1) = lonlat(x, y), lonlat(x + w, y + h)
    return box(x0, y0, x1, y1)


def _centre(i: int) -> tuple[float, float]:
    return DX * (i % COLS) + 35, DY * (i // COLS) + 20


def standard_minutes() -> np.ndarray:
    """Walking minutes at 1.2 m/s of each building to the nearest clinic (NaN: none reachable)."""
    minutes = np.empty(ROWS * COLS)
    for i in range(ROWS * COLS):
        metres = min(DETOUR_FACTOR * math.dist(_centre(i), c) + 30 for c in CLINICS.values())
        minutes[i] = round(metres / 72.0, 2)
    minutes[ON_LEVEL] = 5.0  # exactly on the 5-minute level: covered (≤)
    minutes[DETOUR] = 21.0  # round a river: beyond 15 minutes even for the standard walker
    minutes[UNREACHABLE] = np.nan
    return minutes


def expected_classes(minutes: np.ndarray) -> np.ndarray:
    """0/1/2 for ≤5/≤10/≤15 minutes, 3 beyond, 4 unreachable — written out here, not taken from the module."""
    out = np.full(len(minutes), 4)
    for i, m in enumerate(minutes):
        if not np.isnan(m):
            out[i] = next((k for k, level in enumerate(LEVELS) if m <= level), 3)
    return out


@pytest.fixture
def data() -> dict:
    names = [f"{i + 1}栋" for i in range(ROWS * COLS)]
    names[7] = XSS
    buildings = _frame(
        [
            {
                "source_id": f"way/{100 + i}",
                "name": names[i],
                "residents": 10 + i,
                "geometry": _footprint(DX * (i % COLS), DY * (i // COLS), 70, 40),
            }
            for i in range(ROWS * COLS)
        ]
    )
    service_points = _frame(
        [
            {
                "source_id": "clinic/a",
                "type": "clinic",
                "name": "翠香卫生站",
                "geometry": Point(lonlat(*CLINICS["clinic/a"])),
            },
            {"source_id": "clinic/b", "type": "clinic", "name": XSS, "geometry": Point(lonlat(*CLINICS["clinic/b"]))},
            {"source_id": "pc/1", "type": "party_center", "name": "党群中心", "geometry": Point(lonlat(250, 330))},
            {"source_id": "x/1", "type": XSS_TYPE, "name": "?", "geometry": Point(lonlat(-60, -60))},
        ]
    )
    minutes = standard_minutes()
    walk_m = minutes * 60 * SPEEDS["standard"]
    nearest = [min(CLINICS, key=lambda c: math.dist(_centre(i), CLINICS[c])) for i in range(ROWS * COLS)]
    clinic = pd.DataFrame(
        {
            "building_id": buildings["source_id"],
            "service_type": "clinic",
            "service_id": [None if np.isnan(m) else s for m, s in zip(minutes, nearest, strict=True)],
            "walk_m": walk_m,
        }
    )
    for profile, speed in SPEEDS.items():
        clinic[f"walk_min_{profile}"] = walk_m / speed / 60
    for profile, speed in SPEEDS.items():
        for level in LEVELS:
            clinic[f"covered_{profile}_{level}"] = walk_m <= level * 60 * speed
    clinic = clinic.drop(index=NO_ROW)
    other = clinic.assign(service_type="party_center", service_id="pc/1", walk_m=1.0)  # must be ignored
    for profile, speed in SPEEDS.items():
        other[f"walk_min_{profile}"] = 1.0 / speed / 60
    table = pd.concat([clinic, other], ignore_index=True)

    circles = []
    for sid, (cx, cy) in CLINICS.items():
        for profile, speed in SPEEDS.items():
            for level in LEVELS:
                budget = level * 60 * speed
                arm = budget / DETOUR_FACTOR  # along two roads through the point
                cross = _footprint(cx - arm, cy - 15, 2 * arm, 30).union(_footprint(cx - 15, cy - arm, 30, 2 * arm))
                ring = LineString(
                    [
                        lonlat(cx + budget * math.cos(t), cy + budget * math.sin(t))
                        for t in np.linspace(0, 2 * np.pi, 65)
                    ]
                )
                common = {"service_id": sid, "service_type": "clinic", "profile": profile, "level": float(level)}
                circles.append({**common, "budget_m": budget, "kind": "network", "geometry": cross})
                circles.append({**common, "budget_m": budget, "kind": "euclidean", "geometry": ring})
    circles.append(
        {
            "service_id": "pc/1",
            "service_type": "party_center",
            "profile": "standard",
            "level": 15.0,
            "budget_m": 1080.0,
            "kind": "network",
            "geometry": _footprint(-2000, -2000, 4000, 4000),  # another type: must not be drawn
        }
    )
    suggestions = _frame(
        [
            {"rank": 1, "candidate_id": "way/119", "gain": 57.0, "buildings": 2, "geometry": Point(lonlat(100, 245))},
            {"rank": 2, "candidate_id": XSS, "gain": 15.0, "buildings": 1, "geometry": Point(lonlat(270, 335))},
        ]
    )
    grids = _frame([{"code": "440402001001", "name": "第一网格", "geometry": _footprint(-140, -170, 1120, 560)}])
    return {
        "buildings": buildings,
        "service_points": service_points,
        "table": table,
        "service_type": "clinic",
        "circles": _frame(circles),
        "suggestions": suggestions,
        "grids": grids,
    }


def _geojson_layers(fmap: folium.Map) -> dict[str, folium.GeoJson]:
    """GeoJson layers by name, unescaped (the names are HTML-escaped for the layer control)."""
    layers = [child for child in fmap._children.values() if isinstance(child, folium.GeoJson)]
    return {html.unescape(layer.layer_name): layer for layer in layers}


def _minutes(data: dict, profile: str = "standard") -> np.ndarray:
    """The minutes the map should use per building, in building order (NaN for the building without a row)."""
    rows = data["table"][data["table"]["service_type"] == "clinic"].set_index("building_id")
    return rows[f"walk_min_{profile}"].reindex(data["buildings"]["source_id"]).to_numpy(dtype=float)


# --- objects --------------------------------------------------------------------------------------------------


def test_layers_by_name_and_visibility(data):
    geojson = _geojson_layers(coverage_map(**data, tiles="none"))
    assert set(geojson) == ALL_LAYERS
    assert {name for name, layer in geojson.items() if layer.show} == SHOWN_LAYERS  # rings, other types: hidden
    assert geojson[f"{XSS_TYPE} {XSS_TYPE}"].layer_name == escape(f"{XSS_TYPE} {XSS_TYPE}")
    counts = {name: len(layer.data["features"]) for name, layer in geojson.items()}
    assert counts[LAYER_NAMES["walk_time"]] == ROWS * COLS
    assert counts["社区卫生服务站 clinic"] == 2 and counts["党群服务中心 party_center"] == 1
    assert counts[LAYER_NAMES["suggestions"]] == 2
    # network circles: one feature per level, the clinics' crosses unioned; the party centre's square left out
    for level in LEVELS:
        assert counts[circle_layer_name(level)] == 1
    assert counts[LAYER_NAMES["euclidean"]] == len(CLINICS) * len(LEVELS)
    big = geojson[circle_layer_name(15)].data["features"][0]["geometry"]
    assert shape(big).bounds[0] > lonlat(-1000, 0)[0]


def test_overlay_order_keeps_buildings_and_points_on_top(data):
    fmap = coverage_map(**data, tiles="none")
    order = [html.unescape(child.layer_name) for child in fmap._children.values() if hasattr(child, "layer_name")]
    at = {name: order.index(name) for name in ALL_LAYERS}
    assert at[LAYER_NAMES["grids"]] < at[circle_layer_name(15)] < at[circle_layer_name(10)] < at[circle_layer_name(5)]
    assert at[circle_layer_name(5)] < at[LAYER_NAMES["euclidean"]] < at[LAYER_NAMES["walk_time"]] < at[UNCOVERED_NAME]
    assert at[UNCOVERED_NAME] < at["社区卫生服务站 clinic"] < at[LAYER_NAMES["suggestions"]]


@pytest.mark.parametrize("profile", ["standard", "elderly"])
def test_colour_per_walking_time_class(data, profile):
    fmap = coverage_map(**data, profile=profile, tiles="none")
    layer = _geojson_layers(fmap)[LAYER_NAMES["walk_time"]]
    expected = expected_classes(_minutes(data, profile))
    colours = class_colours(3)
    assert colours[3] == BEYOND_COLOUR and colours[4] == UNREACHABLE_COLOUR and len(set(colours)) == 5
    got = [layer.style_function(f)["fillColor"] for f in layer.data["features"]]
    assert got == [colours[k] for k in expected]
    assert [f["properties"]["cls"] for f in layer.data["features"]] == expected.tolist()
    # every class occurs in the fixture, and the rendered page maps the features to these colours
    assert set(expected) == {0, 1, 2, 3, 4}
    page = fmap.get_root().render()
    assert all(colour in page for colour in {colours[k] for k in expected})


def test_walk_classes_levels_and_flags():
    minutes = np.array([0.0, 5.0, 5.01, 10.0, 14.99, 15.01, np.nan])
    assert walk_classes(minutes, LEVELS).tolist() == [0, 0, 1, 1, 2, 3, 4]
    # the table's covered flags decide when given (the gap report counts by them)
    flags = np.array([[True, True, True]] * 2 + [[True, True, True]] + [[False, True, True]] * 3 + [[False] * 3])
    assert walk_classes(minutes, LEVELS, flags).tolist() == [0, 0, 0, 1, 1, 1, 4]
    assert walk_classes(np.array([3.0, 30.0]), (10,)).tolist() == [0, 1]
    assert class_colours(1)[0] == class_colours(3)[0] and len(class_colours(4)) == 6


def test_uncovered_overlay_holds_exactly_the_uncovered_buildings(data):
    for profile in SPEEDS:
        geojson = _geojson_layers(coverage_map(**data, profile=profile, tiles="none"))
        minutes = _minutes(data, profile)
        expected = {escape(data["buildings"]["name"][i]) for i in range(ROWS * COLS) if not minutes[i] <= 15}
        got = {f["properties"]["name"] for f in geojson[UNCOVERED_NAME].data["features"]}
        assert got == expected
        assert {escape(data["buildings"]["name"][i]) for i in (DETOUR, UNREACHABLE, NO_ROW)} <= got
    # the elderly walker leaves more buildings out than the standard one
    standard = _geojson_layers(coverage_map(**data, tiles="none"))[UNCOVERED_NAME]
    elderly = _geojson_layers(coverage_map(**data, profile="elderly", tiles="none"))[UNCOVERED_NAME]
    assert len(elderly.data["features"]) > len(standard.data["features"]) >= 3


def test_building_properties_compact_and_rounded(data):
    layer = _geojson_layers(coverage_map(**data, tiles="none"))[LAYER_NAMES["walk_time"]]
    features = layer.data["features"]
    assert all(set(f["properties"]) == {"name", "min", "m", "near", "cls", "residents"} for f in features)
    first = features[2]["properties"]
    assert first["min"] == round(_minutes(data)[2], 1) and isinstance(first["m"], int)
    for i in (UNREACHABLE, NO_ROW):
        assert features[i]["properties"]["min"] is None and features[i]["properties"]["near"] is None
    x, y = features[2]["geometry"]["coordinates"][0][0]
    assert round(x, 6) == x and round(y, 6) == y
    # `near` indexes the tooltip's list of point names, escaped
    (tooltip,) = [c for c in layer._children.values() if isinstance(c, WalkTooltip)]
    nearest = {
        tooltip.text["nearest"][f["properties"]["near"]] for f in features if f["properties"]["near"] is not None
    }
    assert nearest == {"翠香卫生站", escape(XSS)}
    assert tooltip.text["levels"] == ["5", "10", "15"]


def test_service_points_count_the_buildings_they_serve(data):
    layer = _geojson_layers(coverage_map(**data, tiles="none"))["社区卫生服务站 clinic"]
    served = {f["properties"]["name"]: f["properties"]["served"] for f in layer.data["features"]}
    rows = data["table"][(data["table"]["service_type"] == "clinic") & data["table"]["service_id"].notna()]
    assert served == {
        "翠香卫生站": int((rows["service_id"] == "clinic/a").sum()),
        escape(XSS): int((rows["service_id"] == "clinic/b").sum()),
    }
    assert sum(served.values()) == ROWS * COLS - 2  # all but the unreachable one and the one without a row


def test_suggestions_with_rank_and_gain(data):
    layer = _geojson_layers(coverage_map(**data, tiles="none"))[LAYER_NAMES["suggestions"]]
    props = [f["properties"] for f in layer.data["features"]]
    assert props == [
        {"rank": 1, "gain": 57, "new_buildings": 2, "candidate_id": "way/119"},
        {"rank": 2, "gain": 15, "new_buildings": 1, "candidate_id": escape(XSS)},
    ]
    assert "gridmap-site-rank" in layer.on_each_feature.js_code


def test_suggestion_gain_says_what_it_counts(data):
    """gain counts residents by default, the weight named in attrs['weight'], or only buildings (no weights given)."""

    def sites_and_legend(suggestions: gpd.GeoDataFrame) -> tuple[folium.GeoJson, str]:
        fmap = coverage_map(**{**data, "suggestions": suggestions}, tiles="none")
        (legend,) = [c for c in fmap._children.values() if isinstance(c, CoverageLegend)]
        return _geojson_layers(fmap)[LAYER_NAMES["suggestions"]], html.unescape(legend.html)

    layer, legend = sites_and_legend(data["suggestions"])
    tooltip = next(c for c in layer._children.values() if isinstance(c, folium.GeoJsonTooltip))
    assert tooltip.fields == ["rank", "gain", "new_buildings", "candidate_id"]
    assert tooltip.aliases[1] == "新覆盖居民 Residents newly covered" and "+72 居民 residents" in legend

    households = data["suggestions"].copy()
    households.attrs["weight"] = "households"
    layer, legend = sites_and_legend(households)
    tooltip = next(c for c in layer._children.values() if isinstance(c, folium.GeoJsonTooltip))
    assert tooltip.aliases[1] == "新覆盖户数 Households newly covered" and "+72 户 households" in legend

    unweighted = data["suggestions"].assign(gain=[2.0, 1.0])  # suggest_sites without buildings: 1 per building
    layer, legend = sites_and_legend(unweighted)
    tooltip = next(c for c in layer._children.values() if isinstance(c, folium.GeoJsonTooltip))
    assert tooltip.fields == ["rank", "new_buildings", "candidate_id"]
    assert "+3 栋 buildings" in legend and "居民 residents" not in legend.split("Suggested sites")[1]


def test_legend_explains_profile_levels_and_counts(data):
    for profile, speed_text, metres in (
        ("standard", "标准步行 1.2 m/s", ("≤360 m", "≤720 m", "≤1080 m")),
        ("elderly", "老年人步行 0.8 m/s", ("≤240 m", "≤480 m", "≤720 m")),
    ):
        fmap = coverage_map(**data, profile=profile, tiles="none")
        (element,) = [c for c in fmap._children.values() if isinstance(c, CoverageLegend)]
        assert "<img" not in element.html
        legend = html.unescape(element.html)
        assert speed_text in legend and all(m in legend for m in metres), legend
        counts = np.bincount(expected_classes(_minutes(data, profile)), minlength=5)
        for label, count in zip(["≤5 分钟", "≤10 分钟", "≤15 分钟", ">15 分钟", "不可达"], counts, strict=True):
            assert re.search(rf"{label}[^<]*<span[^>]*>\({count}\)", legend), (label, count)
        residents = data["buildings"]["residents"][~(_minutes(data, profile) <= 15)].sum()
        assert f"Uncovered (>15 min): {counts[3] + counts[4]} 栋 buildings · {residents:,} 居民 residents" in legend
        assert "Suggested sites (2) · +72 居民 residents" in legend
        assert "5/10/15 分钟服务圈" in legend and "Euclidean reference (not walkable)" in legend


def test_one_profile_table_as_the_cli_writes_it(data):
    """walk_min / covered_<level> (gis.coverage.profile_table) give the same map as the full table."""
    table = data["table"]
    cli = table[["building_id", "service_type", "service_id", "walk_m", "walk_min_elderly"]].rename(
        columns={"walk_min_elderly": "walk_min"}
    )
    for level in LEVELS:
        cli[f"covered_{level}"] = table[f"covered_elderly_{level}"].map({True: "True", False: "False"})  # as from CSV
    full = _geojson_layers(coverage_map(**data, profile="elderly", tiles="none"))
    plain = _geojson_layers(coverage_map(**{**data, "table": cli}, profile="elderly", tiles="none"))
    for name in (LAYER_NAMES["walk_time"], UNCOVERED_NAME):
        assert plain[name].data == full[name].data


def test_flags_decide_the_class(data):
    """A building 5.004 minutes away whose flag says covered at 5 (the gap report's count) is coloured ≤5."""
    table = data["table"].copy()
    table.loc[2, "walk_min_standard"] = 5.004  # building 2: 4.4 minutes in the fixture
    table.loc[2, "covered_standard_5"] = True
    layer = _geojson_layers(coverage_map(**{**data, "table": table}, tiles="none"))[LAYER_NAMES["walk_time"]]
    assert layer.data["features"][2]["properties"]["cls"] == 0
    without_flags = table.drop(columns=[c for c in table if c.startswith("covered_")])
    layer = _geojson_layers(coverage_map(**{**data, "table": without_flags}, tiles="none"))[LAYER_NAMES["walk_time"]]
    assert layer.data["features"][2]["properties"]["cls"] == 1


def test_bounds_cover_buildings_points_and_sites(data):
    fmap = coverage_map(**data, tiles="none")
    (fit,) = [child for child in fmap._children.values() if isinstance(child, FitBounds)]
    (south, west), (north, east) = fit.bounds
    chosen = data["service_points"][data["service_points"]["type"] == "clinic"]
    for frame in (data["buildings"], chosen, data["suggestions"], data["grids"]):
        min_x, min_y, max_x, max_y = frame.total_bounds
        assert west <= min_x and south <= min_y and east >= max_x and north >= max_y


def test_text_from_data_is_escaped(data):
    page = coverage_map(**data, tiles="none").get_root().render()
    assert "onerror=window.__xss" in page  # the payloads are there, only as escaped text
    assert XSS not in page and XSS_TYPE not in page
    assert "<img" not in page.lower()


@pytest.mark.parametrize("asset_base_url", [None, "/static/vendor"])
def test_no_external_urls_without_tiles(data, asset_base_url):
    page = coverage_map(**data, tiles="none", asset_base_url=asset_base_url).get_root().render()
    assert external_urls(page) == []
    assert not any(host in page for host in CDN_HOSTS)
    assert "jquery" not in page.lower() and "bootstrap" not in page.lower()


def test_osm_tiles_are_the_only_external_url(data):
    page = coverage_map(**data, tiles="openstreetmap", asset_base_url="/static/vendor").get_root().render()
    assert OSM_TILES in page and external_urls(page, tiles=OSM_TILES) == []


def test_osm_attribution_when_osm_data_drawn(data):
    served = {"tiles": "none", "asset_base_url": "/static/vendor"}
    with_osm = coverage_map(**data, **served, osm_data=True).get_root().render()
    without = coverage_map(**data, **served, osm_data=False).get_root().render()
    assert "addAttribution" in with_osm and "OpenStreetMap" in with_osm
    assert "addAttribution" not in without and "OpenStreetMap" not in without


def test_optional_layers_and_missing_inputs(data):
    bare = {k: data[k] for k in ("buildings", "service_points", "table", "service_type")}
    geojson = _geojson_layers(coverage_map(**bare, tiles="none"))
    optional = {LAYER_NAMES["grids"], LAYER_NAMES["suggestions"], LAYER_NAMES["euclidean"]}
    assert set(geojson) == ALL_LAYERS - optional - {circle_layer_name(level) for level in LEVELS}
    # circles of another profile only: nothing drawn, and the caller is told
    other = data["circles"][data["circles"]["profile"] == "elderly"]
    with pytest.warns(UserWarning, match="no network circles"):
        geojson = _geojson_layers(coverage_map(**{**data, "circles": other}, tiles="none"))
    assert circle_layer_name(15) not in geojson
    # no table column for the profile
    with pytest.raises(KeyError, match="walk_min_brisk"):
        coverage_map(**data, profile="brisk", tiles="none")
    # a type without any rows: every building unreachable and uncovered, the map still renders
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        geojson = _geojson_layers(coverage_map(**{**data, "service_type": "kindergarten"}, tiles="none"))
    assert len(geojson[UNCOVERED_NAME].data["features"]) == ROWS * COLS
    empty = {**bare, "buildings": data["buildings"].iloc[0:0], "service_points": data["service_points"].iloc[0:0]}
    assert "L.map(" in coverage_map(**empty, tiles="none").get_root().render()


def test_page_stays_small(data):
    """Per building: geometry, the escaped name and five small numbers; no repeated point names or unit text."""
    big = {**data}
    n = 2000
    big["buildings"] = _frame(
        [
            {
                "source_id": f"way/{i}",
                "name": f"{i}号楼",
                "geometry": _footprint(25.0 * (i % 50), 25.0 * (i // 50), 15, 10),
            }
            for i in range(n)
        ]
    )
    big["table"] = pd.DataFrame(
        {
            "building_id": big["buildings"]["source_id"],
            "service_type": "clinic",
            "service_id": "clinic/a",
            "walk_m": np.linspace(10, 1500, n),
            "walk_min_standard": np.linspace(10, 1500, n) / 72,
        }
    )
    page = coverage_map(**big, tiles="none", asset_base_url="/static/vendor").get_root().render()
    assert len(page.encode()) / n < 420  # ≈ 350 bytes a building with the uncovered overlay's copies
    # the point name: in the two building tooltips' lists and on its own marker, not once per building
    assert page.count("翠香卫生站".encode("unicode_escape").decode()) == 3


# --- in the browser -------------------------------------------------------------------------------------------

COUNT_PATHS = "return document.querySelectorAll('.leaflet-overlay-pane path').length"
OVERLAYS = """
return Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))
    .map(l => [l.textContent.trim(), l.querySelector('input').checked]);
"""


@pytest.mark.browser
def test_coverage_map_in_chromium(data, tmp_path: Path):
    page = tmp_path / "coverage.html"
    coverage_map(**data, profile="elderly", tiles="none", asset_base_url=None, osm_data=True).save(str(page))
    minutes = _minutes(data, "elderly")
    uncovered = int((~(minutes <= 15)).sum())
    with chromium_driver() as driver:
        driver.get(page.as_uri())
        paths = driver.execute_script(COUNT_PATHS)
        overlays = dict(driver.execute_script(OVERLAYS))
        legend = driver.execute_script("return document.querySelector('.gridmap-legend').textContent")
        ranks = driver.execute_script(
            "return Array.from(document.querySelectorAll('.gridmap-site-rank')).map(e => e.textContent)"
        )
        attribution = driver.execute_script("return document.querySelector('.leaflet-control-attribution').textContent")
        save_screenshot(driver, "coverage-map")
        tooltips = driver.execute_script(RENDER_TOOLTIPS)
        time.sleep(0.5)  # an injected <img src=x> would fire onerror by now
        xss = driver.execute_script("return window.__xss")
        driver.execute_script("document.querySelectorAll('body > div:not(.folium-map)').forEach(e => e.remove())")
        # the Euclidean reference: hidden until its box is ticked
        driver.execute_script(
            "Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'))"
            ".find(l => l.textContent.includes('直线距离参考圈')).querySelector('input').click()"
        )
        with_rings = driver.execute_script(COUNT_PATHS)
        errors = js_errors(driver)

    assert errors == []
    # grid + one polygon per level + buildings + uncovered copies + two clinics + two suggested sites
    assert paths == 1 + len(LEVELS) + ROWS * COLS + uncovered + 2 + 2
    assert with_rings == paths + len(CLINICS) * len(LEVELS)
    assert set(overlays) == ALL_LAYERS
    assert {name for name, checked in overlays.items() if checked} == SHOWN_LAYERS
    assert overlays[LAYER_NAMES["euclidean"]] is False
    assert "老年人步行 0.8 m/s" in legend and "≤720 m" in legend and XSS not in legend
    assert sorted(ranks) == ["1", "2"]
    assert "OpenStreetMap contributors" in attribution

    shown_points = 2 + 2  # clinics and sites (the hidden layers are not on the map, so not in eachLayer)
    assert len(tooltips) == ROWS * COLS + uncovered + shown_points
    classes = expected_classes(minutes)
    point_names = {"clinic/a": "翠香卫生站", "clinic/b": html.escape(XSS, quote=False)}
    rows = data["table"][data["table"]["service_type"] == "clinic"].set_index("building_id")["service_id"]
    for i in (16, 19):  # 17栋 ≤10 minutes from clinic a, 20栋 beyond 15 minutes from clinic b (elderly)
        building = next(t for t in tooltips if f">{i + 1}栋<" in t)
        flags = " · ".join(f"{level} {'✓' if classes[i] <= k else '✗'}" for k, level in enumerate(LEVELS))
        assert f"{minutes[i]:.1f} 分钟 min · {round(minutes[i] * 48)} m" in building and flags in building
        assert point_names[rows[f"way/{100 + i}"]] in building
    assert classes[16] == 1 and classes[19] == 3
    unreachable = next(t for t in tooltips if f"{UNREACHABLE + 1}栋" in t)
    assert "不可达 unreachable" in unreachable and "5 ✗ · 10 ✗ · 15 ✗" in unreachable
    assert any(html.escape(XSS, quote=False) in tip for tip in tooltips)
    assert not any("<img" in tip for tip in tooltips)
    assert xss is None
