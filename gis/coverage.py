"""Walking coverage of buildings by service points: nearest point per building and type, gaps, scenarios.

Method (../shared/design.md §2, ../shared/research/access.md §5a):

- Buildings and service points are snapped onto the nearest walk *segment* (gis.snap).
- Per service type, ONE multi-source Dijkstra (`gis.network.point_distances`, scipy ``min_only=True``) gives every
  node its distance to the nearest service point and which point that is. Each service point starts at its exact
  position: a virtual node linked to its edge's two end nodes by (its snap distance + the partial lengths).
- A building on edge (c, d) then walks ``snap_B + min(to_c + D[c], to_d + D[d])``; when a service point lies on the
  same edge, the direct walk along the edge ``snap_B + |along_B − along_P| + snap_P`` is also considered.
  A building with several entrances takes the shortest over them.
- Walking profiles (metres per second) and levels (minutes) are thresholds on these distances: ``covered`` =
  ``walk_m ≤ minutes × 60 × speed``. Nothing is recomputed per profile or level.

`coverage` returns a `Coverage` (the per-node distance arrays are kept so a scenario — gis.coverage_scenario —
updates one type without redoing the rest); `Coverage.table` is the result keyed by building × service type.
gis.coverage_report summarises it per group (grid, community) with households and residents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.network import WalkGraph, point_distances
from gis.snap import access_points, snap_points

__all__ = [
    "COMPLETE_SHARE",
    "LEVELS",
    "MAX_SNAP_M",
    "PROFILES",
    "REQUIRED_TYPES",
    "Coverage",
    "ServiceField",
    "coverage",
    "coverage_table",
    "field_of",
    "no_points",
    "profile_table",
]

PROFILES: dict[str, float] = {"standard": 1.2, "elderly": 0.8}  # walking speed, m/s
LEVELS: tuple[float, ...] = (5, 10, 15)  # minutes (GB 50180-2018 life circles)
REQUIRED_TYPES: tuple[str, ...] = ("kindergarten", "elderly_care", "clinic", "party_center")  # 完整社区 items
MAX_SNAP_M = 500.0  # a point farther than this from every road is not on the network (wrong coordinates, GCJ-02)
COMPLETE_SHARE = 0.85  # share of a group's residents that must be covered for a type to count as present
COVERED_COLUMN = re.compile(r"^covered_(?P<profile>.+)_(?P<level>\d+(?:\.\d+)?)$")


@dataclass(eq=False)
class ServiceField:
    """One service type: its points (snapped) and the multi-source search from them.

    ``node_dist`` is metres from the nearest point (including that point's snap distance) to each node;
    ``node_nearest`` the position of that point in ``service_ids`` (-1: unreachable). Points with ``edge`` = -1
    in ``snapped`` are farther than ``max_snap_m`` from every road and take no part.
    """

    service_ids: np.ndarray
    snapped: pd.DataFrame
    node_dist: np.ndarray
    node_nearest: np.ndarray


@dataclass(eq=False)
class Coverage:
    """Coverage of a set of buildings by service points of several types (see the module docstring)."""

    graph: WalkGraph
    building_ids: np.ndarray
    access: pd.DataFrame  # snapped access points: building (position), building_id, is_entrance + snap columns
    fields: dict[str, ServiceField]
    profiles: dict[str, float]
    levels: tuple[float, ...]
    max_snap_m: float | None = MAX_SNAP_M
    largest_only: bool = False

    def walk(self, service_type: str) -> tuple[np.ndarray, np.ndarray]:
        """Walk metres of every building to its nearest point of `service_type` (NaN: none reachable), and the
        position of that point in the type's ``service_ids`` (-1)."""
        n = len(self.building_ids)
        field = self.fields.get(service_type)
        if field is None:
            return np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
        acc = self.access
        ok = acc["edge"].to_numpy() >= 0
        edge = acc["edge"].to_numpy()[ok]
        to_u, to_v = acc["to_u"].to_numpy()[ok], acc["to_v"].to_numpy()[ok]
        u, v = self.graph.edge_u[edge], self.graph.edge_v[edge]
        du, dv = to_u + field.node_dist[u], to_v + field.node_dist[v]
        best = np.minimum(du, dv)
        nearest = np.where(du <= dv, field.node_nearest[u], field.node_nearest[v])
        pts = field.snapped
        on = pts["edge"].to_numpy() >= 0
        same = np.isin(edge, pts["edge"].to_numpy()[on])
        if same.any():  # a service point on the building's own edge: walk straight along the edge
            left = pd.DataFrame({"row": np.flatnonzero(same), "edge": edge[same], "along": to_u[same]})
            right = pts.loc[on, ["edge", "to_u", "snap_m"]].set_axis(["edge", "p_along", "p_snap"], axis=1)
            right["point"] = np.flatnonzero(on)
            pairs = left.merge(right, on="edge")
            direct = (pairs["along"] - pairs["p_along"]).abs().to_numpy() + pairs["p_snap"].to_numpy()
            row, point = pairs["row"].to_numpy(), pairs["point"].to_numpy()
            order = np.lexsort((point, direct, row))
            first = order[np.r_[True, row[order][1:] != row[order][:-1]]]
            better = direct[first] < best[row[first]]
            best[row[first][better]] = direct[first][better]
            nearest[row[first][better]] = point[first][better]
        total = acc["snap_m"].to_numpy()[ok] + best
        building = acc["building"].to_numpy()[ok]
        order = np.lexsort((total, building))
        first = order[np.r_[True, building[order][1:] != building[order][:-1]]] if len(order) else order
        walk, near = np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
        reach = np.isfinite(total[first])
        walk[building[first][reach]] = total[first][reach]
        near[building[first][reach]] = nearest[first][reach]
        return walk, near

    def table(self, service_types: Iterable[str] | None = None) -> pd.DataFrame:
        """One row per building × service type: ``building_id``, ``service_type``, ``service_id`` (None if no point
        is reachable), ``walk_m`` (snap + network + service snap; NaN if none), ``walk_min_<profile>`` and
        ``covered_<profile>_<level>`` for every profile and level."""
        frames = []
        for service_type in self.fields if service_types is None else service_types:
            walk, near = self.walk(service_type)
            field = self.fields.get(service_type)
            ids = np.full(len(walk), None, dtype=object)
            if field is not None:
                ids[near >= 0] = field.service_ids[near[near >= 0]]
            frame = {"building_id": self.building_ids, "service_type": service_type, "service_id": ids, "walk_m": walk}
            for profile, speed in self.profiles.items():
                frame[f"walk_min_{profile}"] = walk / speed / 60.0
            for profile, speed in self.profiles.items():
                for level in self.levels:
                    frame[f"covered_{profile}_{level:g}"] = walk <= level * 60.0 * speed
            frames.append(pd.DataFrame(frame))
        if not frames:
            return pd.DataFrame(columns=["building_id", "service_type", "service_id", "walk_m"])
        return pd.concat(frames, ignore_index=True)

    def building_report(self) -> pd.DataFrame:
        """Per building: ``snapped`` (an access point within ``max_snap_m`` of a road), ``snap_m`` (shortest),
        ``in_largest`` (on the main network) and ``component_size`` — buildings on detached pieces show here."""
        acc = self.access.sort_values(["building", "snap_m"]).drop_duplicates("building")
        out = acc.set_index("building").reindex(np.arange(len(self.building_ids)))
        out = out[["snap_m", "in_largest", "component_size"]].fillna({"in_largest": False, "component_size": 0})
        out.insert(0, "building_id", self.building_ids)
        out.insert(1, "snapped", out["snap_m"].notna())
        return out.astype({"in_largest": bool, "component_size": np.int64}).reset_index(drop=True)


def _ids(services: gpd.GeoDataFrame) -> np.ndarray:
    column = "source_id" if "source_id" in services else "id" if "id" in services else None
    values = services[column] if column else pd.Series(services.index, index=services.index)
    ids = values.astype(str).to_numpy(dtype=object)
    if pd.Index(ids).has_duplicates:
        raise ValueError("service points: duplicate ids within one type")
    return ids


def field_of(graph: WalkGraph, ids: np.ndarray, snapped: pd.DataFrame) -> ServiceField:
    """One multi-source pass for one type's snapped points (`snap_points` rows, in `ids` order)."""
    on = np.flatnonzero(snapped["edge"].to_numpy() >= 0)
    edge, snap, to_u, to_v = (snapped[c].to_numpy()[on] for c in ("edge", "snap_m", "to_u", "to_v"))
    dist, near = point_distances(graph, edge=edge, to_u=snap + to_u, to_v=snap + to_v)
    nearest = np.where(near >= 0, on[np.maximum(near, 0)], -1) if len(on) else near
    return ServiceField(ids, snapped.reset_index(drop=True), dist, nearest)


def coverage(
    graph: WalkGraph,
    buildings: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    *,
    service_types: Sequence[str] | None = None,
    entrances: gpd.GeoDataFrame | None = None,
    access: pd.DataFrame | None = None,
    profiles: Mapping[str, float] = PROFILES,
    levels: Sequence[float] = LEVELS,
    largest_only: bool = False,
    max_snap_m: float | None = MAX_SNAP_M,
) -> Coverage:
    """Nearest service point and walking distance for every building and service type.

    Parameters
    ----------
    graph : the walk graph (`gis.network.build_walk_graph`).
    buildings : building layer (``source_id``, footprint geometry, any CRS).
    services : service points with ``type`` and ``source_id`` (or ``id``, as in a GeoJSON file), Point geometry.
    service_types : the types to compute (a type without points gets NaN rows); default: the types in `services`.
    entrances : optional entrance points with ``building_ref`` (`gis.snap.access_points`).
    access : the buildings' snapped access points from an earlier `Coverage.access`, to skip snapping them again.
    profiles : walking speed (m/s) per profile name; default standard 1.2, elderly 0.8.
    levels : minutes of each level; default 5, 10, 15.
    largest_only : snap buildings and service points to the largest network component only.
    max_snap_m : points farther than this from every road stay off the network (NaN walk); None: no limit.
    """
    if access is None:
        points = access_points(buildings, entrances=entrances)
        snapped = snap_points(graph, points, largest_only=largest_only, max_snap_m=max_snap_m)
        access = pd.concat([points.drop(columns=points.geometry.name), snapped], axis=1)
    types = list(dict.fromkeys(services["type"])) if service_types is None else list(service_types)
    fields = {}
    for service_type in types:
        subset = services[services["type"] == service_type]
        if len(subset):
            snapped = snap_points(graph, subset, largest_only=largest_only, max_snap_m=max_snap_m)
            fields[service_type] = field_of(graph, _ids(subset), snapped)
    ids = buildings["source_id"].astype(str).to_numpy(dtype=object)
    cov = Coverage(graph, ids, access, fields, dict(profiles), tuple(levels), max_snap_m, largest_only)
    for service_type in types:  # keep requested types without points, so that the table has their NaN rows
        if service_type not in cov.fields:
            cov.fields[service_type] = no_points(graph)
    return cov


def no_points(graph: WalkGraph) -> ServiceField:
    """The field of a type with no points: every building unreachable."""
    return field_of(graph, np.empty(0, dtype=object), snap_points(graph, gpd.GeoSeries([], crs="EPSG:4326")))


def coverage_table(
    graph: WalkGraph,
    buildings: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    *,
    profiles: Mapping[str, float] = PROFILES,
    levels: Sequence[float] = LEVELS,
    **options: object,
) -> pd.DataFrame:
    """`coverage` (same options) and its table: one row per building × service type (`Coverage.table`).

    Examples
    --------
    The CLI's file mode (``gridmap coverage --osm AREA --services POINTS.geojson --out RESULT.csv``):

    >>> area = read_osm("area.osm.pbf")
    >>> graph = build_walk_graph(area.nodes, area.edges)
    >>> table = coverage_table(graph, area.buildings, gpd.read_file("points.geojson"))  # id, type, name
    >>> profile_table(table, "elderly").to_csv("result.csv", index=False)
    """
    return coverage(graph, buildings, services, profiles=profiles, levels=levels, **options).table()  # type: ignore[arg-type]


def profile_table(table: pd.DataFrame, profile: str = "standard") -> pd.DataFrame:
    """The coverage table for one profile with plain column names (``walk_min``, ``covered_5``, …), as the CLI
    writes it: building_id, service_type, service_id, walk_m, walk_min, covered_<level>."""
    covered = {c: f"covered_{m['level']}" for c in table if (m := COVERED_COLUMN.match(c)) and m["profile"] == profile}
    if f"walk_min_{profile}" not in table:
        raise KeyError(f"no profile {profile!r} in the table")
    out = table[["building_id", "service_type", "service_id", "walk_m", f"walk_min_{profile}", *covered]]
    return out.rename(columns={f"walk_min_{profile}": "walk_min", **covered})
