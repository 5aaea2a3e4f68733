"""Walking distances from households to the center households (党员中心户) of their grid, as candidate pairs.

`walk_pairs` computes, grid by grid, the network distance from every household to every center household of the
same grid and keeps the k nearest of each household: the candidate arcs of the assignment (`gis.centers`).

A point reaches the walk graph through one or two *accesses* (`Access`): a graph node and the metres from the point
to it. A point snapped onto a road segment has two (the segment's end nodes, at snap distance + distance along the
segment); a point placed on a node has one. Household → center distance is the shortest of
``offset(household) + network(node, node') + offset(center)`` over their accesses, with three exceptions:

- the same household (a center looks after itself): 0 m;
- the same building (``building`` column, or without it the same snapped spot): 0 m (a neighbour on the same
  staircase);
- both on the same segment: snap + distance along the segment + snap (no detour through an end node).

The graph is a scipy CSR matrix in metres holding both directions of every edge (as `gis.network.build_walk_graph`
stores it). One Dijkstra per grid starts from all accesses of the grid's centers, bounded by `limit_m`; with node
coordinates (`node_xy`, metres) the graph is first cropped to the centers' bounding box grown by `limit_m`, which
loses no path of length ≤ `limit_m` (a walk is never shorter than the straight line) and keeps each search small.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_array, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

__all__ = ["DEFAULT_K", "DEFAULT_LIMIT_M", "Access", "walk_pairs"]

DEFAULT_K = 25  # centers listed per household (the assignment's first stage uses the nearest 15 of them)
DEFAULT_LIMIT_M = 3000.0  # a 中心户 further than this (≈ 40 min on foot) is not a neighbour
_CROP_MARGIN = 1.01  # metric CRS scale error is < 0.04 %; 1 % keeps the crop safely exact
_SAME_SPOT_M = 0.05  # points snapped this close, at the same distance from the road, are one building
_FIRST_RADIUS_M = 300.0  # first search radius (at least the grid's own size)


@dataclass(frozen=True)
class Access:
    """How each point (row of the households frame) reaches the walk graph.

    Attributes
    ----------
    node : (n, m) graph node index of each access, -1 for none (m = 1 or 2).
    offset_m : (n, m) metres from the point to that node.
    edge : (n,) id of the segment the point is snapped onto, -1 for none (enables the same-segment rule).
    along_m : (n,) position of the snapped point along that segment, metres from its first node.
    snap_m : (n,) distance from the point to the segment.
    """

    node: np.ndarray
    offset_m: np.ndarray
    edge: np.ndarray | None = None
    along_m: np.ndarray | None = None
    snap_m: np.ndarray | None = None

    def __post_init__(self) -> None:
        node = np.atleast_2d(np.asarray(self.node, dtype=np.int64).T).T
        offset = np.atleast_2d(np.asarray(self.offset_m, dtype=float).T).T
        if node.shape != offset.shape:
            raise ValueError(f"access: node {node.shape} and offset_m {offset.shape} differ in shape")
        object.__setattr__(self, "node", node)
        object.__setattr__(self, "offset_m", np.where(node >= 0, offset, np.inf))

    def __len__(self) -> int:
        return self.node.shape[0]

    @classmethod
    def at_nodes(cls, node: Iterable[int], offset_m: float | Iterable[float] = 0.0) -> Access:
        """Points reaching the graph at one node each, `offset_m` metres away (e.g. a straight line to it)."""
        node = np.asarray(node, dtype=np.int64)
        return cls(node[:, None], np.broadcast_to(np.asarray(offset_m, dtype=float), node.shape)[:, None])

    @classmethod
    def on_edges(
        cls,
        *,
        edge_u: Iterable[int],
        edge_v: Iterable[int],
        to_u: Iterable[float],
        to_v: Iterable[float],
        snap_m: float | Iterable[float] = 0.0,
        edge: Iterable[int] | None = None,
    ) -> Access:
        """Points snapped onto segments: ``to_u``/``to_v`` metres along the segment to its end nodes, ``snap_m``
        from the point to the segment. `edge` identifies segments (by default the unordered node pair)."""
        u, v = np.asarray(edge_u, dtype=np.int64), np.asarray(edge_v, dtype=np.int64)
        to_u, to_v = np.asarray(to_u, dtype=float), np.asarray(to_v, dtype=float)
        snap = np.broadcast_to(np.asarray(snap_m, dtype=float), u.shape).copy()
        if edge is None:
            pairs = np.c_[np.minimum(u, v), np.maximum(u, v)]
            edge = np.unique(pairs, axis=0, return_inverse=True)[1].ravel() if len(u) else np.zeros(0, np.int64)
            along = np.where(u <= v, to_u, to_v)  # measured from the lower node, whichever way the edge runs
        else:
            along = to_u
        return cls(np.c_[u, v], np.c_[snap + to_u, snap + to_v], np.asarray(edge, dtype=np.int64), along, snap)

    @classmethod
    def from_snap(cls, graph: object, snapped: pd.DataFrame) -> Access:
        """From `gis.snap.snap_points` output (``edge``, ``to_u``, ``to_v``, ``snap_m``) on a walk graph with
        ``edge_u`` / ``edge_v`` arrays (`gis.network.WalkGraph`); unsnapped rows (edge < 0 or NA) get no access."""
        edge = pd.to_numeric(snapped["edge"], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
        ok = edge >= 0
        safe = np.where(ok, edge, 0)
        u = np.where(ok, np.asarray(graph.edge_u)[safe], -1)
        v = np.where(ok, np.asarray(graph.edge_v)[safe], -1)
        num = {
            k: pd.to_numeric(snapped[k], errors="coerce").fillna(0).to_numpy(dtype=float)
            for k in ("to_u", "to_v", "snap_m")
        }
        access = cls.on_edges(edge_u=u, edge_v=v, to_u=num["to_u"], to_v=num["to_v"], snap_m=num["snap_m"], edge=edge)
        return access


def _column(frame: pd.DataFrame, name: str, default: object) -> np.ndarray:
    return frame[name].to_numpy() if name in frame.columns else np.full(len(frame), default, dtype=object)


class _Nodes:
    """Node coordinates sorted by x, to crop the graph to a box quickly."""

    def __init__(self, node_xy: np.ndarray) -> None:
        self.xy = np.asarray(node_xy, dtype=float)
        self.by_x = np.argsort(self.xy[:, 0], kind="stable")
        self.xs = self.xy[self.by_x, 0]

    def crop(self, graph: csr_array, sources: np.ndarray, limit: float) -> tuple[csr_array, np.ndarray]:
        """The subgraph of nodes within the sources' bounding box grown by `limit`; old → new index (-1 outside)."""
        xy = self.xy[sources]
        grow = limit * _CROP_MARGIN + 1.0
        lo, hi = xy.min(axis=0) - grow, xy.max(axis=0) + grow
        a, b = np.searchsorted(self.xs, [lo[0], hi[0]], side="left")[0], np.searchsorted(self.xs, hi[0], "right")
        cand = self.by_x[a:b]
        y = self.xy[cand, 1]
        keep = np.sort(cand[(y >= lo[1]) & (y <= hi[1])])
        local = np.full(len(self.xy), -1, dtype=np.int64)
        local[keep] = np.arange(len(keep))
        return graph[keep][:, keep], local


