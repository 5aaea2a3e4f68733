"""Getis-Ord Gi* (gis.hotspots) on a case worked by hand, on a planted cluster and on uniform data; the weekly heat
and the suppression of small counts (gis.heat)."""

from datetime import date

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.heat import week_starts, weekly_heat
from gis.hotspots import Z_95, classify, gi_star, hex_counts, hex_neighbours, hotspots, p_value, suppressed

# A small square area near Beijing, ~1.2 km across, in WGS84.
LON, LAT = 116.40, 39.90
AREA = gpd.GeoSeries([shapely.box(LON, LAT, LON + 0.014, LAT + 0.011)], crs=4326)


def test_gi_star_against_a_case_worked_by_hand():
    # Four cells in a row 0-1-2-3, counts 1, 2, 3, 6: n = 4, mean 3, S = sqrt(50/4 - 9) = sqrt(3.5).
    # Cell 3 (neighbours {2} and itself, W = 2): (3 + 6 - 3·2) / (S · sqrt((4·2 - 2²)/3)) = 3 / (1.8708 · 1.1547).
    # Cell 1 (W = 3): (1 + 2 + 3 - 9) / (S · sqrt((12 - 9)/3)) = -3 / 1.8708.
    counts = np.array([1, 2, 3, 6])
    neighbours = [np.array([1]), np.array([0, 2]), np.array([1, 3]), np.array([2])]
    s = np.sqrt(3.5)
    expected = [-3 / (s * np.sqrt(4 / 3)), -3 / s, 2 / s, 3 / (s * np.sqrt(4 / 3))]
    assert gi_star(counts, neighbours) == pytest.approx(expected, abs=1e-9)
    assert expected[3] == pytest.approx(1.3887, abs=1e-4)


def test_uniform_counts_give_no_hotspot():
    cells = hex_counts(gpd.GeoSeries([], crs=4326), AREA)
    n = len(cells)
    assert n > 20
    z = gi_star(np.full(n, 7), hex_neighbours(cells))
    assert np.all(z == 0)
    assert set(classify(z)) == {""}
    # and points spread evenly (one per cell) neither
    centres = shapely.centroid(cells.geometry.values)
    spots = hotspots(gpd.GeoSeries(centres, crs=4326), AREA)
    assert spots.significant.empty


def test_a_planted_cluster_is_found_where_it_was_planted():
    rng = np.random.default_rng(7)
    background = np.column_stack([LON + rng.uniform(0, 0.014, 150), LAT + rng.uniform(0, 0.011, 150)])
    centre = (LON + 0.004, LAT + 0.003)
    cluster = np.column_stack([centre[0] + rng.normal(0, 0.0004, 120), centre[1] + rng.normal(0, 0.0004, 120)])
    xy = np.vstack([background, cluster])
    points = gpd.GeoSeries(gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=4326)
    spots = hotspots(points, AREA)
    hot = spots.cells[spots.cells["kind"].str.startswith("hot")]
    assert len(hot) >= 1
    assert hot.union_all().buffer(1e-9).contains(shapely.Point(centre))
    assert (hot["z"] >= Z_95).all() and (hot["p"] < 0.05).all()
    # nothing hot far from the planted cluster (the far corner)
    far = shapely.Point(LON + 0.013, LAT + 0.010)
    assert not hot.geometry.contains(far).any()
    # every point was counted once
    assert spots.cells["count"].sum() == len(points)


def test_p_values_two_sided():
    assert p_value(np.array([1.959964]))[0] == pytest.approx(0.05, abs=1e-5)
    assert p_value(np.array([-2.575829]))[0] == pytest.approx(0.01, abs=1e-5)


def test_small_counts_suppressed():
    assert [suppressed(n) for n in (0, 1, 4, 5, 12)] == ["<5", "<5", "<5", "5", "12"]
    rng = np.random.default_rng(1)
    busy = (LON + 0.002, LAT + 0.002)
    lone = (LON + 0.010, LAT + 0.009)  # one household's requests: 3 of them
    xy = [busy] * 12 + [lone] * 3
    points = gpd.GeoSeries(gpd.points_from_xy([p[0] for p in xy], [p[1] for p in xy]), crs=4326)
    days = pd.Series([date(2026, 3, 2) + pd.Timedelta(days=int(d)) for d in rng.integers(0, 60, len(xy))])
    heat = weekly_heat(points, days, date(2026, 3, 1), date(2026, 4, 30))
    drawn = [p for week in heat.data for p in week]
    assert heat.cells == 1 and heat.left_out == 3
    # the busy cell is drawn at its cell's centre, never at the point itself; the lone one not at all
    assert all(abs(lon - lone[0]) > 0.001 for _, lon in heat.centres)
    assert all(p[0] == 0 and 0 < p[1] <= 1 for p in drawn)
    assert sum(len(week) for week in heat.data) >= 1
    spots = hotspots(points, AREA)
    lone_cell = spots.cells[spots.cells.geometry.contains(shapely.Point(lone))]
    assert lone_cell["shown"].tolist() == ["<5"]


def test_weeks_start_on_monday():
    weeks = week_starts(date(2026, 3, 4), date(2026, 3, 16))
    assert weeks == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
