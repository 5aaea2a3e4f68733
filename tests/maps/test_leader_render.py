"""maps.leader without a database: hostile text (HTML, Jinja) in grid, category and hazard labels renders as text,
an area with nothing to draw still gives a map, rates on fewer than 5 cases are not coloured."""

import re
from datetime import date

import geopandas as gpd
import pandas as pd
import shapely

from gis.heat import weekly_heat
from gis.hotspots import hotspots
from maps import render_html
from maps.leader import NO_DATA, LeaderView, grid_rates, leader_map

HOSTILE = ["{{7*7}}", "{# x", "</script><script>window.__x=1</script>", "<img src=x onerror=alert(1)>", "`${1}`"]


def _grids(names: list[str]) -> gpd.GeoDataFrame:
    boxes = [shapely.box(116.40 + i * 0.003, 39.90, 116.403 + i * 0.003, 39.903) for i in range(len(names))]
    return gpd.GeoDataFrame(
        {
            "code": [f"1101050010010{i:02d}" for i in range(len(names))],
            "name": names,
            "requests_counted": [3, 20, 40, 0, 7][: len(names)],
            "requests_closed": [3, 19, 10, 0, 7][: len(names)],
            "hazards_reported": [4, 10, 8, 0, 5][: len(names)],
            "hazards_overdue": [4, 1, 6, 0, 0][: len(names)],
        },
        geometry=boxes,
        crs=4326,
    )


def _page(grids: gpd.GeoDataFrame, hazards: gpd.GeoDataFrame, categories: list[tuple[str, str]]) -> str:
    points = gpd.GeoSeries(shapely.centroid(grids.geometry.values), crs=4326)
    days = pd.Series([date(2026, 3, 3)] * len(points))
    view = LeaderView(first=date(2026, 1, 1), last=date(2026, 6, 30), categories=categories, category=None)
    fmap = leader_map(
        grids=grids,
        heat=weekly_heat(points, days, view.first, view.last),
        spots=hotspots(points, grids.geometry),
        hazards=hazards,
        hidden_hazards=3,
        view=view,
        tiles="none",
    )
    return render_html(fmap)


def test_hostile_text_renders_literally():
    grids = _grids(HOSTILE)
    hazards = gpd.GeoDataFrame(
        {
            "category_name": HOSTILE,
            "state_label": HOSTILE,
            "severity_label": ["高"] * 5,
            "severity": ["high"] * 5,
            "week": ["2026-03-02 当周"] * 5,
        },
        geometry=list(shapely.centroid(grids.geometry.values)),
        crs=4326,
    )
    page = _page(grids, hazards, [(f"c{i}", text) for i, text in enumerate(HOSTILE)])
    page = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)  # as the scripts read it
    for text in HOSTILE[2:]:  # HTML: only escaped forms on the page
        assert text not in page, text
    assert "&lt;img src=x" in page and "window.__x=1" in page
    assert "{{7*7}}" in page and "{# x" in page  # Jinja: left as written, never evaluated


def test_an_empty_area_still_gives_a_map():
    empty = _grids([]).iloc[0:0]
    hazards = gpd.GeoDataFrame(
        {"category_name": [], "state_label": [], "severity_label": [], "severity": [], "week": []},
        geometry=[],
        crs=4326,
    )
    page = _page(empty, hazards, [])
    assert "TDHeatmap" in page and "markerClusterGroup" in page


def test_rates_on_fewer_than_five_cases_are_not_coloured():
    rated = grid_rates(_grids(["a", "b", "c", "d", "e"]))
    assert rated["closure"].tolist()[0] == "<5 件，不计算" and rated["closure_fill"].tolist()[0] == NO_DATA
    assert rated["closure_fill"].tolist()[3] == NO_DATA  # no request at all
    assert rated["closure"].tolist()[1] == "95%（19/20）"
    assert rated["overdue"].tolist()[0] == "<5 件，不计算" and rated["overdue_fill"].tolist()[0] == NO_DATA
    assert rated["overdue"].tolist()[2] == "75%（6/8）"