def _with_sources(graph: csr_array, heads: np.ndarray, weights: np.ndarray) -> csr_array:
    """`graph` plus one virtual node per row of `heads` with out-edges to those nodes (weights in metres).

    A virtual node has no in-edges, so no path passes through it: one Dijkstra per source point, starting at its
    exact position (both ends of its segment at once). Missing heads (-1) are left out.
    """
    n = graph.shape[0]
    ok = heads >= 0
    counts = ok.sum(axis=1)
    indptr = np.r_[graph.indptr.astype(np.int64), graph.indptr[-1] + np.cumsum(counts)]
    weights = np.maximum(weights[ok], 1e-6)  # an explicit zero would be dropped: keep the connection
    return csr_array(
        (np.r_[graph.data, weights], np.r_[graph.indices, heads[ok]].astype(np.int64), indptr),
        shape=(n + len(heads), n + len(heads)),
    )


def _grid_matrix(
    graph: csr_array,
    access: Access,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    nodes: _Nodes | None,
    limit: float,
) -> np.ndarray:
    """(len(rows), len(cols)) network metres from points `rows` to points `cols` (inf beyond `limit`)."""
    src_node, src_off = access.node[cols], access.offset_m[cols]
    valid = src_node >= 0
    if not valid.any() or len(rows) == 0:
        return np.full((len(rows), len(cols)), np.inf)
    sub, local = graph, None
    if nodes is not None and np.isfinite(limit):
        sub, local = nodes.crop(graph, np.unique(src_node[valid]), limit)
    if local is not None:
        src_node = np.where(src_node >= 0, local[np.maximum(src_node, 0)], -1)
    n_sub = sub.shape[0]
    dist = dijkstra(
        _with_sources(sub, src_node, src_off), directed=True, indices=n_sub + np.arange(len(cols)), limit=limit
    )[:, :n_sub]
    hh_node = access.node[rows]
    if local is not None:
        hh_node = np.where(hh_node >= 0, local[np.maximum(hh_node, 0)], -1)
    hh_off = np.where(hh_node >= 0, access.offset_m[rows], np.inf)
    reach = dist[:, np.maximum(hh_node, 0)] + hh_off[None]  # (n_cols, n_rows, m)
    return reach.min(axis=2).T


