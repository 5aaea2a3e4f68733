"""The batched searches behind `gis.centers._pairs.walk_pairs`: household → center metres for many grids at once.

One scipy Dijkstra call searches from every center household of a batch of nearby grids at once, on the kept graph
of `gis.centers._graph` cropped to the batch (each center is a virtual source joined to its kept nodes), up to a
radius. Everything after it (household side, paths along a shared chain, same segment, same building, top k) is
vectorised over a padded (households × centers of their grid) matrix, so no Python loop runs per grid or per pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

from gis.centers._graph import Reduced

__all__ = ["Plan", "chunks", "kept_access", "morton", "piece_access", "ranges"]

_CROP_MARGIN = 1.01  # metric CRS scale error is < 0.04 %; 1 % keeps the crop safely exact
_SAME_SPOT_M = 0.05  # points snapped this close, at the same distance from the road, are one building
_BATCH_SOURCES = 192  # center households per Dijkstra call: small batches crop tighter
_BATCH_CELLS = 4_000_000  # household × center cells per batch (memory)


def _with_sources(graph: csr_array, heads: np.ndarray, weights: np.ndarray) -> csr_array:
    """`graph` plus one virtual node per row of `heads` with out-edges to those nodes (weights in metres).

    A virtual node has no in-edges, so no path passes through it: one Dijkstra per source point, starting at its
    exact position (all its accesses at once). Missing heads (-1) are left out.
    """
    n = graph.shape[0]
    ok = heads >= 0
    indptr = np.r_[graph.indptr.astype(np.int64), graph.indptr[-1] + np.cumsum(ok.sum(axis=1))]
    weights = np.maximum(weights[ok], 1e-6)  # an explicit zero would be dropped: keep the connection
    return csr_array(
        (np.r_[graph.data, weights], np.r_[graph.indices, heads[ok]].astype(np.int64), indptr),
        shape=(n + len(heads), n + len(heads)),
    )


def _compact(key: np.ndarray, *values: np.ndarray) -> tuple[np.ndarray, ...]:
    """Move each row's entries with key >= 0 first and drop the columns that are empty in every row."""
    arrays = (key, *values)
    if key.shape[1] > 1 and ((key[:, 1:] >= 0) & (key[:, :-1] < 0)).any():
        order = np.argsort(key < 0, axis=1, kind="stable")
        arrays = tuple(np.take_along_axis(a, order, axis=1) for a in arrays)
    width = max(int((arrays[0] >= 0).any(axis=0).sum()), 1)
    return tuple(a[:, :width] for a in arrays)


def _scatter(n: int, at: np.ndarray, arrays: tuple[np.ndarray, ...], fills: tuple) -> tuple[np.ndarray, ...]:
    """Rows `at` of full-size (n, width) arrays, the other rows filled."""
    out = []
    for a, fill in zip(arrays, fills, strict=True):
        full = np.full((n, a.shape[1]), fill, dtype=a.dtype)
        full[at] = a
        out.append(full)
    return tuple(out)


