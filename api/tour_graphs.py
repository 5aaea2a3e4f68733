"""The walk network around a worker's grids, kept per process for the walking order of GET /visits/due.

The planner's coverage state (api.coverage_state) holds the whole district's graph, but building it takes seconds
and is a planner's job; a due list must not wait for it. A due list only walks inside its grids, so the graph here is
the network within `MARGIN_M` of the grids' extent (a few hundred edges), built on first use (~tens of ms), its
buildings snapped once, and kept while the walk network, buildings and grids are unchanged (``layer_versions``):
a request then snaps one point (the worker's position) and runs one small Dijkstra from the stops' edge ends.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from scipy.sparse.csgraph import dijkstra

from api.storage import Connection
from api.storage import walks as walks_db
from gis.crs import lonlat_to
from gis.network import WalkGraph, build_walk_graph, snap_metric, snap_points
from gis.tours import plan_tour

MARGIN_M = 250.0  # network kept around the grids: a shortest path between two of their buildings rarely leaves it
MAX_AREAS = 256  # areas kept per process (a district has ~350 grids)
EARTH_M_PER_DEGREE = 111_320.0


@dataclass(eq=False)
class Area:
    """The walk graph around some grids, their buildings snapped onto it, and the walking metres between every two
    of those buildings (computed once: a request then only searches from the worker's position). ``graph`` None:
    no walk network stored (straight lines are used)."""

    versions: dict[str, int]
    graph: WalkGraph | None
    row_of: dict[int, int]  # building id → its row in `lonlat`, `snapped` and `between`
    lonlat: np.ndarray  # (n, 2) each building's point
    snapped: Snapped | None = None  # each building on the walk graph
    between: np.ndarray | None = None  # metres between the buildings, in row order
    to_metric: Transformer | None = None  # lon/lat → the graph's CRS


@dataclass(frozen=True)
class Snapped:
    """Points on the walk graph as plain arrays (gis.network.snap_points' ``edge``, ``snap_m``, ``to_u``,
    ``to_v``): a request reads them by row without pandas' per-call cost."""

    edge: np.ndarray
    snap_m: np.ndarray
    to_u: np.ndarray
    to_v: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Snapped:
        return cls(*(frame[c].to_numpy(dtype=np.int64 if c == "edge" else float) for c in SNAP))

    def take(self, rows: np.ndarray) -> Snapped:
        return Snapped(self.edge[rows], self.snap_m[rows], self.to_u[rows], self.to_v[rows])


class TourGraphs:
    """`Area`s by the sorted grid ids they are for, least recently used dropped beyond `max_areas`."""

    def __init__(self, max_areas: int = MAX_AREAS, margin_m: float = MARGIN_M) -> None:
        self._areas: OrderedDict[tuple[int, ...], Area] = OrderedDict()
        self._lock = threading.Lock()
        self.max_areas = max_areas
        self.margin_m = margin_m

    def area(self, conn: Connection, grid_ids: Sequence[int]) -> Area:
        """The area of these grids, built now if missing or stale (read on `conn`, the request's transaction)."""
        key = tuple(sorted({int(g) for g in grid_ids}))
        versions = walks_db.versions(conn)
        with self._lock:
            found = self._areas.get(key)
            if found is not None and found.versions == versions:
                self._areas.move_to_end(key)
                return found
        area = build_area(conn, key, versions, self.margin_m)  # outside the lock: two builds at once are harmless
        with self._lock:
            self._areas[key] = area
            self._areas.move_to_end(key)
            while len(self._areas) > self.max_areas:
                self._areas.popitem(last=False)
        return area


def build_area(conn: Connection, grid_ids: Sequence[int], versions: dict[str, int], margin_m: float) -> Area:
    nodes, edges, buildings = walks_db.area_inputs(conn, grid_ids, margin_m)
    lonlat = shapely.get_coordinates(np.asarray(buildings.geometry.values)) if len(buildings) else np.zeros((0, 2))
    row_of = {int(b): row for row, b in enumerate(buildings["building_id"].to_numpy())}
    if not len(edges):
        return Area(versions, None, row_of, lonlat)
    graph = build_walk_graph(nodes, edges)
    snapped = Snapped.of(snap_points(graph, buildings.geometry, largest_only=True))
    transformer = lonlat_to(graph.crs)  # shared: making one costs ~50 ms per thread that uses it
    between = _walks(graph, snapped, snapped, _straight_m(lonlat, lonlat))
    return Area(versions, graph, row_of, lonlat, snapped, between, transformer)


SNAP = ["edge", "snap_m", "to_u", "to_v"]


def _straight_m(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Straight metres between (lon, lat) points of `a` and of `b` (equirectangular: exact enough in a grid)."""
    both = np.vstack([a, b])
    lat0 = math.radians(float(np.mean(both[:, 1]))) if len(both) else 0.0
    scale = np.array([EARTH_M_PER_DEGREE * math.cos(lat0), EARTH_M_PER_DEGREE])
    xa, xb = a * scale, b * scale
    return np.hypot(xa[:, None, 0] - xb[None, :, 0], xa[:, None, 1] - xb[None, :, 1])


def _walks(graph: WalkGraph, a: Snapped, b: Snapped, straight: np.ndarray) -> np.ndarray:
    """Walking metres from each snapped point of `a` to each of `b`: out of its edge by either
    end, in to the other's by either end, plus both snap distances; along the edge when both share it. A point not
    snapped, or a pair the network does not join, gets its `straight` distance."""
    ea, eb = a.edge, b.edge
    ok_a, ok_b = ea >= 0, eb >= 0
    if not ok_a.any() or not ok_b.any():
        return straight.copy()
    ua, va = graph.edge_u[np.maximum(ea, 0)], graph.edge_v[np.maximum(ea, 0)]
    ub, vb = graph.edge_u[np.maximum(eb, 0)], graph.edge_v[np.maximum(eb, 0)]
    sources, index = np.unique(np.r_[ua, va], return_inverse=True)
    rows = dijkstra(graph.csr, directed=True, indices=sources)
    iu, iv = index[: len(ea)], index[len(ea) :]
    au, av = a.to_u[:, None], a.to_v[:, None]
    bu, bv = b.to_u[None, :], b.to_v[None, :]
    walk = np.minimum(
        np.minimum(rows[iu][:, ub] + au + bu, rows[iu][:, vb] + au + bv),
        np.minimum(rows[iv][:, ub] + av + bu, rows[iv][:, vb] + av + bv),
    )
    same = ea[:, None] == eb[None, :]
    walk = np.where(same, np.minimum(walk, np.abs(au - bu)), walk)
    walk = walk + a.snap_m[:, None] + b.snap_m[None, :]
    good = ok_a[:, None] & ok_b[None, :] & np.isfinite(walk)
    return np.where(good, walk, straight)


def distance_matrix(area: Area, position: tuple[float, float], building_ids: Sequence[int]) -> tuple[np.ndarray, bool]:
    """Walking metres between the position (row 0) and each building (rows 1…), and whether they are along the
    network (False: straight lines, no walk network stored). A point off the network is joined to it by the
    straight line to its nearest edge; a pair the network does not join gets its straight distance."""
    rows = np.fromiter((area.row_of[int(b)] for b in building_ids), dtype=np.int64, count=len(building_ids))
    lonlat = area.lonlat[rows]
    here = np.asarray([position], dtype=float)
    out = np.zeros((len(rows) + 1, len(rows) + 1))
    graph = area.graph
    if graph is None or area.snapped is None or area.between is None or area.to_metric is None:
        every = np.vstack([here, lonlat])
        return _straight_m(every, every), False
    x, y = area.to_metric.transform(position[0], position[1])
    start = Snapped(*snap_metric(graph, shapely.points([[x, y]]), largest_only=True))
    first = _walks(graph, start, area.snapped.take(rows), _straight_m(here, lonlat))[0]
    out[0, 1:] = out[1:, 0] = first
    out[1:, 1:] = area.between[np.ix_(rows, rows)]
    np.fill_diagonal(out, 0.0)
    return (out + out.T) / 2.0, True


def walking_order(
    area: Area, position: tuple[float, float], building_ids: Sequence[int], *, time_limit_s: float, max_stops: int
) -> dict:
    """The suggested tour from `position` through the first `max_stops` of `building_ids` (most overdue first: a
    day's round, not every building due; gis.tours.plan_tour on `distance_matrix`)."""
    buildings = [b for b in dict.fromkeys(int(b) for b in building_ids) if b in area.row_of][:max_stops]
    if not buildings:
        return {"building_ids": [], "legs_m": [], "total_m": 0.0, "method": "none", "along_network": False}
    matrix, network = distance_matrix(area, position, buildings)
    tour = plan_tour(matrix, start=0, time_limit_s=time_limit_s)
    return {
        "building_ids": [buildings[i - 1] for i in tour.order],
        "legs_m": [round(leg, 1) for leg in tour.legs],
        "total_m": round(tour.total, 1),
        "method": tour.method,
        "along_network": network,
    }
