"""Snap points (building access points, service points, candidate sites) onto the nearest walk-network *segment*.

Snapping to the nearest node errs by 11 m median / 65 m p95 and flips about 1.4 % of buildings' coverage
(docs/design.md §5.2), so every point is projected onto its nearest edge: the straight snap distance
is added to the walk, and the distance along the edge is split into the distance to the edge's u and v nodes
(``to_u`` + ``to_v`` = the edge's graph length, so snapped points agree with the CSR weights).

A point whose nearest edge lies in a small detached piece of the network (a compound lane mapped without its gate,
a path cut at the file's edge) is *reported*: ``in_largest`` is False and ``component_size`` says how small the
piece is. With ``largest_only=True`` points are snapped to the largest component only, and the columns
``nearest_detached`` and ``extra_snap_m`` say which points that moved and by how many metres.

Building access points (`access_points`) are the building's entrances when given, else a representative point of
the footprint (always inside it, unlike the centroid of an L-shaped block). Households leave by their building's
door too (`household_doors`), so the households of a building share one snapped spot (`snap_distinct` snaps each
distinct point once: a district's 393k households are 102k doors).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.network.graph import WalkGraph

__all__ = ["SNAP_COLUMNS", "access_points", "household_doors", "snap_distinct", "snap_metric", "snap_points"]

SNAP_COLUMNS = ["edge", "snap_m", "to_u", "to_v", "x", "y", "component_size", "in_largest"]
_NODE_CAPACITY = 4  # STRtree node size for the nearest-edge search


def access_points(buildings: gpd.GeoDataFrame, *, entrances: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """The points where people leave each building: its entrances if known, else a point inside its footprint.

    Parameters
    ----------
    buildings : building layer with ``source_id`` and (Multi)Polygon geometry.
    entrances : optional Point layer with ``building_ref`` (a building's source id); a building may have several
        entrances (a compound's gates), and then its walk is the shortest over them. Entrances naming no building
        are ignored.

    Returns
    -------
    GeoDataFrame with ``building`` (row position in `buildings`), ``building_id``, ``is_entrance`` and Point
    geometry, in the CRS of `buildings`; buildings with an empty geometry and no entrance get an empty point.
    """
    ids = buildings["source_id"].astype(str).reset_index(drop=True)
    geoms = np.asarray(buildings.geometry.values)
    has_shape = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    points = np.full(len(geoms), shapely.Point(), dtype=object)
    points[has_shape] = shapely.point_on_surface(geoms[has_shape])
    frame = pd.DataFrame({"building": np.arange(len(ids)), "building_id": ids, "is_entrance": False})
    if entrances is not None and len(entrances):
        ent = entrances.to_crs(buildings.crs) if buildings.crs is not None and entrances.crs is not None else entrances
        position = pd.Index(ids).get_indexer(ent["building_ref"].astype(str))
        ok = position >= 0
        ent_frame = pd.DataFrame(
            {"building": position[ok], "building_id": ids.to_numpy()[position[ok]], "is_entrance": True}
        )
        with_entrance = np.zeros(len(ids), dtype=bool)
        with_entrance[position[ok]] = True
        frame = pd.concat([frame[~with_entrance], ent_frame], ignore_index=True)
        points = np.r_[points[~with_entrance], np.asarray(ent.geometry.values)[ok]]
        order = np.argsort(frame["building"].to_numpy(), kind="stable")
        frame, points = frame.iloc[order].reset_index(drop=True), points[order]
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, crs=buildings.crs), crs=buildings.crs)


def household_doors(
    households: gpd.GeoDataFrame | gpd.GeoSeries,
    building: pd.Series | np.ndarray | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    doors: gpd.GeoDataFrame | None = None,
) -> gpd.GeoSeries:
    """The point each household walks from: its building's access point (`access_points`, design.md "building
    access") when ``building`` names a building of `buildings` (its ``source_id``) with a footprint, else the
    household's own point. Households of one building then have the same walk to everywhere. `doors` (``building_id``
    and Point geometry, e.g. computed in SQL) may be given instead of `buildings`."""
    points = households.geometry if isinstance(households, gpd.GeoDataFrame) else households
    if doors is None and buildings is not None and len(buildings):
        doors = access_points(buildings)
    if building is None or doors is None or not len(doors):
        return points
    same_crs = points.crs is None or doors.crs is None
    door = np.asarray(doors.geometry.values if same_crs else doors.to_crs(points.crs).geometry.values)
    position = pd.Index(_id_text(doors["building_id"])).get_indexer(_id_text(building))
    ok = position >= 0
    ok[ok] = ~(shapely.is_missing(door[position[ok]]) | shapely.is_empty(door[position[ok]]))
    if not ok.any():
        return points
    out = np.asarray(points.values, dtype=object).copy()
    out[ok] = door[position[ok]]
    return gpd.GeoSeries(out, index=points.index, crs=points.crs)


def _id_text(ids: pd.Series | np.ndarray) -> pd.Series:
    """Ids as text to match across sources: 5, 5.0 and "5" alike; missing stays missing."""
    ids = pd.Series(np.asarray(ids))
    kind = pd.api.types.infer_dtype(ids, skipna=True)
    if kind in ("string", "empty"):
        return ids.astype(object)
    if ids.dtype.kind == "f" and (ids.dropna() == ids.dropna().round()).all():
        ids = ids.astype("Int64")
    elif ids.dtype == object and kind != "integer":
        ids = pd.Series([int(v) if isinstance(v, float) and v.is_integer() else v for v in ids], dtype=object)
    text = ids.astype(object).where(ids.isna(), ids.astype(str))
    return text.astype(object)


def snap_distinct(graph: WalkGraph, points: gpd.GeoSeries, **options) -> pd.DataFrame:
    """`snap_points` of each distinct point once (same coordinates, same snap), spread back to every row."""
    geoms = np.asarray(points.values, dtype=object)
    plain = shapely.get_type_id(geoms) == shapely.GeometryType.POINT
    if not len(geoms) or not plain.all():
        return snap_points(graph, points, **options)
    xy = shapely.get_coordinates(geoms)
    if len(xy) != len(geoms) or not np.isfinite(xy).all():  # empty or NaN points: no coordinates to key on
        return snap_points(graph, points, **options)
    code, distinct = pd.factorize(xy[:, 0] + 1j * xy[:, 1])  # a hash table on the exact coordinates
    first = np.full(len(distinct), len(xy), dtype=np.int64)
    np.minimum.at(first, code, np.arange(len(xy)))
    once = snap_points(graph, points.iloc[first], **options)
    out = once.iloc[code]
    out.index = points.index
    return out


def _fast_tree(graph: WalkGraph, largest_only: bool) -> tuple[shapely.STRtree, np.ndarray]:
    """An STRtree over the same edges as `WalkGraph.edge_tree` with small nodes (capacity 4): nearest queries on
    short street segments run about twice as fast as with the default 10. Kept in ``graph.cache``."""
    key = ("snap.fast_tree", largest_only)
    if key not in graph.cache:
        items = np.flatnonzero(graph.edge_in_largest) if largest_only else np.arange(graph.n_edges)
        graph.cache[key] = (shapely.STRtree(graph.edge_geometry[items], node_capacity=_NODE_CAPACITY), items)
    return graph.cache[key]


def _nearest(
    graph: WalkGraph, points: np.ndarray, *, largest_only: bool, max_snap_m: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Edge index of the nearest edge of each point (-1 if none within `max_snap_m`) and the distance to it.

    Every equally near edge is found (on a fast tree); a point with several takes the one the graph's own tree
    returns, so the choice among ties is the same as always."""
    edge = np.full(len(points), -1, dtype=np.int64)
    dist = np.full(len(points), np.nan)
    valid = ~(shapely.is_missing(points) | shapely.is_empty(points))
    if not valid.any() or graph.n_edges == 0:
        return edge, dist
    tree, items = _fast_tree(graph, largest_only)
    if len(items) == 0:
        return edge, dist
    where = np.flatnonzero(valid)
    # max_distance is applied afterwards: passing it to query_nearest makes the query ~2.5x slower
    (query, hit), found = tree.query_nearest(points[where], return_distance=True, all_matches=True)
    query, first, count = np.unique(query, return_index=True, return_counts=True)
    hit, found = items[hit[first]], found[first]
    tied = count > 1
    if tied.any():
        own, own_items = graph.edge_tree(largest_only=largest_only)
        (q, h), _ = own.query_nearest(points[where[query[tied]]], return_distance=True, all_matches=False)
        pick = np.empty(int(tied.sum()), dtype=np.int64)
        pick[q] = own_items[h]
        hit[tied] = pick
    if max_snap_m is not None:
        near = found <= max_snap_m
        query, hit, found = query[near], hit[near], found[near]
    edge[where[query]] = hit
    dist[where[query]] = found
    return edge, dist


def _interpolate(lines: np.ndarray, along: np.ndarray) -> np.ndarray:
    """(n, 2) coordinates of ``shapely.line_interpolate_point(lines, along)``, computed as GEOS does (its segment
    walk, fraction and rounding), without making a point object per row: a third of the snapping time."""
    if not len(lines) or (shapely.get_type_id(lines) != shapely.GeometryType.LINESTRING).any():
        return shapely.get_coordinates(shapely.line_interpolate_point(lines, along))
    coords, idx = shapely.get_coordinates(lines, return_index=True)
    start = np.searchsorted(idx, np.arange(len(lines)))
    n_seg = np.diff(np.r_[start, len(idx)]) - 1
    out = coords[start].copy()  # along <= 0 (or an empty walk): the first point
    total = np.zeros(len(lines))
    todo = np.flatnonzero((along > 0) & (n_seg > 0))
    j = 0
    while len(todo):
        p0, p1 = coords[start[todo] + j], coords[start[todo] + j + 1]
        d = p1 - p0
        seg_len = np.sqrt(d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1])
        hit = total[todo] + seg_len > along[todo]
        if hit.any():
            at = todo[hit]
            frac = ((along[at] - total[at]) / seg_len[hit])[:, None]
            out[at] = np.where(frac <= 0, p0[hit], np.where(frac >= 1, p1[hit], d[hit] * frac + p0[hit]))
        total[todo[~hit]] += seg_len[~hit]
        j += 1
        last = j >= n_seg[todo[~hit]]
        out[todo[~hit][last]] = coords[start[todo[~hit][last]] + j]  # beyond the end: the last point
        todo = todo[~hit][~last]
    return out


