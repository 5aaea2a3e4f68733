"""An exact, much smaller copy of a walk graph for the many short searches of `gis.centers._pairs.walk_pairs`.

A walk network drawn for buildings is mostly *chains* (street nodes of degree 2 between junctions) and *stubs* (a
building connector: a leaf node of degree 1). On the district sample 233,959 nodes reduce to ~15,000 junctions, so
each search from a center household touches ~15× fewer nodes. Nothing is approximated:

- a stub (leaf) hangs off one node: every path from it leaves through that node;
- a chain runs between two kept nodes K_a and K_b (the same one for a loop): every path out of it leaves through
  K_a or K_b, at ``pos`` metres along the chain from K_a or ``length - pos`` from K_b.

So every node reaches the rest of the graph through at most two kept nodes ("reps", with the metres to them), and
the distance between two nodes is the shortest of (a) rep + kept-graph distance + rep and (b) a path that never
leaves their common chain: ``stub + |pos - pos'| + stub'`` (0 for the same node). The kept graph holds the kept
nodes, their own edges and one edge of the chain's length per chain; its distances equal the full graph's.
A ring with no junction keeps one of its nodes. Graphs that are not symmetric are not reduced (the identity).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_array, csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra

__all__ = ["Reduced", "reduce_graph"]

_CACHE: dict[tuple[int, int], tuple] = {}


@dataclass(frozen=True)
class Reduced:
    """The kept graph and how every node of the full graph reaches it.

    Attributes
    ----------
    csr : (n_kept, n_kept) CSR of the kept graph in metres (both directions).
    xy : (n_kept, 2) coordinates of the kept nodes, or None.
    rep : (n, 2) kept-node index of each node's reps, -1 for none.
    rep_m : (n, 2) metres from the node to each rep along its chain or stub (inf for none).
    piece : (n,) chain id of a chain node or of a stub hanging off one, else -1.
    pos_m : (n,) position along that chain (of the stub's foot for a stub).
    stub_m : (n,) length of the stub (0 for other nodes).
    leaf : (n,) whether the node is a stub's end (two points sharing it meet there without walking the stub).
    component : (n,) connected-component label of every node (weakly connected).
    """

    csr: csr_array
    xy: np.ndarray | None
    rep: np.ndarray
    rep_m: np.ndarray
    piece: np.ndarray
    pos_m: np.ndarray
    stub_m: np.ndarray
    leaf: np.ndarray
    component: np.ndarray

    def node_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Metres between nodes x and y along a path inside their common chain (0 if x == y; inf if none)."""
        same = (self.piece[x] == self.piece[y]) & (self.piece[x] >= 0)
        along = self.stub_m[x] + np.abs(self.pos_m[x] - self.pos_m[y]) + self.stub_m[y]
        return np.where(x == y, 0.0, np.where(same, along, np.inf))


def _identity(graph: csr_array, node_xy: np.ndarray | None) -> Reduced:
    n = graph.shape[0]
    rep = np.c_[np.arange(n), np.full(n, -1)]
    rep_m = np.c_[np.zeros(n), np.full(n, np.inf)]
    xy = None if node_xy is None else np.asarray(node_xy, dtype=float)
    component = connected_components(graph, directed=True, connection="weak")[1]
    return Reduced(graph, xy, rep, rep_m, np.full(n, -1), np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool), component)


def reduce_graph(graph: csr_array | csr_matrix, node_xy: np.ndarray | None = None) -> Reduced:
    """The `Reduced` form of a symmetric CSR walk graph, kept while `graph` lives (so do not edit it in place)."""
    key = (id(graph), id(node_xy))
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is graph and (hit[1]() if hit[1] is not None else None) is node_xy:
        return hit[2]
    out = _reduce(csr_array(graph), node_xy)
    try:
        refs = (weakref.ref(graph), None if node_xy is None else weakref.ref(node_xy))
    except TypeError:  # not weak-referenceable: not kept
        return out
    _CACHE[key] = (*refs, out)
    weakref.finalize(graph, _CACHE.pop, key, None)
    return out


