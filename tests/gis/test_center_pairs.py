"""gis.centers._pairs / _graph and gis.network.snap: walking distances from households to the center households
of their grid, on small hand-made networks (no database)."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

from gis.centers import Access, walk_pairs
from gis.centers._graph import reduce_graph
from tests.center_cases import lattice, streets, town

# --- walk_pairs -------------------------------------------------------------------------------------------------


def test_walk_pairs_network_distances_and_rules():
    # a street 0 - 1 - 2 - 3 of 100 m segments
    graph = csr_array(
        (np.full(6, 100.0), ([0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2])),
        shape=(4, 4),
    )
    access = Access.on_edges(
        edge_u=[0, 0, 2, 2, 0],
        edge_v=[1, 1, 3, 3, 1],
        to_u=[10.0, 60.0, 50.0, 50.0, 90.0],
        to_v=[90.0, 40.0, 50.0, 50.0, 10.0],
        snap_m=[5.0, 5.0, 0.0, 20.0, 5.0],
    )
    households = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "grid_id": "G",
            "is_center": [True, False, False, False, False],
            "building": [None, None, None, None, "B1"],
        }
    )
    pairs = walk_pairs(graph, households, access, k=None).set_index("household_id")["walk_m"]
    assert pairs["b"] == pytest.approx(5 + 50 + 5)  # same segment: along it, not via a node
    assert pairs["c"] == pytest.approx(5 + 90 + 100 + 50)  # via node 1 (node 0 is 20 m longer)
    assert pairs["d"] == pytest.approx(5 + 90 + 100 + 50 + 20)
    assert pairs["e"] == pytest.approx(5 + 80 + 5)
    # same building: 0 m
    households.loc[0, "building"] = "B1"
    assert walk_pairs(graph, households, access, k=None).set_index("household_id").loc["e", "walk_m"] == 0
    # limit and k
    near = walk_pairs(graph, households, access, k=None, limit_m=100)
    assert set(near["household_id"]) == {"b", "e"}


def test_walk_pairs_crop_is_exact_and_k_nearest():
    graph, xy, access, households = town(seed=3)
    full = walk_pairs(graph, households, access, k=None, limit_m=None)
    cropped = walk_pairs(graph, households, access, node_xy=xy, k=None, limit_m=5000)
    merged = full.merge(cropped, on=["household_id", "center_id"], suffixes=("_full", "_crop"))
    assert len(merged) == len(full) == len(cropped)
    np.testing.assert_allclose(merged["walk_m_full"], merged["walk_m_crop"])
    k3 = walk_pairs(graph, households, access, node_xy=xy, k=3)
    assert k3.groupby("household_id").size().max() == 3
    # the k listed are the k nearest: every unlisted center is at least as far as the farthest listed
    far = k3.groupby("household_id")["walk_m"].max()
    unlisted = full.merge(k3, on=["household_id", "center_id"], how="left", indicator=True)
    unlisted = unlisted[unlisted["_merge"] == "left_only"]
    assert (unlisted["walk_m_x"].to_numpy() >= far.reindex(unlisted["household_id"]).to_numpy() - 1e-9).all()
    # listed nearest first within each household
    assert (k3.groupby("household_id")["walk_m"].diff().dropna() >= 0).all()


def test_same_spot_without_building_column_is_zero_and_from_snap():
    graph, xy, u, v = lattice(3)

    class Graph:  # what Access.from_snap needs of gis.network.WalkGraph
        edge_u, edge_v = u, v

    snapped = pd.DataFrame(
        {
            "edge": [0, 0, 1, None],
            "to_u": [20.0, 20.0, 5.0, None],
            "to_v": [30.0, 30.0, 45, None],
            "snap_m": [8.0, 8.0, 1.0, None],
        }
    )
    access = Access.from_snap(Graph, snapped)
    households = pd.DataFrame({"id": [1, 2, 3, 4], "grid_id": "G", "is_center": [True, False, False, False]})
    pairs = walk_pairs(graph, households, access, node_xy=xy).set_index("household_id")["walk_m"]
    assert pairs[2] == 0  # same spot: same building
    assert pairs[3] == pytest.approx(8 + 30 + 5 + 1)  # to node 1, along edge 1 (node 1 → 2)
    assert 4 not in pairs.index  # not snapped: no access


@pytest.mark.parametrize("seed", range(6))
def test_reduced_graph_keeps_every_distance(seed):
    graph, xy, _, _ = streets(seed)
    red = reduce_graph(graph, xy)
    assert red.csr.shape[0] < graph.shape[0]  # chains and stubs are gone
    full = dijkstra(graph)
    kept = dijkstra(red.csr)
    n = graph.shape[0]
    via = np.full((n, n), np.inf)
    for a in range(2):
        for b in range(2):
            ra, rb = red.rep[:, a], red.rep[:, b]
            d = red.rep_m[:, a][:, None] + kept[np.maximum(ra, 0)][:, np.maximum(rb, 0)] + red.rep_m[:, b][None, :]
            via = np.minimum(via, np.where((ra[:, None] >= 0) & (rb[None, :] >= 0), d, np.inf))
    x, y = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    np.testing.assert_allclose(np.minimum(via, red.node_distance(x, y)), full, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_walk_pairs_equal_plain_dijkstra_on_chains_and_stubs(seed):
    """Households on chains, stubs and shared end nodes: `walk_pairs` (reduced graph, batches) against one plain
    Dijkstra per household on the full graph with the same rules."""
    graph, xy, u, v = streets(seed)
    rng = np.random.default_rng(seed)
    n_h = 120
    edge = rng.integers(0, len(u), n_h)
    length = graph[u[edge], v[edge]]
    along = rng.uniform(0, 1, n_h) * length
    along[:4] = 0.0  # on a node, shared by the edges that meet there
    snap = rng.uniform(0, 5, n_h)
    access = Access.on_edges(edge_u=u[edge], edge_v=v[edge], to_u=along, to_v=length - along, snap_m=snap, edge=edge)
    households = pd.DataFrame(
        {
            "id": [f"h{i}" for i in range(n_h)],
            "grid_id": np.where(rng.random(n_h) < 0.5, "A", "B"),
            "is_center": rng.random(n_h) < 0.3,
            "building": np.where(rng.random(n_h) < 0.1, "b1", None),
        }
    )
    got = walk_pairs(graph, households, access, node_xy=xy, k=None, limit_m=400)
    full = dijkstra(graph)
    want = {}
    for i in np.flatnonzero(~households["is_center"]):
        for j in np.flatnonzero(households["is_center"] & (households["grid_id"] == households.loc[i, "grid_id"])):
            d = min(
                access.offset_m[i, a] + full[access.node[i, a], access.node[j, b]] + access.offset_m[j, b]
                for a in range(2)
                for b in range(2)
            )
            if edge[i] == edge[j]:
                gap = abs(access.along_m[i] - access.along_m[j])
                d = min(d, snap[i] + gap + snap[j])
                if gap < 0.05 and abs(snap[i] - snap[j]) < 0.05:
                    d = 0.0
            if households.loc[i, "building"] == "b1" and households.loc[j, "building"] == "b1":
                d = 0.0
            if d <= 400:
                want[(f"h{i}", f"h{j}")] = d
    table = got.astype({"household_id": str, "center_id": str}).set_index(["household_id", "center_id"])["walk_m"]
    assert set(table.index) == set(want)
    np.testing.assert_allclose(table.loc[list(want)].to_numpy(), list(want.values()), rtol=1e-12, atol=1e-9)
    assert isinstance(got["household_id"].dtype, pd.CategoricalDtype)  # cheap to build and to look up


def test_snap_ties_and_points_as_before():
    """The fast nearest-edge tree keeps the graph tree's choice between equally near edges, and the snapped
    coordinates are GEOS's own to the last bit."""

    from gis.network import build_walk_graph
    from gis.network.snap import _interpolate, snap_points

    nodes = gpd.GeoDataFrame(
        {"source_id": ["a", "b", "c", "d"]},
        geometry=gpd.points_from_xy([0, 100, 100, 0], [0, 0, 100, 100]),
        crs="EPSG:32650",
    )
    edges = gpd.GeoDataFrame(
        {"source_id": ["ab", "bc", "cd", "da"], "u_ref": ["a", "b", "c", "d"], "v_ref": ["b", "c", "d", "a"]},
        geometry=[shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(100, 0), (100, 100)]),
                  shapely.LineString([(100, 100), (0, 100)]), shapely.LineString([(0, 100), (0, 0)])],
        crs="EPSG:32650",
    )  # fmt: skip
    graph = build_walk_graph(nodes, edges)
    points = gpd.GeoSeries(gpd.points_from_xy([50, 10, 90, 30], [50, 10, 90, 60]), crs="EPSG:32650")
    snapped = snap_points(graph, points)
    tree, items = graph.edge_tree()
    (q, hit), _ = tree.query_nearest(graph.to_metric(points), all_matches=False, return_distance=True)
    assert snapped["edge"].tolist() == items[hit[np.argsort(q)]].tolist()  # (50, 50) ties with all four
    rng = np.random.default_rng(0)
    lines = np.array(
        [shapely.LineString(np.cumsum(rng.normal(0, 30, (k, 2)), axis=0)) for k in rng.integers(2, 6, 500)]
    )
    along = rng.uniform(0, 1.2, 500) * shapely.length(lines)
    along[:20] = 0.0
    want = shapely.get_coordinates(shapely.line_interpolate_point(lines, along))
    assert np.array_equal(_interpolate(lines, along), want)
