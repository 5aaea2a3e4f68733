"""Service-circle polygons (服务圈): the area reachable on foot from a service point within a walking budget.

The polygon is the honest network shape (docs/design.md §5.3): the road segments reached
within the budget — partly reached ones cut at the remaining budget — buffered by ~30 m, unioned and simplified.
It shows the tentacles along roads and the gaps behind rivers, walls and railways that a compass circle hides.
The Euclidean circle of the same budget is returned only as a separate, labelled reference *ring*
(``kind='euclidean'``): it overstates the reachable area about 1.6–1.9×.

One bounded Dijkstra per service point (`gis.network.endpoint_distances` with ``limit``) serves all its levels.
Dead-end stubs shorter than half the buffer (a path to one door) are not drawn: the buffered road covers them, and
leaving them out lets road chains merge into long lines, which keeps the union at ~25 ms (`drawn_edges`).
The polygon is for display; which buildings are covered comes from gis.coverage.core, not from the polygon.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import substring

from gis.defaults import LEVELS, MAX_SNAP_M
from gis.network import WalkGraph, endpoint_distances, snap_points

__all__ = ["BUFFER_M", "SIMPLIFY_M", "drawn_edges", "reached_lines", "service_circle", "service_circles"]

BUFFER_M = 30.0
SIMPLIFY_M = 5.0
_QUAD_SEGS = 2  # buffer arcs of 2 segments per quarter circle (then simplified): smooth at map scale, and fast


def drawn_edges(graph: WalkGraph, *, stub_m: float = BUFFER_M / 2) -> np.ndarray:
    """Edges worth drawing: all of positive length except dead-end *stubs* shorter than `stub_m`.

    A stub (a path from a road to one door, a few metres long) lies within `stub_m` of its parent node, so the
    buffered road around that node already covers it; leaving stubs out keeps road chains mergeable into long
    lines, which makes the buffer-and-union ~10× faster on networks with a stub per building. A stub whose parent
    has no other drawn edge is kept. Cached on the graph per `stub_m`.
    """
    key = ("drawn_edges", float(stub_m))
    if key not in graph.cache:
        degree, u, v, length = graph.node_degree, graph.edge_u, graph.edge_v, graph.edge_length
        dead_u, dead_v = degree[u] == 1, degree[v] == 1
        stub = (dead_u ^ dead_v) & (length < stub_m) & (length > 0)
        keep = (length > 0) & ~stub
        has_kept = np.bincount(np.r_[u[keep], v[keep]], minlength=graph.n_nodes) > 0
        graph.cache[key] = keep | (stub & ~has_kept[np.where(dead_u, v, u)])
    return graph.cache[key]


def reached_lines(
    graph: WalkGraph,
    *,
    dist: np.ndarray,
    budget_m: float,
    edge: int | None = None,
    along_m: float | None = None,
    drawn: np.ndarray | None = None,
) -> np.ndarray:
    """The parts of the network within `budget_m` of the origin, as metric LineStrings.

    Parameters
    ----------
    graph : the walk graph.
    dist : network metres from the origin to every node (inf where not reached), e.g. from `endpoint_distances`.
    budget_m : the walking budget in metres (already net of the origin's snap distance).
    edge, along_m : the origin's own edge and its distance from that edge's u node; the stretch of its own edge
        within the budget is added (the origin may sit mid-edge, out of reach of both end nodes).
    drawn : boolean mask of the edges to consider (`drawn_edges`); default: every edge of positive length.

    An edge whose two ends together leave budget for its whole length is taken whole; otherwise the piece from
    each reached end up to that end's remaining budget is cut out (`shapely.ops.substring`).
    """
    reached = dist <= budget_m
    u, v, length = graph.edge_u, graph.edge_v, graph.edge_length
    mask = (reached[u] | reached[v]) & (length > 0 if drawn is None else drawn)
    candidates = np.flatnonzero(mask)
    rest_u = budget_m - dist[u[candidates]]
    rest_v = budget_m - dist[v[candidates]]
    whole = rest_u + rest_v >= length[candidates]
    lines = list(graph.edge_geometry[candidates[whole]])
    partial = candidates[~whole]
    geoms = graph.edge_geometry[partial]
    scale = shapely.length(geoms) / length[partial]  # graph metres → geometry metres
    for geom, k, ru, rv in zip(geoms, scale, rest_u[~whole], rest_v[~whole], strict=True):
        if ru >= 0:
            lines.append(substring(geom, 0.0, max(ru * k, 1e-3)))
        if rv >= 0:
            lines.append(substring(geom, geom.length - max(rv * k, 1e-3), geom.length))
    if edge is not None and along_m is not None and budget_m >= 0 and graph.edge_length[edge] > 0:
        geom = graph.edge_geometry[edge]
        k = geom.length / graph.edge_length[edge]
        lines.append(substring(geom, max(along_m - budget_m, 0.0) * k, min(along_m + budget_m, geom.length / k) * k))
    return np.asarray(lines, dtype=object)


def service_circle(
    graph: WalkGraph,
    *,
    snapped: pd.Series,
    origin: shapely.Point | None = None,
    budget_m: float,
    dist: np.ndarray | None = None,
    buffer_m: float = BUFFER_M,
    simplify_m: float = SIMPLIFY_M,
) -> shapely.Geometry:
    """The service-circle polygon (metric CRS) of one snapped point for one budget.

    Parameters
    ----------
    graph : the walk graph.
    snapped : one row of `gis.network.snap.snap_points` (``edge``, ``snap_m``, ``to_u``, ``to_v``, ``x``, ``y``).
    origin : the point itself (metric); the straight walk from it to the road is drawn too.
    budget_m : walking budget in metres, snap distance included.
    dist : node distances from the snapped position (`endpoint_distances` with to_u / to_v), if already computed.
    buffer_m, simplify_m : buffer width around the reached lines and Douglas–Peucker tolerance, metres.

    Returns an empty polygon when the point is not snapped or its snap distance exceeds the budget.
    """
    edge = int(snapped["edge"])
    rest = budget_m - float(snapped["snap_m"]) if edge >= 0 else -1.0
    if rest < 0:
        return shapely.Polygon()
    if dist is None:
        dist = endpoint_distances(
            graph, edge=edge, to_u=float(snapped["to_u"]), to_v=float(snapped["to_v"]), limit=rest
        )
    lines = list(
        reached_lines(
            graph,
            dist=dist,
            budget_m=rest,
            edge=edge,
            along_m=float(snapped["to_u"]),
            drawn=drawn_edges(graph, stub_m=buffer_m / 2),
        )
    )
    if origin is not None and not origin.is_empty and float(snapped["snap_m"]) > 0:
        lines.append(shapely.LineString([origin, (float(snapped["x"]), float(snapped["y"]))]))
    parts = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(np.asarray(lines, dtype=object))))
    if simplify_m > 0:
        parts = shapely.simplify(parts, simplify_m / 2)
    polygon = shapely.union_all(shapely.buffer(parts, buffer_m, quad_segs=_QUAD_SEGS))
    return shapely.simplify(polygon, simplify_m) if simplify_m > 0 else polygon


def service_circles(
    graph: WalkGraph,
    services: gpd.GeoDataFrame,
    *,
    profiles: Mapping[str, float] | None = None,
    levels: Sequence[float] = LEVELS,
    buffer_m: float = BUFFER_M,
    simplify_m: float = SIMPLIFY_M,
    euclidean: bool = True,
    max_snap_m: float | None = MAX_SNAP_M,
    largest_only: bool = False,
) -> gpd.GeoDataFrame:
    """Service-circle polygons for every service point, profile and level, in EPSG:4326.

    Parameters
    ----------
    graph : the walk graph.
    services : service points with ``source_id`` (or ``id``) and optionally ``type``; Point geometry.
    profiles : walking speed (m/s) per profile; default ``{"standard": 1.2}``.
    levels : minutes; the budget is ``minutes × 60 × speed`` metres.
    buffer_m, simplify_m : see `service_circle`.
    euclidean : also return the Euclidean circle of each budget as a reference ring (a LineString).
    max_snap_m, largest_only : snapping options (`gis.network.snap.snap_points`).

    Returns
    -------
    GeoDataFrame with ``service_id``, ``service_type``, ``profile``, ``level``, ``budget_m``, ``kind``
    (``network`` polygon or ``euclidean`` reference ring), ``label`` and geometry.
    """
    profiles = {"standard": 1.2} if profiles is None else dict(profiles)
    column = "source_id" if "source_id" in services else "id" if "id" in services else None
    ids = (services[column] if column else pd.Series(services.index)).astype(str).to_numpy()
    types = services["type"].to_numpy() if "type" in services else np.full(len(services), None)
    snapped = snap_points(graph, services, largest_only=largest_only, max_snap_m=max_snap_m)
    origins = graph.to_metric(services)
    budgets = sorted(
        {(p, float(lv), float(lv) * 60.0 * s) for p, s in profiles.items() for lv in levels}, key=lambda b: b[2]
    )
    rows, geoms = [], []
    for i in range(len(services)):
        row = snapped.iloc[i]
        edge, top = int(row["edge"]), budgets[-1][2] - float(row["snap_m"]) if budgets else -1.0
        dist = (
            endpoint_distances(graph, edge=edge, to_u=float(row["to_u"]), to_v=float(row["to_v"]), limit=top)
            if edge >= 0 and top >= 0
            else None
        )
        for profile, level, budget in budgets:
            geom = service_circle(
                graph,
                snapped=row,
                origin=origins[i],
                budget_m=budget,
                dist=dist,
                buffer_m=buffer_m,
                simplify_m=simplify_m,
            )
            rows.append((ids[i], types[i], profile, level, budget, "network", f"步行{level:g}分钟 ({profile})"))
            geoms.append(geom)
            if euclidean and not shapely.is_empty(origins[i]):
                ring = shapely.LineString(shapely.buffer(origins[i], budget, quad_segs=16).exterior.coords)
                rows.append((ids[i], types[i], profile, level, budget, "euclidean", f"直线{budget:.0f}m (参考)"))
                geoms.append(ring)
    columns = ["service_id", "service_type", "profile", "level", "budget_m", "kind", "label"]
    frame = pd.DataFrame(rows, columns=columns)
    return gpd.GeoDataFrame(frame, geometry=graph.from_metric(geoms, index=frame.index), crs="EPSG:4326")