def kept_access(red: Reduced, node: np.ndarray, offset: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each point's accesses to the kept graph (for rows `at`; others none): (n, r) kept node (-1 none) and metres,
    duplicates merged."""
    n, node, offset = len(node), node[at], offset[at]
    where = np.maximum(node, 0)
    kn = np.where(node[:, :, None] >= 0, red.rep[where], -1).reshape(len(node), -1)
    km = (offset[:, :, None] + red.rep_m[where]).reshape(len(node), -1)
    km[kn < 0] = np.inf
    for i in range(kn.shape[1]):
        for j in range(i + 1, kn.shape[1]):
            dup = (kn[:, j] == kn[:, i]) & (kn[:, i] >= 0)
            if dup.any():
                km[dup, i] = np.minimum(km[dup, i], km[dup, j])
                kn[dup, j], km[dup, j] = -1, np.inf
    kept_node, metres = _scatter(n, at, _compact(kn, km), (-1, np.inf))
    return kept_node, metres


def piece_access(red: Reduced, node: np.ndarray, offset: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, ...]:
    """Where each point joins a chain (chain, position, metres to it; -1 none) and the stub ends it starts from
    (node, metres; -1 none), for rows `at`: for the paths between two points that never reach a kept node."""
    n, node, offset = len(node), node[at], offset[at]
    where = np.maximum(node, 0)
    piece = np.where(node >= 0, red.piece[where], -1)
    pos, cost = red.pos_m[where], offset + red.stub_m[where]
    for i in range(piece.shape[1]):
        for j in range(i + 1, piece.shape[1]):
            dup = (piece[:, j] == piece[:, i]) & (pos[:, j] == pos[:, i]) & (piece[:, i] >= 0)
            cost[dup, i] = np.minimum(cost[dup, i], cost[dup, j])
            piece[dup, j] = -1
    leaf = np.where((node >= 0) & red.leaf[where], node, -1)
    return _scatter(n, at, _compact(piece, pos, cost), (-1, 0.0, np.inf)) + _scatter(
        n, at, _compact(leaf, offset), (-1, np.inf)
    )


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated aranges [starts[i], starts[i] + counts[i])."""
    return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))


