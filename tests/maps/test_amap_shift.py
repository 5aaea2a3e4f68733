"""The worker and leader maps on an AMap base: what they draw is shifted to GCJ-02 (AMap's tiles are GCJ-02), what
they send back stays WGS84 (a visit's fallback location is the building's WGS84 point)."""

from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from gis.crs import wgs84_to_gcj02
from gis.heat import weekly_heat
from gis.hotspots import hotspots
from maps import render_html
from maps.leader import LeaderView, leader_map
from maps.worker import worker_map
from tests.maps.worker_world import page_data

LON, LAT = 113.5501, 22.2701  # Zhuhai: the GCJ-02 shift there is ~500 m


def _worker_page(tiles: str) -> dict:
    building = box(113.55, 22.27, 113.5503, 22.2703)
    grids = gpd.GeoDataFrame({"code": ["440402001001001"], "name": ["一网格"]}, geometry=[building.buffer(0.001)])
    buildings = gpd.GeoDataFrame(
        {"id": [1], "name": ["1栋"], "kind": ["residential"], "lon": [LON], "lat": [LAT], "households": [1],
         "care": [0]},
        geometry=[building], crs=4326,
    )  # fmt: skip
    households = pd.DataFrame({"id": [7], "building_id": [1], "unit": ["1"], "room": ["101"]})
    case = {"id": 3, "state_label": "已上报", "overdue": False, "description": "x", "lon": LON, "lat": LAT - 0.0001}
    due = {
        "households": [{"household_id": 7, "building_id": 1, "days_overdue": 3}],
        "walk_order": {"building_ids": [1], "total_m": 10.0},
        "position": {"type": "Point", "coordinates": [LON + 0.001, LAT]},
        "today": "2026-12-06",
    }
    fmap = worker_map(
        grids=grids, buildings=buildings, households=households,
        hazards=pd.DataFrame([case | {"category_name": "消防通道", "severity": "high"}]),
        requests=pd.DataFrame([case | {"service_name": "微心愿"}]), due=due, tiles=tiles,
    )  # fmt: skip
    return page_data(render_html(fmap))


def test_the_worker_map_draws_on_amap_in_gcj02_and_sends_wgs84():
    plain, amap = _worker_page("none"), _worker_page("amap")
    gcj_lon, gcj_lat = wgs84_to_gcj02(LON, LAT)
    assert plain["display_offset"] == [0.0, 0.0]
    dlat, dlon = amap["display_offset"]
    assert dlat == pytest.approx(gcj_lat - LAT, abs=1e-6) and dlon == pytest.approx(gcj_lon - LON, abs=1e-6)
    assert abs(dlon) > 0.003  # ~500 m: a real shift, not rounding

    def first_corner(page: dict) -> np.ndarray:
        return np.array(page["buildings"]["features"][0]["geometry"]["coordinates"][0][0])

    corner = first_corner(plain)
    assert first_corner(amap) == pytest.approx(np.array(wgs84_to_gcj02(*corner)), abs=2e-6)
    # the building's point sent with a visit when the phone has no position stays WGS84
    assert (
        amap["buildings"]["features"][0]["properties"]["lon"] == plain["buildings"]["features"][0]["properties"]["lon"]
    )
    for key in ("hazards", "requests"):
        lon, lat = wgs84_to_gcj02(plain[key][0]["lon"], plain[key][0]["lat"])
        assert (amap[key][0]["lon"], amap[key][0]["lat"]) == pytest.approx((lon, lat), abs=2e-6)
    stop_lat, stop_lon = plain["tour"]["stops"][0][:2]
    assert amap["tour"]["stops"][0][:2] == pytest.approx(list(wgs84_to_gcj02(stop_lon, stop_lat))[::-1], abs=2e-6)
    start_lat, start_lon = plain["tour"]["start"]
    assert amap["tour"]["start"] == pytest.approx(list(wgs84_to_gcj02(start_lon, start_lat))[::-1], abs=2e-6)


def test_the_leader_map_draws_on_amap_in_gcj02():
    cells = [shapely.box(116.40 + i * 0.003, 39.90, 116.403 + i * 0.003, 39.903) for i in range(3)]
    grids = gpd.GeoDataFrame(
        {"code": ["110105001001001", "110105001001002", "110105001001003"], "name": ["甲", "乙", "丙"],
         "requests_counted": [10] * 3, "requests_closed": [9] * 3, "hazards_reported": [6] * 3,
         "hazards_overdue": [1] * 3},
        geometry=cells, crs=4326,
    )  # fmt: skip
    rng = np.random.default_rng(5)
    points = gpd.GeoSeries(
        gpd.points_from_xy(rng.uniform(116.40, 116.409, 300), rng.uniform(39.90, 39.903, 300)), crs=4326
    )
    days = pd.Series([date(2026, 3, 3)] * len(points))
    view = LeaderView(first=date(2026, 1, 1), last=date(2026, 6, 30), categories=[], category=None)
    hazards = gpd.GeoDataFrame(
        {"category_name": ["消防通道"], "state_label": ["已上报"], "severity_label": ["高"], "severity": ["high"],
         "week": ["2026-03-02 当周"]},
        geometry=gpd.points_from_xy([116.401], [39.901]), crs=4326,
    )  # fmt: skip
    heat = weekly_heat(points, days, view.first, view.last)
    assert heat.centres, "the planted requests give heat cells"
    pages = {}
    for tiles in ("none", "amap"):
        fmap = leader_map(
            grids=grids, heat=heat, spots=hotspots(points, grids.geometry), hazards=hazards, hidden_hazards=0,
            view=view, tiles=tiles,
        )  # fmt: skip
        pages[tiles] = render_html(fmap)
    lat, lon = heat.centres[0]
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    assert f"{round(gcj_lat, 6)}" in pages["amap"] and f"{round(gcj_lat, 6)}" not in pages["none"]
    corner_lon, corner_lat = wgs84_to_gcj02(116.40, 39.90)
    assert f"{round(corner_lon, 6)}" in pages["amap"]  # the grid outlines of the choropleth
    hazard_lon, hazard_lat = wgs84_to_gcj02(116.401, 39.901)
    assert f"[{round(hazard_lat, 6)}, {round(hazard_lon, 6)}, " in pages["amap"]  # the hazard clusters' rows