def _nearest_matrix(
    graph: csr_array,
    access: Access,
    rows: np.ndarray,
    cols: np.ndarray,
    *,
    nodes: _Nodes | None,
    limit: float,
    need: np.ndarray,
) -> np.ndarray:
    """`_grid_matrix` searched only as far as needed: from a radius of the grid's size, doubled until every row
    has ``need[row]`` centers within it (or `limit` is reached). Every finite entry is exact; an inf one is further
    than every finite one of its row, or beyond `limit`."""
    if nodes is None or not np.isfinite(limit):
        return _grid_matrix(graph, access, rows, cols, nodes=nodes, limit=limit)
    at = np.r_[access.node[rows].ravel(), access.node[cols].ravel()]
    xy = nodes.xy[at[at >= 0]]
    span = float(np.hypot(*(xy.max(axis=0) - xy.min(axis=0)))) if len(xy) else 0.0
    radius = min(limit, max(_FIRST_RADIUS_M, span))
    while True:
        dist = _grid_matrix(graph, access, rows, cols, nodes=nodes, limit=radius)
        if radius >= limit or (np.isfinite(dist).sum(axis=1) >= need).all():
            return dist
        radius = min(limit, 2 * radius)


def walk_pairs(
    graph: csr_array | csr_matrix,
    households: pd.DataFrame,
    access: Access,
    *,
    node_xy: np.ndarray | None = None,
    centers: Iterable[bool] | None = None,
    clients: Iterable[bool] | None = None,
    k: int | None = DEFAULT_K,
    limit_m: float | None = DEFAULT_LIMIT_M,
    grids: Iterable[Hashable] | None = None,
    include: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Candidate (household, center) pairs of the same grid with their walking distance.

    Parameters
    ----------
    graph : (n_nodes, n_nodes) CSR matrix of edge lengths in metres, both directions stored.
    households : one row per household: ``id``, ``grid_id``, ``is_center``; optional ``building`` (same building
        means 0 m). Row i reaches the graph through ``access`` row i.
    access : `Access` of every household (same length and order as `households`).
    node_xy : (n_nodes, 2) node coordinates in metres; crops each search (much faster on a district graph).
    centers : which rows act as centers (default ``households.is_center``); e.g. party members for suggestions.
    clients : which rows get pairs (default: every row that is not a center).
    k : keep the k nearest centers of each household (ties broken by center order); None keeps all.
    limit_m : ignore centers further than this on foot; None for no limit.
    grids : only these grids (default all).
    include : pairs (``household_id``, ``center_id``) to list even beyond the k nearest, e.g. a previous
        assignment, so that it can be kept.

    Returns
    -------
    DataFrame with ``household_id``, ``center_id``, ``walk_m``: every household's nearest centers first. A center
    not listed for a household is at least as far as the farthest one listed for it, or beyond `limit_m` or
    unreachable: the contract `gis.centers.assign_centers` relies on to prove its k-nearest result optimal.
    """
    if len(access) != len(households):
        raise ValueError(f"access has {len(access)} rows, households {len(households)}")
    limit = np.inf if limit_m is None else float(limit_m)
    ids = households["id"].to_numpy()
    grid = households["grid_id"].to_numpy()
    is_center = np.asarray(list(centers), dtype=bool) if centers is not None else households["is_center"].to_numpy(bool)
    is_client = np.asarray(list(clients), dtype=bool) if clients is not None else ~is_center
    building = _column(households, "building", None)
    has_grid = pd.notna(grid)
    codes, uniques = pd.factorize(pd.Series(grid), use_na_sentinel=True)
    wanted = np.ones(len(uniques), dtype=bool)
    if grids is not None:
        wanted = pd.Index(uniques).isin(list(grids))
    forced: dict[int, set[int]] = {}
    if include is not None and len(include):
        pos = pd.Index(ids)
        hi, ci = pos.get_indexer(include["household_id"]), pos.get_indexer(include["center_id"])
        for h, c in zip(hi, ci, strict=True):
            if h >= 0 and c >= 0:
                forced.setdefault(int(h), set()).add(int(c))
    order = np.argsort(codes, kind="stable")
    nodes = _Nodes(node_xy) if node_xy is not None else None
    node_component = connected_components(graph, directed=True, connection="weak")[1]
    first_node = np.max(access.node, axis=1)
    component = np.where(first_node >= 0, node_component[np.maximum(first_node, 0)], -1)
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    out_h, out_c, out_d = [], [], []
    for g in np.flatnonzero(wanted):
        members = order[bounds[g] : bounds[g + 1]]
        members = members[has_grid[members]]
        rows, cols = members[is_client[members]], members[is_center[members]]
        if len(rows) == 0 or len(cols) == 0:
            continue
        reachable = (component[rows][:, None] == component[cols][None, :]).sum(axis=1)
        need = reachable if k is None else np.minimum(k, reachable)
        dist = _nearest_matrix(graph, access, rows, cols, nodes=nodes, limit=limit, need=need)
        if access.edge is not None:
            e_r, e_c = access.edge[rows], access.edge[cols]
            same = (e_r[:, None] == e_c[None, :]) & (e_r[:, None] >= 0)
            if same.any():
                direct = (
                    access.snap_m[rows][:, None]
                    + np.abs(access.along_m[rows][:, None] - access.along_m[cols][None, :])
                    + access.snap_m[cols][None, :]
                )
                dist = np.where(same, np.minimum(dist, direct), dist)
                spot = np.abs(access.along_m[rows][:, None] - access.along_m[cols][None, :]) < _SAME_SPOT_M
                spot &= np.abs(access.snap_m[rows][:, None] - access.snap_m[cols][None, :]) < _SAME_SPOT_M
                dist[same & spot] = 0.0  # one spot: one building
        b_r, b_c = building[rows], building[cols]
        same_building = (b_r[:, None] == b_c[None, :]) & pd.notna(b_r)[:, None]
        dist[same_building | (rows[:, None] == cols[None, :])] = 0.0
        dist[dist > limit] = np.inf
        keep = np.isfinite(dist)
        nearest = np.argsort(dist, axis=1, kind="stable")  # each row: nearest first
        if k is not None and dist.shape[1] > k:
            top = np.zeros_like(keep)
            np.put_along_axis(top, nearest[:, :k], True, axis=1)
            keep &= top
        for i in np.flatnonzero(np.isin(rows, list(forced))) if forced else ():
            for center in forced[int(rows[i])]:
                j = np.searchsorted(cols, center)
                if j < len(cols) and cols[j] == center and np.isfinite(dist[i, j]):
                    keep[i, j] = True
        r = np.repeat(np.arange(len(rows)), dist.shape[1])
        c = nearest.ravel()
        chosen = keep[r, c]
        r, c = r[chosen], c[chosen]
        out_h.append(rows[r])
        out_c.append(cols[c])
        out_d.append(dist[r, c])
    if not out_h:
        return pd.DataFrame({"household_id": ids[:0], "center_id": ids[:0], "walk_m": np.zeros(0)})
    h, c, d = np.concatenate(out_h), np.concatenate(out_c), np.concatenate(out_d)
    return pd.DataFrame({"household_id": ids[h], "center_id": ids[c], "walk_m": d})
