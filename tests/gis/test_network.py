"""gis.network.graph and gis.network.snap: the walk graph in metres and snapping onto segments (no database).

Also holds the helpers the coverage, isochrone and siting tests share: the real Zhuhai extract (read in place from
../shared/data/osm; skipped with a message when absent, a failure in CI) and an independent networkx reference.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import coo_array
from scipy.sparse.csgraph import dijkstra

from gis.io import OsmExtract, read_osm
from gis.network import (
    ZERO_M,
    access_points,
    build_walk_graph,
    endpoint_distances,
    point_distances,
    snap_metric,
    snap_points,
)

OSM_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "osm"
ZHUHAI = OSM_DIR / "zhuhai-xiangzhou.osm"


@functools.cache
def _read_zhuhai() -> OsmExtract:
    return read_osm(ZHUHAI)


def zhuhai() -> OsmExtract:
    """The Zhuhai Xiangzhou extract; skip (fail in CI) when ../shared/data is absent."""
    if not ZHUHAI.is_file():
        message = f"{ZHUHAI} is absent: the real-data tests need the shared OSM extracts"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return _read_zhuhai()


@functools.cache
def _zhuhai_graph():  # noqa: ANN202
    extract = _read_zhuhai()
    return build_walk_graph(extract.nodes, extract.edges)


def zhuhai_graph():  # noqa: ANN201
    zhuhai()
    return _zhuhai_graph()


def lonlat_points(coords: list[tuple[float, float]], **columns: object) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=[shapely.Point(c) for c in coords], crs="EPSG:4326")


def line_frames(
    coords: dict[str, tuple[float, float]], edges: list[tuple[str, str, float | None, list | None]]
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Small walk layers in a local metric frame (metres, EPSG:4548) from node coordinates and edge tuples
    (u, v, length_m or None for the geometric length, intermediate vertices or None)."""
    crs = "EPSG:4548"  # CGCS2000 3-degree GK zone CM 117E: x around 500 km
    nodes = gpd.GeoDataFrame(
        {"source_id": list(coords)},
        geometry=[shapely.Point(500_000 + x, 4_400_000 + y) for x, y in coords.values()],
        crs=crs,
    )
    lines, lengths = [], []
    for u, v, length, via in edges:
        pts = [coords[u], *(via or []), coords[v]]
        line = shapely.LineString([(500_000 + x, 4_400_000 + y) for x, y in pts])
        lines.append(line)
        lengths.append(line.length if length is None else length)
    frame = gpd.GeoDataFrame(
        {
            "source_id": [f"e{i}" for i in range(len(edges))],
            "u_ref": [e[0] for e in edges],
            "v_ref": [e[1] for e in edges],
            "length_m": lengths,
        },
        geometry=lines,
        crs=crs,
    )
    return nodes.to_crs(4326), frame.to_crs(4326)


