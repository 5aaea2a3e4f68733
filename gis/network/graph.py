"""The walk network as a scipy sparse graph in metres (docs/layers.md `walk_nodes` / `walk_edges` in, arrays out).

`build_walk_graph` turns the node and edge frames into a `WalkGraph`: node and edge arrays in a metric CRS chosen
from the data (`gis.crs.metric_crs`), and an undirected CSR matrix whose weights are edge lengths in metres, stored
in both directions so that every search runs as ``directed=True`` (scipy's ``directed=False`` rebuilds the
transpose on every call).

Three things the CSR matrix must get right (docs/design.md §5.1):

- **Parallel edges** (two ways between the same pair of nodes, or a way and a shortcut) are reduced to the
  shortest *before* the matrix is built: scipy's COO→CSR conversion *sums* duplicate entries, which silently
  makes the pair longer than either edge (51 m errors were seen in the research benchmark).
- **Zero-length edges** (two nodes at one spot) stay connections: their weight is `ZERO_M` (a micrometre), because
  several sparse operations drop explicit zeros and a dropped entry would cut the network.
- **Self-loops** (a way closing on one node) do not change a shortest path and are left out of the matrix; they stay
  in the edge arrays, so points can still be snapped onto them.

Connected components are computed once; `WalkGraph.largest_component` marks the main network, and the component of
every edge is known, so that points snapped onto a small detached piece can be reported (gis.network.snap).

Searches from points that lie *on* edges (snapped buildings and service points) are done by `point_distances`: one
multi-source Dijkstra with a virtual node per point, linked to its edge's two end nodes by the partial lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components, dijkstra

from gis.crs import metric_crs

__all__ = [
    "ZERO_M",
    "WalkGraph",
    "build_walk_graph",
    "endpoint_distances",
    "patch_distances",
    "point_distances",
    "with_virtual_sources",
]

ZERO_M = 1e-6  # weight of a zero-length edge or zero offset: a connection, never an explicit zero


@dataclass(eq=False)
class WalkGraph:
    """An undirected walk network in metres.

    Attributes
    ----------
    crs : the metric CRS of `node_xy` and `edge_geometry`.
    node_ids : source ids of the nodes; the position is the node index used everywhere else.
    node_xy : (n, 2) node coordinates in `crs`.
    edge_ids : source ids of the edges (position = edge index).
    edge_u, edge_v : node index of each edge's first and last point.
    edge_length : length of each edge in metres (the ``length_m`` column, or the metric length if missing).
    edge_geometry : LineStrings in `crs`, oriented from `edge_u` to `edge_v`.
    csr : (n, n) symmetric CSR matrix of the shortest edge between each pair of nodes, in metres.
    component : connected-component label of each node.
    component_sizes : number of nodes in each component label.
    largest_component : boolean mask of the nodes in the largest component.
    parallel_dropped, zero_length, self_loops : how many edges were longer parallels, of zero length, loops.
    cache : derived arrays other modules keep with the graph (e.g. gis.coverage.circles' drawn-edge mask).
    """

    crs: CRS
    node_ids: np.ndarray
    node_xy: np.ndarray
    edge_ids: np.ndarray
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_length: np.ndarray
    edge_geometry: np.ndarray
    csr: csr_array
    component: np.ndarray
    component_sizes: np.ndarray
    largest_component: np.ndarray
    parallel_dropped: int = 0
    zero_length: int = 0
    self_loops: int = 0
    _trees: dict[bool, tuple[shapely.STRtree, np.ndarray]] = field(default_factory=dict, init=False, repr=False)
    cache: dict = field(default_factory=dict, init=False, repr=False)

    @property
    def node_degree(self) -> np.ndarray:
        """Number of distinct neighbours of each node (parallel edges count once, self-loops not at all)."""
        return np.diff(self.csr.indptr)

    @property
    def n_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def n_edges(self) -> int:
        return len(self.edge_ids)

    @property
    def edge_component(self) -> np.ndarray:
        """Component label of each edge (both ends are in the same component by construction)."""
        return self.component[self.edge_u]

    @property
    def edge_in_largest(self) -> np.ndarray:
        """Boolean mask of the edges in the largest component."""
        return self.largest_component[self.edge_u]

    def edge_tree(self, *, largest_only: bool = False) -> tuple[shapely.STRtree, np.ndarray]:
        """An STRtree over the edge geometries (all, or the largest component's), and the edge index of each item.

        Built on first use and kept.
        """
        if largest_only not in self._trees:
            items = np.flatnonzero(self.edge_in_largest) if largest_only else np.arange(self.n_edges)
            self._trees[largest_only] = (shapely.STRtree(self.edge_geometry[items]), items)
        return self._trees[largest_only]

    def to_metric(self, data: gpd.GeoDataFrame | gpd.GeoSeries) -> np.ndarray:
        """The geometries of `data` (any CRS; none means EPSG:4326) as a shapely array in the graph's CRS."""
        series = data.geometry if isinstance(data, gpd.GeoDataFrame) else data
        if series.crs is None:
            series = series.set_crs("EPSG:4326")
        return np.asarray(series.to_crs(self.crs).values)

    def from_metric(self, geometries: np.ndarray | list, *, index: pd.Index | None = None) -> gpd.GeoSeries:
        """Metric geometries as a GeoSeries in EPSG:4326."""
        return gpd.GeoSeries(np.asarray(geometries, dtype=object), index=index, crs=self.crs).to_crs("EPSG:4326")


def _symmetric_min_csr(u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int) -> tuple[csr_array, int]:
    """CSR matrix with both directions of every edge, keeping the minimum weight of parallel entries.

    Duplicates are removed here (sort by row, column, weight; keep the first) so that scipy never sums them.
    Returns the matrix and the number of edges dropped as longer parallels.
    """
    keep = u != v
    u, v, w = u[keep], v[keep], w[keep]
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    order = np.lexsort((w, hi, lo))
    lo, hi, w = lo[order], hi[order], w[order]
    first = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])] if len(lo) else np.zeros(0, dtype=bool)
    lo, hi, w = lo[first], hi[first], w[first]
    rows, cols, data = np.r_[lo, hi], np.r_[hi, lo], np.r_[w, w]
    order = np.lexsort((cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    index_type = np.int32 if max(n, len(cols)) < 2**31 - 1 else np.int64
    matrix = csr_array((data, cols.astype(index_type), indptr.astype(index_type)), shape=(n, n))
    matrix.has_sorted_indices = True
    return matrix, int((~first).sum())


def build_walk_graph(nodes: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, *, crs: CRS | str | None = None) -> WalkGraph:
    """Build the walk graph from walk node and edge frames (docs/layers.md columns).

    Parameters
    ----------
    nodes : walk nodes: ``source_id`` and Point geometry (any CRS; none means EPSG:4326).
    edges : walk edges: ``u_ref``, ``v_ref`` (node source ids), ``length_m`` (optional; missing or NaN values are
        taken from the metric geometry) and LineString geometry; ``source_id`` if present names the edges.
    crs : the metric CRS to work in; by default chosen from the edges' extent with `gis.crs.metric_crs`.

    Returns
    -------
    WalkGraph

    Raises
    ------
    ValueError : an edge refers to a node that is not in `nodes`, or a geometry is not a LineString.
    """
    if nodes.crs is None:
        nodes = nodes.set_crs("EPSG:4326")
    if edges.crs is None:
        edges = edges.set_crs("EPSG:4326")
    crs = CRS.from_user_input(crs) if crs is not None else metric_crs(edges if len(edges) else nodes)
    node_ids = nodes["source_id"].astype(str).to_numpy(dtype=object)
    if pd.Index(node_ids).has_duplicates:
        raise ValueError("walk nodes: duplicate source_id values")
    node_pos = pd.Index(node_ids)
    u = node_pos.get_indexer(edges["u_ref"].astype(str))
    v = node_pos.get_indexer(edges["v_ref"].astype(str))
    if (u < 0).any() or (v < 0).any():
        missing = int((u < 0).sum() + (v < 0).sum())
        raise ValueError(f"walk edges: {missing} u_ref/v_ref values name no walk node")
    node_geom = np.asarray(nodes.to_crs(crs).geometry.values)
    node_xy = shapely.get_coordinates(node_geom) if len(node_geom) else np.zeros((0, 2))
    geoms = np.asarray(edges.to_crs(crs).geometry.values)
    if len(geoms) and not (shapely.get_type_id(geoms) == shapely.GeometryType.LINESTRING).all():
        raise ValueError("walk edges: every geometry must be a LineString")

    # orient each line from u to v (the layer does not promise it): reverse lines that start nearer v
    if len(geoms):
        counts = shapely.get_num_coordinates(geoms)
        start = shapely.get_coordinates(geoms)[np.r_[0, np.cumsum(counts)[:-1]]]
        d_u = np.hypot(*(start - node_xy[u]).T)
        d_v = np.hypot(*(start - node_xy[v]).T)
        flip = (d_v < d_u) & (u != v)
        if flip.any():
            geoms = geoms.copy()
            geoms[flip] = shapely.reverse(geoms[flip])

    metric_length = shapely.length(geoms) if len(geoms) else np.zeros(0)
    if "length_m" in edges:
        length = pd.to_numeric(edges["length_m"], errors="coerce").to_numpy(dtype=float)
        length = np.where(np.isfinite(length) & (length >= 0), length, metric_length)
    else:
        length = metric_length.astype(float)
    zero = length <= 0
    weight = np.where(zero, ZERO_M, length)
    n = len(node_ids)
    matrix, dropped = _symmetric_min_csr(u.astype(np.int64), v.astype(np.int64), weight, n)
    n_comp, labels = connected_components(matrix, directed=False) if n else (0, np.zeros(0, dtype=np.int32))
    sizes = np.bincount(labels, minlength=n_comp)
    largest = labels == int(np.argmax(sizes)) if n else np.zeros(0, dtype=bool)
    edge_ids = (
        edges["source_id"].astype(str).to_numpy(dtype=object)
        if "source_id" in edges
        else np.asarray([str(i) for i in range(len(edges))], dtype=object)
    )
    return WalkGraph(
        crs=crs,
        node_ids=node_ids,
        node_xy=node_xy,
        edge_ids=edge_ids,
        edge_u=u.astype(np.int64),
        edge_v=v.astype(np.int64),
        edge_length=length,
        edge_geometry=geoms,
        csr=matrix,
        component=labels.astype(np.int32),
        component_sizes=sizes,
        largest_component=largest,
        parallel_dropped=dropped,
        zero_length=int(zero.sum()),
        self_loops=int((u == v).sum()),
    )


def with_virtual_sources(matrix: csr_array, heads: np.ndarray, weights: np.ndarray) -> csr_array:
    """`matrix` plus k virtual nodes (rows n..n+k-1) with out-edges only, to heads[i] with weights[i].

    Virtual nodes have no in-edges, so no path passes through one. The CSR arrays are appended, not rebuilt.
    """
    n = matrix.shape[0]
    k = heads.shape[0]
    heads = heads.reshape(k, -1)
    weights = np.maximum(weights.reshape(k, -1), ZERO_M)
    counts = np.full(k, heads.shape[1], dtype=np.int64)
    indptr = np.r_[matrix.indptr.astype(np.int64), matrix.indptr[-1] + np.cumsum(counts)]
    index_type = np.int32 if max(n + k, len(indptr)) < 2**31 - 1 else np.int64
    out = csr_array(
        (
            np.r_[matrix.data, weights.ravel()],
            np.r_[matrix.indices, heads.ravel()].astype(index_type),
            indptr.astype(index_type),
        ),
        shape=(n + k, n + k),
    )
    return out


def point_distances(
    graph: WalkGraph,
    *,
    edge: np.ndarray,
    to_u: np.ndarray,
    to_v: np.ndarray,
    limit: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Network distance from the nearest of k points on edges to every node, in one multi-source Dijkstra.

    Point i lies on edge ``edge[i]``, ``to_u[i]`` metres from its u node and ``to_v[i]`` from its v node (add the
    point's own snap distance to both, to count it). Each point becomes a virtual node with out-edges to the two
    end nodes, so scipy's ``min_only`` search starts every point at its exact position.

    Parameters
    ----------
    graph : the walk graph.
    edge, to_u, to_v : arrays of length k (edge index, metres to u, metres to v).
    limit : stop the search at this distance (nodes beyond get inf), or None for the whole graph.

    Returns
    -------
    dist : (n_nodes,) metres from the nearest point (inf where unreachable or beyond `limit`).
    nearest : (n_nodes,) index of that point in 0..k-1, -1 where unreachable.
    """
    n = graph.n_nodes
    edge = np.asarray(edge, dtype=np.int64)
    if len(edge) == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    heads = np.c_[graph.edge_u[edge], graph.edge_v[edge]]
    weights = np.c_[np.asarray(to_u, dtype=float), np.asarray(to_v, dtype=float)]
    matrix = with_virtual_sources(graph.csr, heads, weights)
    dist, _, sources = dijkstra(
        matrix,
        directed=True,
        indices=np.arange(n, n + len(edge)),
        min_only=True,
        return_predecessors=True,
        limit=np.inf if limit is None else float(limit),
    )
    nearest = np.where(sources >= n, sources.astype(np.int64) - n, -1)[:n]
    return dist[:n], nearest


def endpoint_distances(
    graph: WalkGraph, *, edge: int, to_u: float, to_v: float, limit: float | None = None
) -> np.ndarray:
    """Network distance from one point on an edge to every node (bounded by `limit`), without copying the graph.

    Two searches (from the edge's end nodes) in one scipy call, combined with the point's offsets; cheaper than a
    virtual node for a single point because the CSR matrix is not appended to.
    """
    a, b = int(graph.edge_u[edge]), int(graph.edge_v[edge])
    bound = np.inf if limit is None else float(limit)
    rows = dijkstra(graph.csr, directed=True, indices=[a, b], limit=bound)
    dist = np.minimum(rows[0] + to_u, rows[1] + to_v)
    dist[dist > bound] = np.inf
    return dist


def patch_distances(
    graph: WalkGraph,
    dist: np.ndarray,
    nearest: np.ndarray,
    nodes: np.ndarray,
    *,
    heads: np.ndarray,
    weights: np.ndarray,
    labels: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """`dist` / `nearest` (a multi-source result) with the values of `nodes` recomputed, the rest taken as final.

    Each of `nodes` (sorted node indices) is entered from every neighbour outside the set (its distance plus the
    edge, with its nearest source) and from the extra sources: source i reaches node ``heads[i]`` at
    ``weights[i]`` metres and is labelled ``labels[i]``. One Dijkstra on the set's own subgraph then finishes the
    job: exact when every shortest path into the set enters it that way (e.g. the nodes whose nearest source was
    removed; gis.coverage.scenario), and far cheaper than a search over the whole graph.

    Returns new arrays; nodes left unreached get inf and -1.
    """
    dist, nearest = dist.copy(), nearest.copy()
    k = len(nodes)
    if k == 0:
        return dist, nearest
    indptr, indices, data = graph.csr.indptr, graph.csr.indices, graph.csr.data
    start, count = indptr[nodes].astype(np.int64), np.diff(indptr)[nodes].astype(np.int64)
    ends = np.cumsum(count)
    pos = np.repeat(start - ends + count, count) + np.arange(ends[-1])
    row, other, weight = np.repeat(np.arange(k), count), indices[pos].astype(np.int64), data[pos]
    col = np.minimum(np.searchsorted(nodes, other), k - 1)
    inside = nodes[col] == other
    enter = ~inside & (nearest[other] >= 0)  # neighbours outside: final distances
    heads = np.r_[row[enter], np.searchsorted(nodes, np.asarray(heads, dtype=np.int64))]
    weights = np.r_[dist[other[enter]] + weight[enter], np.asarray(weights, dtype=float)]
    labels = np.r_[nearest[other[enter]], np.asarray(labels, dtype=np.int64)]
    dist[nodes], nearest[nodes] = np.inf, -1
    if len(heads) == 0:
        return dist, nearest
    sub_indptr = np.zeros(k + 1, dtype=np.int64)
    np.cumsum(np.bincount(row[inside], minlength=k), out=sub_indptr[1:])
    index_type = np.int32 if max(k, len(col)) < 2**31 - 1 else np.int64
    sub = csr_array((weight[inside], col[inside].astype(index_type), sub_indptr.astype(index_type)), shape=(k, k))
    matrix = with_virtual_sources(sub, heads, weights)
    found, _, sources = dijkstra(
        matrix, directed=True, indices=np.arange(k, k + len(heads)), min_only=True, return_predecessors=True
    )
    reach = sources[:k] >= k
    dist[nodes] = np.where(reach, found[:k], np.inf)
    nearest[nodes] = np.where(reach, labels[np.maximum(sources[:k] - k, 0)], -1)
    return dist, nearest
