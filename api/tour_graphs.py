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

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from api.storage import Connection
from api.storage import walks as walks_db
from gis.network import WalkGraph, build_walk_graph, snap_points
from gis.tours import plan_tour

MARGIN_M = 400.0  # network kept around the grids: a shortest path between two of their buildings rarely leaves it
MAX_AREAS = 256  # areas kept per process (a district has ~350 grids)
EARTH_M_PER_DEGREE = 111_320.0


@dataclass(eq=False)
class Area:
    """The walk graph around some grids and their buildings snapped onto it (``graph`` None: no network stored)."""

    versions: dict[str, int]
    graph: WalkGraph | None
    access: pd.DataFrame  # per building id: edge, snap_m, to_u, to_v (gis.network.snap_points) and lon, lat


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
    access = pd.DataFrame({"lon": lonlat[:, 0], "lat": lonlat[:, 1]}, index=buildings["building_id"].to_numpy())
    if not len(edges):
        return Area(versions, None, access)
    graph = build_walk_graph(nodes, edges)
    snapped = snap_points(graph, buildings.geometry, largest_only=True)
    for column in ("edge", "snap_m", "to_u", "to_v"):
        access[column] = snapped[column].to_numpy()
    return Area(versions, graph, access)


def _straight_m(lonlat: np.ndarray) -> np.ndarray:
    """Straight distances in metres between (lon, lat) points (equirectangular: exact enough within a grid)."""
    lat0 = math.radians(float(np.mean(lonlat[:, 1]))) if len(lonlat) else 0.0
    xy = np.c_[lonlat[:, 0] * EARTH_M_PER_DEGREE * math.cos(lat0), lonlat[:, 1] * EARTH_M_PER_DEGREE]
    return np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))


def distance_matrix(area: Area, position: tuple[float, float], building_ids: Sequence[int]) -> tuple[np.ndarray, bool]:
    """Walking metres between the position (row 0) and each building (rows 1…), and whether they are along the
    network (False: straight lines, no walk network stored). A point off the network is joined to it by the
    straight line to its nearest edge; a pair the network does not join (a building beyond the grids' margin) is
    given its straight distance."""
    lonlat = np.vstack([np.asarray([position], dtype=float), area.access.loc[list(building_ids), ["lon", "lat"]]])
    straight = _straight_m(lonlat)
    if area.graph is None:
        return straight, False
    graph = area.graph
    start = snap_points(graph, gpd.GeoSeries([shapely.Point(position)], crs="EPSG:4326"), largest_only=True)
    columns = ["edge", "snap_m", "to_u", "to_v"]
    stops = pd.concat([start[columns], area.access.loc[list(building_ids), columns]])
    edge = stops["edge"].to_numpy(dtype=np.int64)
    ok = edge >= 0
    if not ok.any():
        return straight, False
    snap = stops["snap_m"].to_numpy(dtype=float)
    to_u, to_v = stops["to_u"].to_numpy(dtype=float), stops["to_v"].to_numpy(dtype=float)
    u = np.where(ok, graph.edge_u[np.where(ok, edge, 0)], 0)
    v = np.where(ok, graph.edge_v[np.where(ok, edge, 0)], 0)
    sources, index = np.unique(np.r_[u[ok], v[ok]], return_inverse=True)
    rows = dijkstra(graph.csr, directed=True, indices=sources)  # (len(sources), n_nodes)
    iu = np.zeros(len(edge), dtype=np.int64)
    iv = np.zeros(len(edge), dtype=np.int64)
    iu[ok], iv[ok] = index[: ok.sum()], index[ok.sum() :]
    # leave a stop by either end of its edge, arrive at the other by either end of its own
    d_uu = rows[iu][:, u] + to_u[:, None] + to_u[None, :]
    d_uv = rows[iu][:, v] + to_u[:, None] + to_v[None, :]
    d_vu = rows[iv][:, u] + to_v[:, None] + to_u[None, :]
    d_vv = rows[iv][:, v] + to_v[:, None] + to_v[None, :]
    walk = np.minimum(np.minimum(d_uu, d_uv), np.minimum(d_vu, d_vv))
    same_edge = (edge[:, None] == edge[None, :]) & ok[:, None] & ok[None, :]
    walk = np.where(same_edge, np.minimum(walk, np.abs(to_u[:, None] - to_u[None, :])), walk)
    walk = walk + snap[:, None] + snap[None, :]
    np.fill_diagonal(walk, 0.0)
    both = ok[:, None] & ok[None, :]
    walk = np.where(both & np.isfinite(walk), walk, straight)
    return (walk + walk.T) / 2.0, True


def walking_order(
    area: Area, position: tuple[float, float], building_ids: Sequence[int], *, time_limit_s: float
) -> dict:
    """The suggested tour from `position` through `building_ids` (gis.tours.plan_tour on `distance_matrix`)."""
    buildings = [b for b in dict.fromkeys(int(b) for b in building_ids) if b in area.access.index]
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