def reference_walks(
    edges: gpd.GeoDataFrame,
    nodes: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    targets: np.ndarray,
    *,
    crs: object,
    max_snap_m: float | None = 500.0,
) -> tuple[np.ndarray, np.ndarray, nx.Graph, dict]:
    """Independent reference with networkx: brute-force snapping (distance to every edge), edges split at the
    snapped points, parallel edges reduced to the shortest, one multi-source Dijkstra from the service points.

    Returns the walk metres and the nearest service id (None) of every target point (metric shapely array),
    the graph and the target node names (for tie checks).
    """
    lines = np.asarray(edges.to_crs(crs).geometry.values)
    lengths = edges["length_m"].to_numpy(float)
    coords = shapely.get_coordinates(np.asarray(nodes.to_crs(crs).geometry.values))
    node_xy = dict(zip(nodes["source_id"], coords, strict=True))
    starts_at_u = [
        np.hypot(*(np.asarray(line.coords[0]) - node_xy[u])) <= np.hypot(*(np.asarray(line.coords[0]) - node_xy[v]))
        for line, u, v in zip(lines, edges["u_ref"], edges["v_ref"], strict=True)
    ]

    def snap(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        dist = shapely.distance(points[:, None], lines[None, :])
        edge = dist.argmin(axis=1)
        geom_len = shapely.length(lines[edge])
        along = shapely.line_locate_point(lines[edge], points) / np.where(geom_len > 0, geom_len, 1) * lengths[edge]
        from_u = np.where(np.asarray(starts_at_u)[edge], along, lengths[edge] - along)
        return edge, dist[np.arange(len(points)), edge], from_u

    graph = nx.Graph()

    def add(a: object, b: object, w: float) -> None:
        if a != b:
            graph.add_edge(a, b, weight=min(w, graph[a][b]["weight"]) if graph.has_edge(a, b) else w)

    splits: dict[int, list] = defaultdict(list)
    ids = services["source_id"].astype(str).to_numpy()
    s_edge, s_snap, s_along = snap(np.asarray(services.to_crs(crs).geometry.values))
    sources = []
    for i in range(len(ids)):
        if max_snap_m is None or s_snap[i] <= max_snap_m:
            splits[s_edge[i]].append((s_along[i], ("P", i)))
            graph.add_edge(("S", ids[i]), ("P", i), weight=s_snap[i])
            sources.append(("S", ids[i]))
    t_edge, t_snap, t_along = snap(targets)
    names = {}
    for j in range(len(targets)):
        if max_snap_m is None or t_snap[j] <= max_snap_m:
            splits[t_edge[j]].append((t_along[j], ("B", j)))
            names[j] = ("B", j)
    for k, (u, v, length) in enumerate(zip(edges["u_ref"], edges["v_ref"], lengths, strict=True)):
        chain = [(0.0, u), *sorted(splits.get(k, []), key=lambda p: p[0]), (length, v)]
        for (pa, a), (pb, b) in zip(chain[:-1], chain[1:], strict=True):
            add(a, b, pb - pa)
    walk = np.full(len(targets), np.nan)
    nearest = np.full(len(targets), None, dtype=object)
    if sources:
        dist, paths = nx.multi_source_dijkstra(graph, set(sources), weight="weight")
        for j, name in names.items():
            if name in dist:
                walk[j] = t_snap[j] + dist[name]
                nearest[j] = paths[name][0][1]
    return walk, nearest, graph, names


# --- the graph -----------------------------------------------------------------------------------------------


def test_parallel_edges_keep_the_shortest_not_the_sum() -> None:
    coords = {"a": (0, 0), "b": (100, 0), "c": (200, 0)}
    nodes, edges = line_frames(
        coords,
        [("a", "b", None, None), ("a", "b", 150.0, [(50, 60)]), ("b", "a", 120.0, [(50, -40)]), ("b", "c", None, None)],
    )
    graph = build_walk_graph(nodes, edges)
    a, b = 0, 1
    assert graph.csr[a, b] == pytest.approx(100.0, abs=0.01)
    assert graph.csr[b, a] == pytest.approx(100.0, abs=0.01)
    assert graph.parallel_dropped == 2
    assert graph.csr.nnz == 4  # a-b and b-c, both directions, no duplicates stored
    # what the naive construction would have done (the gotcha this guards against): sum the parallels
    naive = coo_array(
        (np.r_[edges.length_m, edges.length_m], (np.r_[graph.edge_u, graph.edge_v], np.r_[graph.edge_v, graph.edge_u])),
        shape=(3, 3),
    ).tocsr()
    assert naive[a, b] == pytest.approx(370.0, abs=0.01)
    assert dijkstra(graph.csr, indices=0)[2] == pytest.approx(200.0, abs=0.01)


def test_zero_length_edges_connect_and_self_loops_stay_for_snapping() -> None:
    coords = {"a": (0, 0), "b": (100, 0), "b2": (100, 0), "c": (200, 0)}
    nodes, edges = line_frames(
        coords,
        [
            ("a", "b", None, None),
            ("b", "b2", 0.0, None),
            ("b2", "c", None, None),
            ("c", "c", None, [(220, 20), (240, 0), (220, -20)]),
        ],
    )
    graph = build_walk_graph(nodes, edges)
    assert graph.zero_length == 1 and graph.self_loops == 1
    assert graph.csr[1, 2] == ZERO_M  # stored, not an explicit zero a sparse operation could drop
    assert len(graph.component_sizes) == 1
    assert dijkstra(graph.csr, indices=0)[3] == pytest.approx(200.0, abs=0.01)
    assert graph.csr[3, 3] == 0  # the loop is not in the matrix...
    snapped = snap_points(
        graph, lonlat_points([graph.from_metric([shapely.Point(graph.node_xy[3] + [40, 0])]).iloc[0].coords[0]])
    )
    assert snapped.loc[0, "edge"] == 3  # ...but points snap onto it
    assert snapped.loc[0, "to_u"] + snapped.loc[0, "to_v"] == pytest.approx(graph.edge_length[3])


def test_components_and_largest_mask() -> None:
    coords = {"a": (0, 0), "b": (100, 0), "c": (200, 0), "x": (0, 500), "y": (30, 500)}
    nodes, edges = line_frames(coords, [("a", "b", None, None), ("b", "c", None, None), ("x", "y", None, None)])
    graph = build_walk_graph(nodes, edges)
    assert sorted(graph.component_sizes.tolist()) == [2, 3]
    assert graph.largest_component.tolist() == [True, True, True, False, False]
    assert graph.edge_in_largest.tolist() == [True, True, False]


def test_lines_are_oriented_from_u_to_v_and_bad_refs_raise() -> None:
    coords = {"a": (0, 0), "b": (100, 0)}
    nodes, edges = line_frames(coords, [("a", "b", None, [(50, 30)])])
    edges.loc[0, "u_ref"], edges.loc[0, "v_ref"] = "b", "a"  # geometry still runs a → b
    graph = build_walk_graph(nodes, edges)
    start = np.asarray(graph.edge_geometry[0].coords[0])
    assert np.hypot(*(start - graph.node_xy[graph.edge_u[0]])) < 1e-6
    edges.loc[0, "v_ref"] = "nowhere"
    with pytest.raises(ValueError, match="name no walk node"):
        build_walk_graph(nodes, edges)


def test_zhuhai_graph_matches_the_extract() -> None:
    extract = zhuhai()
    graph = zhuhai_graph()
    assert graph.n_nodes == len(extract.nodes) and graph.n_edges == len(extract.edges)
    assert graph.crs.to_epsg() == 4547  # CGCS2000 GK zone CM 114E, chosen from the data
    assert graph.largest_component.mean() > 0.9
    pairs = pd.DataFrame(
        {
            "lo": np.minimum(graph.edge_u, graph.edge_v),
            "hi": np.maximum(graph.edge_u, graph.edge_v),
            "w": graph.edge_length,
        }
    )[graph.edge_u != graph.edge_v]
    shortest = pairs.groupby(["lo", "hi"])["w"].min()
    assert graph.parallel_dropped == len(pairs) - len(shortest) > 0
    stored = np.asarray([graph.csr[lo, hi] for lo, hi in shortest.index])
    assert np.allclose(stored, np.maximum(shortest.to_numpy(), ZERO_M))
    assert (graph.csr != graph.csr.T).nnz == 0


def test_point_distances_start_mid_edge_and_never_pass_through_a_virtual_node() -> None:
    coords = {"a": (0, 0), "b": (100, 0), "c": (300, 0)}
    nodes, edges = line_frames(coords, [("a", "b", None, None), ("b", "c", None, None)])
    graph = build_walk_graph(nodes, edges)
    # two points on a-b: 10 m from a, and 30 m from b (+5 m snap); a third far away on b-c
    dist, nearest = point_distances(
        graph, edge=np.array([0, 0, 1]), to_u=np.array([10.0, 75.0, 190.0]), to_v=np.array([90.0, 35.0, 10.0])
    )
    assert dist.tolist() == pytest.approx([10.0, 35.0, 10.0])
    assert nearest.tolist() == [0, 1, 2]
    single = endpoint_distances(graph, edge=0, to_u=75.0, to_v=35.0)
    assert single.tolist() == pytest.approx([75.0, 35.0, 235.0])
    assert np.isinf(endpoint_distances(graph, edge=0, to_u=75.0, to_v=35.0, limit=100.0)[2])


# --- snapping --------------------------------------------------------------------------------------------------


def test_snap_splits_the_edge_and_reports_detached_pieces() -> None:
    coords = {"a": (0, 0), "b": (200, 0), "c": (400, 0), "x": (0, 100), "y": (40, 100)}
    nodes, edges = line_frames(coords, [("a", "b", None, None), ("b", "c", None, None), ("x", "y", None, None)])
    graph = build_walk_graph(nodes, edges)
    local = [(50, -20), (20, 90), (3000, 0)]  # near a-b; near the detached x-y; 2.6 km beyond c
    pts = graph.from_metric([shapely.Point(500_000 + x, 4_400_000 + y) for x, y in local])
    snapped = snap_points(graph, pts, max_snap_m=500.0)
    assert snapped["edge"].tolist() == [0, 2, -1]
    assert snapped.loc[0, "snap_m"] == pytest.approx(20.0, abs=0.01)
    assert (snapped.loc[0, "to_u"], snapped.loc[0, "to_v"]) == pytest.approx((50.0, 150.0), abs=0.01)
    assert snapped["in_largest"].tolist() == [True, False, False]
    assert snapped.loc[1, "component_size"] == 2
    main_only = snap_points(graph, pts, largest_only=True, max_snap_m=500.0)
    assert main_only["edge"].tolist() == [0, 0, -1]
    assert main_only["nearest_detached"].tolist() == [False, True, False]
    assert main_only.loc[1, "extra_snap_m"] == pytest.approx(90.0 - 10.0, abs=0.01)


def test_snap_metric_gives_snap_points_columns() -> None:
    """The due list snaps a worker's position with `snap_metric` (arrays, no frame): the same edge and metres."""
    coords = {"a": (0, 0), "b": (200, 0), "c": (400, 0), "x": (0, 100), "y": (40, 100)}
    nodes, edges = line_frames(coords, [("a", "b", None, None), ("b", "c", None, None), ("x", "y", None, None)])
    graph = build_walk_graph(nodes, edges)
    local = [(50, -20), (20, 90), (3000, 0), (399, 7)]
    metric = np.array([shapely.Point(500_000 + x, 4_400_000 + y) for x, y in local], dtype=object)
    for largest_only in (False, True):
        frame = snap_points(graph, graph.from_metric(metric), largest_only=largest_only)
        arrays = snap_metric(graph, metric, largest_only=largest_only)
        for column, values in zip(("edge", "snap_m", "to_u", "to_v"), arrays, strict=True):
            np.testing.assert_allclose(values, frame[column].to_numpy(dtype=float), atol=1e-6, err_msg=column)


def test_access_points_prefer_entrances() -> None:
    square = shapely.Polygon([(0, 0), (0.001, 0), (0.001, 0.001), (0, 0.001)])
    buildings = gpd.GeoDataFrame(
        {"source_id": ["way/1", "way/2"]}, geometry=[square, shapely.box(1, 1, 1.001, 1.001)], crs="EPSG:4326"
    )
    entrances = lonlat_points([(0.0005, 0.0), (0.001, 0.0005), (5, 5)], building_ref=["way/1", "way/1", "way/9"])
    points = access_points(buildings, entrances=entrances)
    assert points["building_id"].tolist() == ["way/1", "way/1", "way/2"]
    assert points["is_entrance"].tolist() == [True, True, False]
    assert points.geometry.iloc[2].within(buildings.geometry.iloc[1])
