"""Walking distances from households to the center households (党员中心户) of their grid, as candidate pairs.

`walk_pairs` computes the network distance from every household to every center household of the same grid and
keeps the k nearest of each household: the candidate arcs of the assignment (`gis.centers.assign`).

A point reaches the walk graph through one or two *accesses* (`Access`): a graph node and the metres from the point
to it. A point snapped onto a road segment has two (the segment's end nodes, at snap distance + distance along the
segment); a point placed on a node has one. Household → center distance is the shortest of
``offset(household) + network(node, node') + offset(center)`` over their accesses, with three exceptions:

- the same household (a center looks after itself): 0 m;
- the same building (``building`` column, or without it the same snapped spot): 0 m (a neighbour on the same
  staircase);
- both on the same segment: snap + distance along the segment + snap (no detour through an end node).

The graph is a scipy CSR matrix in metres holding both directions of every edge (as `gis.network.build_walk_graph`
stores it). The searches run on its exact reduction to junctions (`gis.centers._graph`): one Dijkstra per center
household, many grids per scipy call, bounded by a radius of the grid's size (doubled for the grids where some
household has fewer than k centers within it, up to `limit_m`); with node coordinates (`node_xy`, metres) each call
is cropped to its centers' bounding box grown by the radius, which loses no path (a walk is never shorter than the
straight line). Everything after the searches is vectorised over the whole batch.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_array, csr_matrix

from gis.centers._graph import reduce_graph
from gis.centers._search import Plan, chunks, kept_access, morton, piece_access, ranges
from gis.network import WalkGraph

__all__ = ["DEFAULT_K", "DEFAULT_LIMIT_M", "Access", "walk_pairs"]

DEFAULT_K = 25  # centers listed per household (the assignment's first stage uses the nearest 15 of them)
DEFAULT_LIMIT_M = 3000.0  # a 中心户 further than this (≈ 40 min on foot) is not a neighbour
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

    @property
    def on_edge(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(edge, along_m, snap_m) when the points were snapped onto segments, else None."""
        if self.edge is None or self.along_m is None or self.snap_m is None:
            return None
        return self.edge, self.along_m, self.snap_m

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
    def from_snap(cls, graph: WalkGraph, snapped: pd.DataFrame) -> Access:
        """From `gis.network.snap.snap_points` output (``edge``, ``to_u``, ``to_v``, ``snap_m``) on a walk graph with
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


def _frame(ids: pd.Series, h: np.ndarray, c: np.ndarray, d: np.ndarray) -> pd.DataFrame:
    """The pairs table; ids as categoricals of the households' ids that occur (cheap to build and to look up),
    when those are unique."""
    used = np.zeros(len(ids), dtype=bool)
    used[h] = True
    used[c] = True
    if used.all():
        index, hc, cc = pd.Index(ids), h, c
    else:
        at = np.flatnonzero(used)
        code = np.full(len(ids), -1, dtype=h.dtype)
        code[at] = np.arange(len(at))
        index, hc, cc = pd.Index(ids.to_numpy()[at]), code[h], code[c]
    if index.is_unique and not index.hasnans:
        dtype = pd.CategoricalDtype(index)
        hid, cid = pd.Categorical.from_codes(hc, dtype=dtype), pd.Categorical.from_codes(cc, dtype=dtype)
    else:
        values = ids.to_numpy()
        hid, cid = values[h], values[c]
    return pd.DataFrame({"household_id": hid, "center_id": cid, "walk_m": d}, copy=False)


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
    DataFrame with ``household_id``, ``center_id`` (categoricals of the households' ids when those are unique),
    ``walk_m``: grid by grid, household by household, every household's nearest centers first. A center not listed
    for a household is at least as far as the farthest one listed for it, or beyond `limit_m` or unreachable: the
    contract `gis.centers.assign_centers` relies on to prove its k-nearest result optimal.
    """
    if len(access) != len(households):
        raise ValueError(f"access has {len(access)} rows, households {len(households)}")
    limit = np.inf if limit_m is None else float(limit_m)
    ids = households["id"]
    n = len(households)
    is_center = np.asarray(list(centers), dtype=bool) if centers is not None else households["is_center"].to_numpy(bool)
    is_client = np.asarray(list(clients), dtype=bool) if clients is not None else ~is_center
    grid = households["grid_id"]
    member = grid.notna().to_numpy() if grids is None else grid.isin(list(grids)).to_numpy() & grid.notna().to_numpy()
    codes = np.full(n, -1, dtype=np.int64)
    codes[member], uniques = pd.factorize(grid[member], use_na_sentinel=True)  # grids in order of appearance
    n_grids = len(uniques)
    rows, cols = np.flatnonzero(member & is_client), np.flatnonzero(member & is_center)
    rows, cols = rows[np.argsort(codes[rows], kind="stable")], cols[np.argsort(codes[cols], kind="stable")]
    row_count, col_count = np.bincount(codes[rows], minlength=n_grids), np.bincount(codes[cols], minlength=n_grids)
    active = np.flatnonzero((row_count > 0) & (col_count > 0))
    if not len(active):
        return _frame(ids, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    col_j = np.full(n, -1, dtype=np.int64)
    col_j[cols] = np.arange(len(cols)) - (np.cumsum(col_count) - col_count)[codes[cols]]
    fh = fc = np.zeros(0, dtype=np.int64)
    if include is not None and len(include):
        pos = pd.Index(ids)
        fh, fc = pos.get_indexer(include["household_id"]), pos.get_indexer(include["center_id"])
        ok = (fh >= 0) & (fc >= 0)
        fh, fc = fh[ok], fc[ok]
        ok = (codes[fh] == codes[fc]) & (col_j[fc] >= 0) & member[fh] & is_client[fh]
        fh, fc = fh[ok], fc[ok]
    red = reduce_graph(graph, node_xy)
    building = np.full(n, -1, dtype=np.int64)
    wanted = np.r_[rows, cols]
    building[wanted] = pd.factorize(pd.Series(_column(households, "building", None)[wanted]), use_na_sentinel=True)[0]
    # households with the same door, building, grid and included centers get the same pairs: search once
    all_rows, rep_of = rows, _twins(rows, codes, building, access, is_center, fh)
    rows = np.unique(rep_of[rows])
    rows = rows[np.argsort(codes[rows], kind="stable")]
    row_count = np.bincount(codes[rows], minlength=n_grids)
    own = (fh, fc)
    if len(fh):  # a twin's included center is searched for its group
        fh, fc = np.divmod(np.unique(rep_of[fh].astype(np.int64) * n + fc), n)
    mem = np.r_[rows, cols]
    first_node = np.max(access.node, axis=1)
    component = np.where(first_node >= 0, red.component[np.maximum(first_node, 0)], -1)
    plan = Plan(
        red=red,
        rows=rows,
        cols=cols,
        row_start=np.cumsum(row_count) - row_count,
        row_count=row_count,
        col_start=np.cumsum(col_count) - col_count,
        col_count=col_count,
        col_j=col_j,
        kept=kept_access(red, access.node, access.offset_m, mem),
        pieces=piece_access(red, access.node, access.offset_m, mem),
        edge=access.on_edge,
        component=component,
        building=building,
        k=k,
        limit=limit,
        forced=(fh, fc),
        both=bool((member & is_client & is_center).any()),
        buildings=bool((building >= 0).any()),
    )

    radius = np.full(n_grids, limit)
    key = np.arange(n_grids, dtype=np.uint64)
    if node_xy is not None:  # first radius: the grid's own size; batches of grids close together
        xy = np.asarray(node_xy, dtype=float)
        at = access.node[mem]
        g = np.repeat(codes[mem], at.shape[1])[at.ravel() >= 0]
        pts = xy[at.ravel()[at.ravel() >= 0]]
        lo, hi = np.full((n_grids, 2), np.inf), np.full((n_grids, 2), -np.inf)
        for axis in range(2):
            np.minimum.at(lo[:, axis], g, pts[:, axis])
            np.maximum.at(hi[:, axis], g, pts[:, axis])
        seen = np.isfinite(lo[:, 0])
        span = np.where(seen, np.hypot(*(hi - lo).T), 0.0)
        if np.isfinite(limit):
            radius = np.minimum(limit, np.maximum(_FIRST_RADIUS_M, span))
        key[seen] = morton((lo[seen] + hi[seen]) / 2)
    pending = active[np.argsort(key[active], kind="stable")]
    out = _Output(row_count, col_count, k, codes[fh], n)
    while len(pending):
        again = []
        for gs in chunks(pending, row_count, col_count):
            r = float(radius[gs].max())
            done, part = plan.batch(gs, r)
            out.put(*part)
            radius[gs[~done]] = min(limit, 2 * r)
            again.append(gs[~done])
        pending = np.concatenate(again)
        pending = pending[np.argsort(key[pending], kind="stable")]
    return _frame(ids, *_spread(*out.pairs(), all_rows, rep_of, own))


def _twins(
    rows: np.ndarray,
    grid: np.ndarray,
    building: np.ndarray,
    access: Access,
    is_center: np.ndarray,
    forced_h: np.ndarray,
) -> np.ndarray:
    """Household position → the first of the clients `rows` with the same grid, building and accesses (door and
    snapped segment), whose search it shares (itself when alone; -1 for other households). A client that is also
    a center (0 m to itself) or has several included centers stays alone; the one included center of a twin is
    searched for the group and listed for that twin only (`_spread`)."""
    n = len(grid)
    many = np.zeros(n, dtype=bool)
    if len(forced_h):
        many = np.bincount(forced_h, minlength=n) > 1
    alone = is_center[rows] | many[rows]
    key = {"grid": grid[rows], "building": building[rows], "alone": np.where(alone, rows, -1)}
    for i in range(access.node.shape[1]):
        key[f"node{i}"], key[f"offset{i}"] = access.node[rows, i], access.offset_m[rows, i]
    if access.on_edge is not None:
        edge, along_m, snap_m = access.on_edge
        key["edge"], key["along"], key["snap"] = edge[rows], along_m[rows], snap_m[rows]
    group = pd.DataFrame(key).groupby(list(key), sort=False, dropna=False).ngroup().to_numpy()
    first = np.full(int(group.max(initial=-1)) + 1, len(rows), dtype=np.int64)
    np.minimum.at(first, group, np.arange(len(rows)))
    rep_of = np.full(n, -1, dtype=np.int64)
    rep_of[rows] = rows[first[group]]
    return rep_of


def _spread(
    h: np.ndarray,
    c: np.ndarray,
    d: np.ndarray,
    extra: np.ndarray,
    rows: np.ndarray,
    rep_of: np.ndarray,
    own: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of every client of `rows` (in that order) copied from its twin's (`_twins`), keeping of the pairs
    beyond the k nearest (``extra``: included centers of the group) only the household's own (`own`: household,
    center pairs)."""
    n = len(rep_of)
    if len(rows) == 0 or (rep_of[rows] == rows).all():
        return h, c, d
    count = np.bincount(h, minlength=n)
    start = np.zeros(n, dtype=np.int64)
    head = np.r_[True, h[1:] != h[:-1]] if len(h) else np.zeros(0, dtype=bool)
    start[h[head]] = np.flatnonzero(head)
    twin = rep_of[rows]
    at = ranges(start[twin], count[twin])
    h2, c2, d2 = np.repeat(rows, count[twin]).astype(h.dtype), c[at], d[at]
    beyond = np.flatnonzero(extra[at])  # few: the included centers beyond the k nearest
    if len(beyond):
        mine = np.full(n, -1, dtype=np.int64)
        mine[own[0]] = own[1]  # a household in a group of several has one included center at most
        size = np.bincount(twin, minlength=n)
        hb = h2[beyond]
        drop = beyond[(c2[beyond] != mine[hb]) & (size[rep_of[hb]] > 1)]
        if len(drop):
            keep = np.ones(len(h2), dtype=bool)
            keep[drop] = False
            h2, c2, d2 = h2[keep], c2[keep], d2[keep]
    return h2, c2, d2


class _Output:
    """The pairs, written grid by grid into room sized for each grid's most pairs, then closed up in grid order
    (one allocation of the ~10⁷ pairs instead of a copy per batch plus a final one)."""

    def __init__(self, n_rows: np.ndarray, n_cols: np.ndarray, k: int | None, forced_grid: np.ndarray, n: int):
        most = n_rows * (n_cols if k is None else np.minimum(k, n_cols))
        most += np.bincount(forced_grid, minlength=len(n_rows))
        self.start = np.cumsum(most) - most
        self.count = np.zeros(len(n_rows), dtype=np.int64)
        index = np.int32 if n < 2**31 - 1 else np.int64
        total = int(most.sum())
        self.h, self.c, self.d = np.empty(total, dtype=index), np.empty(total, dtype=index), np.empty(total)
        self.extra = np.empty(total, dtype=bool)

    def put(self, grids: np.ndarray, counts: np.ndarray, *columns: np.ndarray) -> None:
        src = np.cumsum(counts) - counts
        mine = (self.h, self.c, self.d, self.extra)
        for g, s0, m in zip(grids.tolist(), src.tolist(), counts.tolist(), strict=True):
            t0 = self.start[g]
            for to, column in zip(mine, columns, strict=True):
                to[t0 : t0 + m] = column[s0 : s0 + m]
            self.count[g] = m

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        at = 0
        mine = (self.h, self.c, self.d, self.extra)
        for g in np.flatnonzero(self.count).tolist():  # close up the gaps, moving left (overlaps are safe)
            t0, m = int(self.start[g]), int(self.count[g])
            if t0 != at:
                for column in mine:
                    column[at : at + m] = column[t0 : t0 + m]
            at += m
        return self.h[:at], self.c[:at], self.d[:at], self.extra[:at]
