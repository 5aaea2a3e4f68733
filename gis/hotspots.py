"""Hotspots of residents' requests: counts on a hexagon grid and the Getis-Ord Gi* statistic, with the small counts
that could single out a household suppressed.

Why not PySAL: `esda` + `libpysal` give the same statistic (``esda.G_Local(y, w, transform="B", star=True).Zs``:
on 47 hexagons of 300 random points the two agreed to 6e-16, checked once by hand), but they bring scikit-learn,
joblib and more into the service for one formula, so gridmap computes Gi* itself with numpy, as below, and the
tests check it on a case worked by hand.

Gi* (Getis & Ord 1992; Ord & Getis 1995), the "star" form, in which each cell is its own neighbour: for cell i with
binary weights w_ij (1 for i itself and for each hexagon touching it, else 0), n cells, counts x, mean x̄ and
S = sqrt(Σ x_j² / n − x̄²)::

    z_i = (Σ_j w_ij x_j − x̄ W_i) / (S · sqrt((n S1_i − W_i²) / (n − 1)))    W_i = Σ_j w_ij,  S1_i = Σ_j w_ij²

z_i is a z-score under the null of no spatial association (counts randomly placed on the cells); a cell is a hot
spot at 95 % when z_i ≥ 1.96 (two-sided p < 0.05), at 99 % when z_i ≥ 2.58; a cold spot when z_i ≤ −1.96.
Uniform counts (S = 0) give z = 0 everywhere: no hotspot. No correction for the many cells tested is made; the
legend says so.

Pure: numpy, shapely, geopandas; no database, no HTTP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.stats import norm

from gis.crs import metric_crs

SMALL_K = 5  # a count below this is shown as "<5" and never drawn as a place (k-anonymity of the cases)
Z_95 = 1.959964  # two-sided 95 %
Z_99 = 2.575829  # two-sided 99 %
HEX_SIZE_M = 120.0  # circumradius of a hotspot hexagon (≈ 37,000 m², a few buildings)
SQRT3 = math.sqrt(3.0)
# Axial offsets of the six hexagons touching a (pointy-top) hexagon.
NEIGHBOURS = ((1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1))


def suppressed(count: int | float, k: int = SMALL_K) -> str:
    """A count as shown on the leader map: '<k' below `k` (0 too is left as '<k': an empty cell among small ones
    would tell which ones are not empty), else the number."""
    return f"<{k}" if count < k else str(int(count))


def gi_star(counts: np.ndarray, neighbours: list[np.ndarray]) -> np.ndarray:
    """The Gi* z-score of each cell: `counts` (n,), `neighbours[i]` the indices of the cells touching cell i (not
    i itself; binary weights, i added as its own neighbour). Uniform counts, or fewer than 3 cells, give zeros."""
    x = np.asarray(counts, dtype=float)
    n = len(x)
    z = np.zeros(n)
    if n < 3:
        return z
    mean = x.mean()
    s = math.sqrt(max(float((x**2).mean() - mean**2), 0.0))
    if s == 0.0:
        return z
    for i, near in enumerate(neighbours):
        cells = np.append(np.asarray(near, dtype=int), i)
        w = float(len(cells))  # W_i = S1_i for binary weights
        spread = (n * w - w * w) / (n - 1)
        if spread <= 0:
            continue
        z[i] = (x[cells].sum() - mean * w) / (s * math.sqrt(spread))
    return z


def p_value(z: np.ndarray) -> np.ndarray:
    """Two-sided p-value of z-scores under the standard normal."""
    return 2.0 * norm.sf(np.abs(np.asarray(z, dtype=float)))


def classify(z: np.ndarray) -> np.ndarray:
    """'hot99', 'hot95', 'cold95' or '' per z-score."""
    z = np.asarray(z, dtype=float)
    return np.where(z >= Z_99, "hot99", np.where(z >= Z_95, "hot95", np.where(z <= -Z_95, "cold95", "")))


# --- hexagons ---------------------------------------------------------------------------------------------------


def axial_cells(x: np.ndarray, y: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """The (q, r) axial coordinates of the pointy-top hexagon holding each point (cube rounding)."""
    qf = (SQRT3 / 3 * x - y / 3) / size
    rf = (2 / 3 * y) / size
    sf = -qf - rf
    q, r, s = np.round(qf), np.round(rf), np.round(sf)
    dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    q = np.where(fix_q, -r - s, q)
    r = np.where(fix_r, -q - s, r)
    return q.astype(np.int64), r.astype(np.int64)


def cell_centres(q: np.ndarray, r: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    return size * SQRT3 * (q + r / 2), size * 1.5 * r


def _hexagon(cx: float, cy: float, size: float) -> shapely.Polygon:
    angles = np.radians(30 + 60 * np.arange(6))
    return shapely.Polygon(np.column_stack([cx + size * np.cos(angles), cy + size * np.sin(angles)]))


@dataclass(frozen=True)
class Hotspots:
    """Hexagons over the study area (EPSG:4326) with ``count`` (cases), ``shown`` (the count or '<5'), ``z``,
    ``p``, ``kind`` ('hot99', 'hot95', 'cold95' or ''), and the hexagon size used."""

    cells: gpd.GeoDataFrame
    size_m: float

    @property
    def significant(self) -> gpd.GeoDataFrame:
        return self.cells[self.cells["kind"] != ""]


def hex_counts(points: gpd.GeoSeries, area: gpd.GeoSeries, size_m: float = HEX_SIZE_M) -> gpd.GeoDataFrame:
    """Hexagons of circumradius `size_m` covering `area` (their centres in it, or holding a point) with the number
    of `points` in each, in EPSG:4326, and ``q``/``r`` axial coordinates."""
    if not len(area) and not len(points):
        empty = {"q": np.array([], dtype=np.int64), "r": np.array([], dtype=np.int64), "count": np.array([], dtype=int)}
        return gpd.GeoDataFrame(empty, geometry=[], crs=4326)
    crs = metric_crs(area if len(area) else points)
    region = shapely.union_all(area.to_crs(crs).values) if len(area) else shapely.Polygon()
    xy = shapely.get_coordinates(points.to_crs(crs).values) if len(points) else np.empty((0, 2))
    pq, pr = axial_cells(xy[:, 0], xy[:, 1], size_m)
    cells: dict[tuple[int, int], int] = {}
    for key in zip(pq.tolist(), pr.tolist(), strict=True):
        cells[key] = cells.get(key, 0) + 1
    if not region.is_empty:
        minx, miny, maxx, maxy = region.bounds
        q0, r0 = axial_cells(np.array([minx, maxx, minx, maxx]), np.array([miny, miny, maxy, maxy]), size_m)
        qs = np.arange(q0.min() - 2, q0.max() + 3)
        rs = np.arange(r0.min() - 1, r0.max() + 2)
        gq, gr = (a.ravel() for a in np.meshgrid(qs, rs))
        cx, cy = cell_centres(gq, gr, size_m)
        inside = shapely.contains_xy(region.buffer(size_m / 2), cx, cy)
        for key in zip(gq[inside].tolist(), gr[inside].tolist(), strict=True):
            cells.setdefault(key, 0)
    keys = sorted(cells)
    q = np.array([k[0] for k in keys], dtype=np.int64)
    r = np.array([k[1] for k in keys], dtype=np.int64)
    cx, cy = cell_centres(q, r, size_m)
    shapes = [_hexagon(x, y, size_m) for x, y in zip(cx, cy, strict=True)]
    frame = gpd.GeoDataFrame({"q": q, "r": r, "count": [cells[k] for k in keys]}, geometry=shapes, crs=crs)
    return frame.to_crs(4326)


def hex_neighbours(cells: pd.DataFrame) -> list[np.ndarray]:
    """For each cell (``q``, ``r``), the positions of the cells touching it."""
    index = {(int(q), int(r)): i for i, (q, r) in enumerate(zip(cells["q"], cells["r"], strict=True))}
    return [
        np.array([index[(q + dq, r + dr)] for dq, dr in NEIGHBOURS if (q + dq, r + dr) in index], dtype=int)
        for q, r in index
    ]


def hotspots(points: gpd.GeoSeries, area: gpd.GeoSeries, *, size_m: float = HEX_SIZE_M, k: int = SMALL_K) -> Hotspots:
    """Gi* hotspots of `points` on hexagons over `area` (both in any CRS); counts below `k` shown as '<k'."""
    cells = hex_counts(points, area, size_m)
    z = gi_star(cells["count"].to_numpy(), hex_neighbours(cells))
    cells["z"] = np.round(z, 2)
    cells["p"] = np.round(p_value(z), 4)
    cells["kind"] = classify(z)
    cells["shown"] = [suppressed(c, k) for c in cells["count"]]
    return Hotspots(cells, size_m)
