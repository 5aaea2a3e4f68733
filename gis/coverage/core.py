"""Walking coverage of buildings by service points: nearest point per building and type, gaps, scenarios.

Method (docs/design.md §5.3):

- Buildings and service points are snapped onto the nearest walk *segment* (gis.network.snap).
- Per service type, ONE multi-source Dijkstra (`gis.network.point_distances`, scipy ``min_only=True``) gives every
  node its distance to the nearest service point and which point that is. Each service point starts at its exact
  position: a virtual node linked to its edge's two end nodes by (its snap distance + the partial lengths).
- A building on edge (c, d) then walks ``snap_B + min(to_c + D[c], to_d + D[d])``; when a service point lies on the
  same edge, the direct walk along the edge ``snap_B + |along_B − along_P| + snap_P`` is also considered.
  A building with several entrances takes the shortest over them.
- Walking profiles (metres per second) and levels (minutes) are thresholds on these distances: ``covered`` =
  ``walk_m ≤ minutes × 60 × speed``. Nothing is recomputed per profile or level.

`coverage` returns a `Coverage` (the per-node distance arrays are kept so a scenario — gis.coverage.scenario —
updates one type without redoing the rest); `Coverage.table` is the result keyed by building × service type.
gis.coverage.report summarises it per group (grid, community) with households and residents.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.defaults import LEVELS, MAX_SNAP_M, PROFILES
from gis.network import WalkGraph, access_points, point_distances, snap_points

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

REQUIRED_TYPES: tuple[str, ...] = ("kindergarten", "elderly_care", "clinic", "party_center")  # 完整社区 items
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
class _Rows:
    """The on-network access rows as arrays, built once per `Coverage.access` and shared by every walk."""

    edge: np.ndarray
    to_u: np.ndarray
    to_v: np.ndarray
    snap: np.ndarray
    u: np.ndarray
    v: np.ndarray
    building: np.ndarray
    single: bool  # at most one row per building: the per-building minimum is a plain scatter


@dataclass(eq=False)
class _Walk:
    """One type's walk, kept so that a scenario patches the rows it changes instead of redoing all of them."""

    field: ServiceField
    total: np.ndarray  # per row of `_Rows`: snap + network + service snap (inf: unreachable)
    nearest: np.ndarray  # per row: position of the point in ``service_ids`` (-1)
    walk: np.ndarray  # per building (NaN: unreachable)
    near: np.ndarray  # per building (-1)


