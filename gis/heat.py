"""The weekly heat of residents' requests, generalised so that no household can be found on it.

Each request is moved to the centre of the small hexagon (`HEAT_SIZE_M`) holding it, so the heat shows a cell, never
a building; a cell with fewer than `SMALL_K` requests over the whole period is left out of every week. Weeks start
on Monday; a week's weight of a cell is the square root of its count over the largest cell-week count of the period
(so weeks compare, and a cell with a few requests in a week still shows beside the busiest).

Pure: numpy, pandas, geopandas; no database, no HTTP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.crs import metric_crs
from gis.hotspots import SMALL_K, axial_cells, cell_centres

HEAT_SIZE_M = 60.0  # circumradius of a heat cell (≈ 9,000 m²)
LAT_LON_DECIMALS = 5  # ≈ 1 m: the cell centre needs no more


@dataclass(frozen=True)
class WeeklyHeat:
    weeks: list[date]  # the Monday of each week
    centres: list[list[float]]  # [lat, lon] of each cell drawn (with at least k requests over the period)
    data: list[list[list[float]]]  # per week: [index in centres, weight] of each cell with requests that week
    left_out: int  # requests in cells with fewer than k, drawn in no week
    peak: int  # the largest count of one cell in one week

    @property
    def cells(self) -> int:
        return len(self.centres)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_starts(first: date, last: date) -> list[date]:
    """The Mondays of the weeks from `first` to `last` (inclusive)."""
    start, end = monday(first), monday(last)
    return [start + timedelta(weeks=i) for i in range((end - start).days // 7 + 1)]


def weekly_heat(
    points: gpd.GeoSeries, days: pd.Series, first: date, last: date, *, size_m: float = HEAT_SIZE_M, k: int = SMALL_K
) -> WeeklyHeat:
    """The heat of `points` (any CRS) by the week of `days` (their local dates), from `first` to `last`."""
    weeks = week_starts(first, last)
    if len(points) == 0:
        return WeeklyHeat(weeks, [], [[] for _ in weeks], 0, 0)
    crs = metric_crs(points)
    xy = shapely.get_coordinates(points.to_crs(crs).values)
    q, r = axial_cells(xy[:, 0], xy[:, 1], size_m)
    week = np.array([(monday(d) - weeks[0]).days // 7 for d in days], dtype=int)
    frame = pd.DataFrame({"q": q, "r": r, "week": week})
    frame = frame[(frame["week"] >= 0) & (frame["week"] < len(weeks))]
    totals = frame.groupby(["q", "r"]).size()
    kept = totals[totals >= k]
    left_out = int(totals[totals < k].sum())
    frame = frame.join(kept.rename("total"), on=["q", "r"], how="inner")
    counts = frame.groupby(["week", "q", "r"]).size().rename("n").reset_index()
    peak = int(counts["n"].max()) if len(counts) else 0
    cells = kept.reset_index()[["q", "r"]]
    cx, cy = cell_centres(cells["q"].to_numpy(), cells["r"].to_numpy(), size_m)
    centres = gpd.GeoSeries(gpd.points_from_xy(cx, cy), crs=crs).to_crs(4326)
    lat_lon = np.round(np.column_stack([centres.y.to_numpy(), centres.x.to_numpy()]), LAT_LON_DECIMALS)
    position = {(int(q), int(r)): i for i, (q, r) in enumerate(zip(cells["q"], cells["r"], strict=True))}
    data: list[list[list[float]]] = [[] for _ in weeks]
    for row in counts.itertuples(index=False):
        data[int(row.week)].append([position[(int(row.q), int(row.r))], round(math.sqrt(int(row.n) / peak), 3)])
    return WeeklyHeat(weeks, lat_lon.tolist(), data, left_out, peak)