def _reduce(graph: csr_array, node_xy: np.ndarray | None) -> Reduced:
    n = graph.shape[0]
    indptr = graph.indptr.astype(np.int64)
    rows = np.repeat(np.arange(n), np.diff(indptr))
    cols = graph.indices.astype(np.int64)
    w = np.asarray(graph.data, dtype=float)
    loop = rows == cols
    if loop.any():
        rows, cols, w = rows[~loop], cols[~loop], w[~loop]
    if n == 0 or not len(rows) or not (w >= 0).all():
        return _identity(graph, node_xy)
    key, key_t = rows * n + cols, cols * n + rows
    o, o_t = np.argsort(key, kind="stable"), np.argsort(key_t, kind="stable")
    if (np.diff(key[o]) == 0).any() or not (np.array_equal(key[o], key_t[o_t]) and np.array_equal(w[o], w[o_t])):
        return _identity(graph, node_xy)  # duplicate entries or one-way edges: keep the graph as it is
    rows, cols, w = rows[o], cols[o], w[o]  # row-major, each row's neighbours sorted

    deg = np.bincount(rows, minlength=n)
    start = np.searchsorted(rows, np.arange(n))
    one = deg == 1
    foot = np.full(n, -1, dtype=np.int64)
    foot_m = np.zeros(n)
    foot[one], foot_m[one] = cols[start[one]], w[start[one]]
    leaf = one & (deg[np.maximum(foot, 0)] >= 2)
    core = ~leaf[rows] & ~leaf[cols]
    chain = ~leaf & (np.bincount(rows[core], minlength=n) == 2)
    while True:
        kept = ~leaf & ~chain
        inner = chain[rows] & chain[cols]
        _, label = connected_components(csr_array((w[inner], (rows[inner], cols[inner])), shape=(n, n)), directed=False)
        link = chain[rows] & kept[cols]
        linked = np.zeros(n, dtype=bool)
        linked[label[rows[link]]] = True
        ring = chain & ~linked[label]
        if not ring.any():
            break
        nodes = np.flatnonzero(ring)  # a ring without a junction: keep its first node
        _, first = np.unique(label[nodes], return_index=True)
        chain[nodes[first]] = False

    cid = np.full(n, -1, dtype=np.int64)
    labels, cid_chain = np.unique(label[chain], return_inverse=True)
    cid[chain] = cid_chain
    n_chains = len(labels)
    le, lk, lw = rows[link], cols[link], w[link]
    lc = cid[le]
    o = np.lexsort((lk, le, lc))
    le, lk, lw = le[o], lk[o], lw[o]
    if n_chains and not (np.bincount(lc, minlength=n_chains) == 2).all():  # pragma: no cover - by construction
        return _identity(graph, node_xy)
    end_a, end_b, k_a, k_b, w_a, w_b = le[0::2], le[1::2], lk[0::2], lk[1::2], lw[0::2], lw[1::2]
    pos = np.zeros(n)
    if n_chains:
        along = dijkstra(
            csr_array((w[inner], (rows[inner], cols[inner])), shape=(n, n)),
            directed=True,
            indices=end_a,
            min_only=True,
        )
        pos[chain] = w_a[cid[chain]] + along[chain]
    length = pos[end_b] + w_b

    kid = np.full(n, -1, dtype=np.int64)
    kept_nodes = np.flatnonzero(kept)
    kid[kept_nodes] = np.arange(len(kept_nodes))
    both = kept[rows] & kept[cols]
    loop_free = k_a != k_b
    er = np.r_[kid[rows[both]], kid[k_a[loop_free]], kid[k_b[loop_free]]]
    ec = np.r_[kid[cols[both]], kid[k_b[loop_free]], kid[k_a[loop_free]]]
    ew = np.r_[w[both], length[loop_free], length[loop_free]]
    o = np.lexsort((ew, ec, er))
    er, ec, ew = er[o], ec[o], ew[o]
    first = np.r_[True, (er[1:] != er[:-1]) | (ec[1:] != ec[:-1])] if len(er) else np.zeros(0, dtype=bool)
    er, ec, ew = er[first], ec[first], ew[first]
    nk = len(kept_nodes)
    kind = np.int32 if max(nk, len(ec)) < 2**31 - 1 else np.int64
    kptr = np.zeros(nk + 1, dtype=np.int64)
    np.cumsum(np.bincount(er, minlength=nk), out=kptr[1:])
    csr = csr_array((ew, ec.astype(kind), kptr.astype(kind)), shape=(nk, nk))

    rep = np.full((n, 2), -1, dtype=np.int64)
    rep_m = np.full((n, 2), np.inf)
    rep[kept_nodes, 0], rep_m[kept_nodes, 0] = np.arange(nk), 0.0
    ch = np.flatnonzero(chain)
    rep[ch, 0], rep_m[ch, 0] = kid[k_a[cid[ch]]], pos[ch]
    rep[ch, 1], rep_m[ch, 1] = kid[k_b[cid[ch]]], length[cid[ch]] - pos[ch]
    lf = np.flatnonzero(leaf)
    rep[lf], rep_m[lf] = rep[foot[lf]], rep_m[foot[lf]] + foot_m[lf][:, None]
    piece = cid.copy()
    piece[lf] = cid[foot[lf]]
    pos[lf] = pos[foot[lf]]
    stub = np.zeros(n)
    stub[lf] = foot_m[lf]
    xy = None if node_xy is None else np.asarray(node_xy, dtype=float)[kept_nodes]
    component = connected_components(csr, directed=False)[1][rep[:, 0]]  # every node's first rep is in its part
    return Reduced(csr, xy, rep, rep_m, piece, pos, stub, leaf, component)