def morton(xy: np.ndarray) -> np.ndarray:
    """Z-order key of points (16 bits per axis), so that consecutive grids lie close together."""
    if not len(xy):
        return np.zeros(0, dtype=np.uint64)
    span = np.ptp(xy, axis=0)
    q = ((xy - xy.min(axis=0)) / np.where(span > 0, span, 1) * 65535).astype(np.uint64)
    key = np.zeros(len(xy), dtype=np.uint64)
    for bit in range(16):
        for axis in range(2):
            key |= ((q[:, axis] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit + axis)
    return key


def chunks(grids: np.ndarray, n_rows: np.ndarray, n_cols: np.ndarray) -> list[np.ndarray]:
    """Consecutive runs of `grids` of at most _BATCH_SOURCES centers and _BATCH_CELLS cells (at least one grid)."""
    out, start, sources, rows, width = [], 0, 0, 0, 0
    for i, g in enumerate(grids):
        w = max(width, int(n_cols[g]))
        if i > start and (sources + n_cols[g] > _BATCH_SOURCES or (rows + n_rows[g]) * w > _BATCH_CELLS):
            out.append(grids[start:i])
            start, sources, rows, w = i, 0, 0, int(n_cols[g])
        sources, rows, width = sources + int(n_cols[g]), rows + int(n_rows[g]), w
    if start < len(grids):
        out.append(grids[start:])
    return out


def _join(key_r: np.ndarray, key_c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All (row i, slot a, column j, slot b) with key_r[i, a] == key_c[j, b] >= 0 (a sort-merge join)."""
    jc, bc = np.nonzero(key_c >= 0)
    kc = key_c[jc, bc]
    order = np.argsort(kc, kind="stable")
    kc, jc, bc = kc[order], jc[order], bc[order]
    ir, ar = np.nonzero(key_r >= 0)
    kr = key_r[ir, ar]
    lo, hi = np.searchsorted(kc, kr, side="left"), np.searchsorted(kc, kr, side="right")
    n = hi - lo
    at = ranges(lo, n)
    return np.repeat(ir, n), np.repeat(ar, n), jc[at], bc[at]


@dataclass
class Plan:
    """The wanted households sorted by grid (clients `rows`, centers `cols`) and what every batch needs."""

    red: Reduced
    rows: np.ndarray
    cols: np.ndarray
    row_start: np.ndarray
    row_count: np.ndarray
    col_start: np.ndarray
    col_count: np.ndarray
    col_j: np.ndarray  # household → its position among its grid's centers (-1 if not a center)
    kept: tuple[np.ndarray, np.ndarray]  # `kept_access` of every household
    pieces: tuple[np.ndarray, ...]  # `piece_access` of every household
    edge: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # snapped segment, along, snap metres
    component: np.ndarray
    building: np.ndarray  # building code, -1 none
    k: int | None
    limit: float
    forced: tuple[np.ndarray, np.ndarray]
    both: bool = True  # some household is both a client and a center (0 m to itself)
    buildings: bool = True  # some household has a building

    def batch(self, gs: np.ndarray, radius: float) -> tuple[np.ndarray, tuple]:
        """Search the grids `gs` to `radius`: which grids are complete, and their pairs (grid by grid in `gs` order,
        household by household, nearest first) with whether each is beyond the k nearest (an included center)."""
        nr, nc = self.row_count[gs], self.col_count[gs]
        rb, cb = self.rows[ranges(self.row_start[gs], nr)], self.cols[ranges(self.col_start[gs], nc)]
        width = int(nc.max())
        grid_r, grid_c = np.repeat(np.arange(len(gs)), nr), np.repeat(np.arange(len(gs)), nc)
        first_c = np.cumsum(nc) - nc  # each grid's first column in cb
        valid = np.arange(width)[None, :] < nc[grid_r][:, None]
        S = np.where(valid, first_c[grid_r][:, None] + np.arange(width)[None, :], 0)
        tag = _Tag(grid_r, grid_c, first_c)
        dist = self._dist(rb, cb, S, valid, radius, tag)
        if radius < self.limit:  # beyond the radius a distance may be too long: unknown
            dist[dist > radius] = np.inf
        reachable = np.bincount(
            tag.join(self.component[rb][:, None], self.component[cb][:, None])[0], minlength=len(rb)
        )
        need = reachable if self.k is None else np.minimum(self.k, reachable)
        row_ok = np.isfinite(dist).sum(axis=1) >= need
        done = (np.bincount(grid_r[~row_ok], minlength=len(gs)) == 0) | (radius >= self.limit)
        sel = done[grid_r]
        if not sel.all():
            dist, S, rb = dist[sel], S[sel], rb[sel]
        order = np.argsort(dist, axis=1, kind="stable")
        ranked = np.take_along_axis(dist, order, axis=1)
        keep = np.isfinite(ranked)
        if self.k is not None and width > self.k:
            keep[:, self.k :] = False
        fh, fc = self.forced
        if len(fh):
            at = np.full(len(self.col_j), -1, dtype=np.int64)
            at[rb] = np.arange(len(rb))
            mine = at[fh] >= 0
            mark = np.zeros(dist.shape, dtype=bool)
            mark[at[fh[mine]], self.col_j[fc[mine]]] = True
            keep |= np.take_along_axis(mark, order, axis=1) & np.isfinite(ranked)
        r, rank = np.nonzero(keep)
        counts = np.bincount(grid_r[sel][r], minlength=len(gs))[done]
        index = np.int32 if len(self.col_j) < 2**31 - 1 else np.int64
        h, c = rb[r].astype(index), cb[S[r, order[r, rank]]].astype(index)
        extra = rank >= self.k if self.k is not None else np.zeros(len(rank), dtype=bool)  # listed as included only
        return done, (gs[done], counts, h, c, ranked[r, rank], extra)

    def _dist(self, rb, cb, S, valid, radius: float, tag: _Tag) -> np.ndarray:
        """(len(rb), width) metres from each household to its grid's centers (column j: center cb[S[:, j]]), exact
        up to `radius`; inf beyond the limit and for padding."""
        kn, km = self.kept
        heads, hk = kn[cb], kn[rb]
        sub, local = self._crop(heads, radius)
        if local is not None:
            heads = np.where(heads >= 0, local[np.maximum(heads, 0)], -1)
            hk = np.where(hk >= 0, local[np.maximum(hk, 0)], -1)
        n_sub = sub.shape[0]
        graph = _with_sources(sub, heads, km[cb])
        reach = dijkstra(graph, directed=True, indices=n_sub + np.arange(len(cb)), limit=radius)
        dist = np.full(S.shape, np.inf)
        for column in range(hk.shape[1]):
            at = hk[:, column]
            got = reach[S, np.maximum(at, 0)[:, None]]
            got += km[rb, column][:, None]
            got[at < 0] = np.inf
            np.minimum(dist, got, out=dist)
        flat = dist.reshape(-1)
        width = dist.shape[1]
        # paths that never reach a kept node: along a shared chain, or from a shared stub end
        piece, pos, cost, leaf, leaf_m = self.pieces
        i, a, j, b = tag.join(piece[rb], piece[cb])
        ri, cj = rb[i], cb[j]
        np.minimum.at(flat, i * width + tag.column(j), cost[ri, a] + np.abs(pos[ri, a] - pos[cj, b]) + cost[cj, b])
        i, a, j, b = tag.join(leaf[rb], leaf[cb])
        np.minimum.at(flat, i * width + tag.column(j), leaf_m[rb[i], a] + leaf_m[cb[j], b])
        if self.edge is not None:
            edge, along, snap = self.edge
            i, _, j, _ = tag.join(edge[rb][:, None], edge[cb][:, None])
            ri, cj, cell = rb[i], cb[j], i * width + tag.column(j)
            gap = np.abs(along[ri] - along[cj])
            np.minimum.at(flat, cell, snap[ri] + gap + snap[cj])
            spot = (gap < _SAME_SPOT_M) & (np.abs(snap[ri] - snap[cj]) < _SAME_SPOT_M)
            flat[cell[spot]] = 0.0  # one spot: one building
        if self.buildings:
            i, _, j, _ = tag.join(self.building[rb][:, None], self.building[cb][:, None])
            flat[i * width + tag.column(j)] = 0.0  # same building
        if self.both:
            i, _, j, _ = tag.join(rb[:, None], cb[:, None])
            flat[i * width + tag.column(j)] = 0.0  # the same household
        dist[(dist > self.limit) | ~valid] = np.inf
        return dist

    def _crop(self, heads: np.ndarray, radius: float) -> tuple[csr_array, np.ndarray | None]:
        """The kept graph within the heads' bounding box grown by `radius`, and old → new index (None: whole)."""
        red = self.red
        valid = heads[heads >= 0]
        if red.xy is None or not np.isfinite(radius) or not len(valid):
            return red.csr, None
        xy = red.xy[valid]
        grow = radius * _CROP_MARGIN + 1.0
        lo, hi = xy.min(axis=0) - grow, xy.max(axis=0) + grow
        x, y = red.xy[:, 0], red.xy[:, 1]
        inside = np.flatnonzero((x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]))
        local = np.full(len(red.xy), -1, dtype=np.int64)
        local[inside] = np.arange(len(inside))
        indptr = red.csr.indptr
        count = indptr[inside + 1] - indptr[inside]
        at = ranges(indptr[inside], count)  # the entries of the rows inside, row by row
        col = local[red.csr.indices[at]]
        keep = col >= 0
        row = np.repeat(np.arange(len(inside)), count)[keep]
        sub_ptr = np.zeros(len(inside) + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=len(inside)), out=sub_ptr[1:])
        sub = csr_array((red.csr.data[at[keep]], col[keep], sub_ptr), shape=(len(inside), len(inside)))
        return sub, local


@dataclass
class _Tag:
    """Grid (within the batch) of every row and column, to join their keys within a grid."""

    grid_r: np.ndarray
    grid_c: np.ndarray
    first_c: np.ndarray

    def join(self, key_r: np.ndarray, key_c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(row, slot, column, slot) of equal keys >= 0 in the same grid."""
        span = int(max(key_r.max(initial=-1), key_c.max(initial=-1))) + 1
        kr = np.where(key_r >= 0, self.grid_r[:, None].astype(np.int64) * span + key_r, -1)
        kc = np.where(key_c >= 0, self.grid_c[:, None].astype(np.int64) * span + key_c, -1)
        return _join(kr, kc)

    def column(self, j: np.ndarray) -> np.ndarray:
        """Padded column of batch column j (its position among its grid's centers)."""
        return j - self.first_c[self.grid_c[j]]