@dataclass(eq=False)
class Coverage:
    """Coverage of a set of buildings by service points of several types (see the module docstring).

    Walks are computed once per type and kept (``_walks``; a field or access frame replaced in place is noticed);
    `with_field` carries them into a scenario's coverage and recomputes only the access rows it changes.
    """

    graph: WalkGraph
    building_ids: np.ndarray
    access: pd.DataFrame  # snapped access points: building (position), building_id, is_entrance + snap columns
    fields: dict[str, ServiceField]
    profiles: dict[str, float]
    levels: tuple[float, ...]
    max_snap_m: float | None = MAX_SNAP_M
    largest_only: bool = False
    _rows: tuple[pd.DataFrame, _Rows] | None = dataclasses.field(default=None, init=False, repr=False)
    _walks: dict[str, _Walk] = dataclasses.field(default_factory=dict, init=False, repr=False)

    def _access_rows(self) -> _Rows:
        """The access rows' arrays; (re)built when `access` is new, which also drops the kept walks."""
        if self._rows is None or self._rows[0] is not self.access:
            self._walks.clear()
            acc = self.access
            ok = acc["edge"].to_numpy() >= 0
            edge = acc["edge"].to_numpy()[ok].astype(np.int64)
            building = acc["building"].to_numpy()[ok].astype(np.int64)
            rows = _Rows(
                edge,
                acc["to_u"].to_numpy(dtype=float)[ok],
                acc["to_v"].to_numpy(dtype=float)[ok],
                acc["snap_m"].to_numpy(dtype=float)[ok],
                self.graph.edge_u[edge],
                self.graph.edge_v[edge],
                building,
                not pd.Index(building).has_duplicates,
            )
            self._rows = (acc, rows)
        return self._rows[1]

    def _row_walk(self, field: ServiceField, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Walk metres (total) and nearest point of the given access rows."""
        r = self._access_rows()
        edge, to_u, u, v = r.edge[rows], r.to_u[rows], r.u[rows], r.v[rows]
        du, dv = to_u + field.node_dist[u], r.to_v[rows] + field.node_dist[v]
        best = np.minimum(du, dv)
        nearest = np.where(du <= dv, field.node_nearest[u], field.node_nearest[v])
        p_edge = field.snapped["edge"].to_numpy()
        on = np.flatnonzero(p_edge >= 0)
        if len(on) and len(rows):  # a service point on the row's own edge: walk straight along the edge
            order = np.lexsort((on, p_edge[on]))  # by edge, then point position (the lower position wins ties)
            point, p_edge = on[order], p_edge[on][order]
            p_along, p_snap = field.snapped["to_u"].to_numpy()[point], field.snapped["snap_m"].to_numpy()[point]
            lo, hi = np.searchsorted(p_edge, edge, "left"), np.searchsorted(p_edge, edge, "right")
            direct, by = np.full(len(rows), np.inf), np.full(len(rows), -1, dtype=np.int64)
            for k in range(int((hi - lo).max())):
                sel = np.flatnonzero(hi - lo > k)
                j = lo[sel] + k
                d = np.abs(to_u[sel] - p_along[j]) + p_snap[j]
                better = d < direct[sel]
                direct[sel[better]], by[sel[better]] = d[better], point[j[better]]
            better = direct < best
            best[better], nearest[better] = direct[better], by[better]
        return r.snap[rows] + best, nearest

    def _put(
        self, walk: np.ndarray, near: np.ndarray, total: np.ndarray, nearest: np.ndarray, rows: np.ndarray
    ) -> None:
        """Per-building minimum over `rows` (every row of the buildings concerned) into `walk` / `near`."""
        r = self._access_rows()
        building = r.building[rows]
        if r.single:
            first = np.arange(len(rows))
        else:
            order = np.lexsort((total[rows], building))
            first = order[np.r_[True, building[order][1:] != building[order][:-1]]] if len(order) else order
        b, t = building[first], total[rows][first]
        reach = np.isfinite(t)
        walk[b] = np.where(reach, t, np.nan)
        near[b] = np.where(reach, nearest[rows][first], -1)

    def _walk_state(self, service_type: str) -> _Walk | None:
        field = self.fields.get(service_type)
        if field is None:
            return None
        r = self._access_rows()
        state = self._walks.get(service_type)
        if state is None or state.field is not field:
            rows = np.arange(len(r.edge))
            total, nearest = self._row_walk(field, rows)
            n = len(self.building_ids)
            walk, near = np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
            self._put(walk, near, total, nearest, rows)
            state = self._walks[service_type] = _Walk(field, total, nearest, walk, near)
        return state

    def walk(self, service_type: str) -> tuple[np.ndarray, np.ndarray]:
        """Walk metres of every building to its nearest point of `service_type` (NaN: none reachable), and the
        position of that point in the type's ``service_ids`` (-1). Fresh arrays (the kept ones stay intact)."""
        state = self._walk_state(service_type)
        if state is None:
            n = len(self.building_ids)
            return np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
        return state.walk.copy(), state.near.copy()

    def with_field(
        self,
        service_type: str,
        field: ServiceField,
        *,
        labels: np.ndarray | None = None,
        edges: Iterable[int] = (),
    ) -> Coverage:
        """A new `Coverage` with `field` for `service_type`; the other types (and their walks) are shared.

        The type's walk, if kept, is patched: only the access rows on an edge touching a node whose distance or
        nearest point changed, or on one of `edges` (where a point appeared or left), are recomputed.
        `labels` maps the old field's point positions to the new ones (-1: removed), when they shifted.
        """
        r = self._access_rows()
        new = replace(self, fields={**self.fields, service_type: field})
        new._rows = self._rows
        new._walks = {t: w for t, w in self._walks.items() if t != service_type and self.fields.get(t) is w.field}
        old = self._walks.get(service_type)
        if old is None or old.field is not self.fields.get(service_type):
            return new
        relabel = (lambda a: a.copy()) if labels is None else (lambda a: np.where(a >= 0, labels[np.maximum(a, 0)], -1))
        node_near = relabel(old.field.node_nearest)
        changed = (field.node_dist != old.field.node_dist) | (field.node_nearest != node_near)
        touched = changed[r.u] | changed[r.v]
        for edge in edges:  # one or two edges: a comparison each is cheaper than np.isin
            touched |= r.edge == edge
        rows = np.flatnonzero(touched)
        total, nearest = old.total.copy(), relabel(old.nearest)
        total[rows], nearest[rows] = self._row_walk(field, rows)
        walk, near = old.walk.copy(), relabel(old.near)
        if not r.single:  # every row of the buildings concerned
            rows = np.flatnonzero(np.isin(r.building, r.building[rows]))
        self._put(walk, near, total, nearest, rows)
        new._walks[service_type] = _Walk(field, total, nearest, walk, near)
        return new

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
    entrances : optional entrance points with ``building_ref`` (`gis.network.snap.access_points`).
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