def _project(
    graph: WalkGraph, geoms: np.ndarray, *, largest_only: bool, max_snap_m: float | None, with_xy: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each point's nearest edge (-1: none), the straight metres to it, the metres along it to its u and v ends,
    and (`with_xy`) the projected point: `snap_points` without its frame."""
    edge, snap_m = _nearest(graph, geoms, largest_only=largest_only, max_snap_m=max_snap_m)
    ok = edge >= 0
    to_u = np.full(len(geoms), np.nan)
    to_v = np.full(len(geoms), np.nan)
    xy = np.full((len(geoms), 2), np.nan)
    if ok.any():
        lines = graph.edge_geometry[edge[ok]]
        line_length = shapely.length(lines)
        along = shapely.line_locate_point(lines, geoms[ok])
        fraction = np.clip(np.where(line_length > 0, along / np.where(line_length > 0, line_length, 1.0), 0.0), 0, 1)
        length = graph.edge_length[edge[ok]]
        to_u[ok] = fraction * length
        to_v[ok] = length - to_u[ok]
        if with_xy:
            xy[ok] = _interpolate(lines, along)
    return edge, snap_m, to_u, to_v, xy


def snap_metric(graph: WalkGraph, geoms: np.ndarray, *, largest_only: bool = False) -> tuple[np.ndarray, ...]:
    """`snap_points`' ``edge``, ``snap_m``, ``to_u`` and ``to_v`` as arrays, for Points already in the graph's CRS:
    for a request snapping one point, where building the GeoSeries and the frame cost more than the snapping."""
    edge, snap_m, to_u, to_v, _ = _project(graph, geoms, largest_only=largest_only, max_snap_m=None, with_xy=False)
    return edge, snap_m, to_u, to_v


def snap_points(
    graph: WalkGraph,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    largest_only: bool = False,
    max_snap_m: float | None = None,
) -> pd.DataFrame:
    """Project each point onto its nearest walk edge.

    Parameters
    ----------
    graph : the walk graph (gis.network.graph).
    points : Point geometries in any CRS (none means EPSG:4326); other geometry types are represented by
        `shapely.point_on_surface`.
    largest_only : snap to edges of the largest connected component only; the result then also has
        ``nearest_detached`` (the nearest edge overall lies in a detached piece) and ``extra_snap_m`` (how much
        farther the chosen edge is than that nearest one).
    max_snap_m : points farther than this from every (eligible) edge are not snapped (``edge`` = -1); None: no limit.

    Returns
    -------
    DataFrame indexed like `points` with ``edge`` (edge index, -1 if not snapped), ``snap_m`` (straight metres from
    the point to the edge), ``to_u`` / ``to_v`` (metres along the edge to its u / v node, on the graph's edge
    length), ``x`` / ``y`` (the projected point in the graph's CRS), ``component_size`` (nodes in the edge's
    component) and ``in_largest``.
    """
    geoms = graph.to_metric(points)
    if len(geoms):
        not_point = shapely.get_type_id(geoms) != shapely.GeometryType.POINT
        not_point &= ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
        if not_point.any():
            geoms = geoms.copy()
            geoms[not_point] = shapely.point_on_surface(geoms[not_point])
    edge, snap_m, to_u, to_v, xy = _project(graph, geoms, largest_only=largest_only, max_snap_m=max_snap_m)
    ok = edge >= 0
    component = np.where(ok, graph.edge_component[np.where(ok, edge, 0)] if graph.n_edges else -1, -1)
    sizes = np.where(ok, graph.component_sizes[np.where(ok, component, 0)] if graph.n_edges else 0, 0)
    out = pd.DataFrame(
        {
            "edge": edge,
            "snap_m": snap_m,
            "to_u": to_u,
            "to_v": to_v,
            "x": xy[:, 0],
            "y": xy[:, 1],
            "component_size": sizes.astype(np.int64),
            "in_largest": ok & (graph.edge_in_largest[np.where(ok, edge, 0)] if graph.n_edges else False),
        },
        index=points.index,
    )
    if largest_only:
        free_edge, free_m = _nearest(graph, geoms, largest_only=False, max_snap_m=max_snap_m)
        detached = (free_edge >= 0) & ~(
            graph.edge_in_largest[np.where(free_edge >= 0, free_edge, 0)] if graph.n_edges else False
        )
        out["nearest_detached"] = detached
        out["extra_snap_m"] = np.where(ok & (free_edge >= 0), snap_m - free_m, np.nan)
    return out
