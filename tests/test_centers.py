"""gis.centers / gis.center_pairs / gis.center_flow: 党员中心户 assignment on small hand-made networks (no database)."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

from gis.center_flow import certify, have_ortools, solve_flow
from gis.center_graph import reduce_graph
from gis.center_pairs import Access, walk_pairs
from gis.center_suggest import suggest_centers
from gis.centers import assign_centers, assign_on_network, households_from_layers, prepare_households

SOLVERS = ["scipy", pytest.param("ortools", marks=pytest.mark.skipif(not have_ortools(), reason="no ortools"))]
SHARED_OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"


def lattice(n: int, spacing: float = 50.0) -> tuple[csr_array, np.ndarray, np.ndarray, np.ndarray]:
    """An n × n street lattice: CSR graph (both directions), node xy, edge u, edge v."""
    idx = np.arange(n * n).reshape(n, n)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    w = np.full(len(u), spacing)
    graph = csr_array((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(n * n, n * n))
    xy = np.c_[(np.arange(n * n) % n) * spacing, (np.arange(n * n) // n) * spacing]
    return graph, xy, u, v


def town(seed: int = 0, n_households: int = 300, n: int = 16, p_center: float = 0.1, capacity: int = 10):
    """Households on random lattice edges, split into a west and an east grid; returns graph, xy, access, frame."""
    rng = np.random.default_rng(seed)
    graph, xy, u, v = lattice(n)
    edge = rng.integers(0, len(u), n_households)
    along = rng.uniform(0, 50, n_households)
    access = Access.on_edges(
        edge_u=u[edge],
        edge_v=v[edge],
        to_u=along,
        to_v=50 - along,
        snap_m=rng.uniform(0, 15, n_households),
        edge=edge,
    )
    x = (xy[u[edge], 0] + xy[v[edge], 0]) / 2
    households = pd.DataFrame(
        {
            "id": [f"h{i:03d}" for i in range(n_households)],
            "grid_id": np.where(x < n * 25, "W", "E"),
            "is_center": rng.random(n_households) < p_center,
            "capacity": capacity,
            "is_party_member": rng.random(n_households) < 0.3,
        }
    )
    return graph, xy, access, households


def reference_total(households: pd.DataFrame, pairs: pd.DataFrame) -> tuple[float, int]:
    """Optimal (covered, total walk) per grid by linear_sum_assignment on capacity-expanded columns.

    Covering comes first: a household left out costs BIG, more than any total walk."""
    big = 1e7
    total, covered = 0.0, 0
    hh = prepare_households(households)
    for _, grid in hh.groupby("grid_id"):
        clients = grid.loc[~grid.is_center, "id"].tolist()
        centers = grid[grid.is_center]
        if not clients or centers.empty:
            continue
        d = (
            pairs.pivot_table(index="household_id", columns="center_id", values="walk_m", aggfunc="min")
            .reindex(index=clients, columns=centers["id"].tolist())
            .to_numpy()
        )
        d = np.where(np.isnan(d), big * 10, d)
        expanded = np.repeat(d, centers["capacity"].to_numpy(), axis=1)
        expanded = np.c_[expanded, np.full((len(clients), len(clients)), big)]  # "uncovered" columns
        rows, cols = linear_sum_assignment(expanded)
        chosen = expanded[rows, cols]
        real = chosen < big
        total += chosen[real].sum()
        covered += int(real.sum())
    return total, covered


def check_invariants(households: pd.DataFrame, result) -> None:
    hh = prepare_households(households).set_index("id")
    table = result.households.set_index("household_id")
    assigned = table[table["center_id"].notna() & (table["status"] != "center")]
    # every center is assigned to itself at 0 m
    centers = hh.index[hh["is_center"]]
    assert (table.loc[centers, "center_id"] == centers).all()
    assert (table.loc[centers, "walk_m"] == 0).all()
    # only centers are chosen, never across a grid line
    assert hh.loc[assigned["center_id"], "is_center"].all()
    assert (hh.loc[assigned["center_id"], "grid_id"].to_numpy() == hh.loc[assigned.index, "grid_id"].to_numpy()).all()
    # capacities are never exceeded (the center's own household does not count)
    load = assigned["center_id"].value_counts()
    assert (load <= hh.loc[load.index, "capacity"]).all()


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


def streets(seed: int, n: int = 40) -> tuple[csr_array, np.ndarray, np.ndarray, np.ndarray]:
    """A random tree of streets with a few cross links, a detached ring with a stub, chains of 2 m to 40 m edges and
    building stubs (leaves): what `gis.center_graph` reduces. Returns graph, xy, edge u, edge v."""
    rng = np.random.default_rng(seed)
    xy = [np.zeros(2)]
    u, v = [], []
    for i in range(1, n):
        parent = int(rng.integers(0, i))
        xy.append(xy[parent] + rng.normal(0, 20, 2))
        u.append(parent), v.append(i)
    for _ in range(3):  # cross links
        a, b = rng.integers(0, n, 2)
        if a != b:
            u.append(int(a)), v.append(int(b))
    ring = np.arange(n, n + 5)
    for a, b in zip(ring, np.roll(ring, 1), strict=True):
        u.append(int(a)), v.append(int(b))
    xy += [np.array([500.0 + 10 * np.cos(t), 10 * np.sin(t)]) for t in np.linspace(0, 6, 5)]
    xy.append(np.array([520.0, 0.0]))
    u.append(n), v.append(n + 5)  # a stub on the ring
    xy = np.array(xy)
    u, v = np.array(u), np.array(v)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    edges = pd.DataFrame({"lo": lo, "hi": hi}).drop_duplicates().query("lo != hi")
    lo, hi = edges["lo"].to_numpy(), edges["hi"].to_numpy()
    w = np.maximum(np.hypot(*(xy[lo] - xy[hi]).T), 0.5)
    m = len(xy)
    graph = csr_array((np.r_[w, w], (np.r_[lo, hi], np.r_[hi, lo])), shape=(m, m))
    return graph, xy, lo, hi


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


def test_solve_flow_by_grid_equals_by_component():
    graph, xy, access, households = town(seed=4, n_households=400)
    hh = prepare_households(households)
    pairs = walk_pairs(graph, households, access, node_xy=xy, k=6)
    pos = pd.Index(hh["id"])
    client = np.flatnonzero(~hh["is_center"])
    center = np.flatnonzero(hh["is_center"])
    h = np.searchsorted(client, pos.get_indexer(pairs["household_id"].astype(str)))
    c = np.searchsorted(center, pos.get_indexer(pairs["center_id"].astype(str)))
    cost = np.rint(pairs["walk_m"].to_numpy() * 1000).astype(np.int64)
    capacity = hh["capacity"].to_numpy()[center]
    grid = pd.factorize(hh["grid_id"])[0]
    args = dict(arc_h=h, arc_c=c, cost=cost, capacity=capacity, n_households=len(client))
    for solver in ("scipy", "ortools") if have_ortools() else ("scipy",):
        by_component = solve_flow(**args, solver=solver)
        by_grid = solve_flow(**args, solver=solver, groups=(grid[client], grid[center]))
        total = [cost[(a[h] == c)].sum() for a in (by_component, by_grid)]  # one arc per pair here
        assert total[0] == total[1] and ((by_component >= 0).sum() == (by_grid >= 0).sum())


def test_snap_ties_and_points_as_before():
    """The fast nearest-edge tree keeps the graph tree's choice between equally near edges, and the snapped
    coordinates are GEOS's own to the last bit."""
    import geopandas as gpd

    from gis.network import build_walk_graph
    from gis.snap import _interpolate, snap_points

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


# --- exact assignment -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_assignment_is_optimal_and_respects_capacity_and_grids(solver, seed):
    graph, xy, access, households = town(seed=seed, p_center=0.09 + 0.01 * seed)
    pairs = walk_pairs(graph, households, access, node_xy=xy, k=None)
    result = assign_centers(households, pairs=pairs, k=None, solver=solver)
    check_invariants(households, result)
    ref_total, ref_covered = reference_total(households, pairs)
    assert (result.households["status"] == "assigned").sum() == ref_covered
    # costs are rounded to the millimetre for the solver: equal within n · 0.5 mm
    assert result.total_walk_m == pytest.approx(ref_total, abs=0.0005 * len(households) + 1e-6)


@pytest.mark.parametrize("solver", SOLVERS)
def test_k_nearest_is_proven_or_repaired(solver):
    graph, xy, access, households = town(seed=5, n_households=400, p_center=0.1)
    all_pairs = walk_pairs(graph, households, access, node_xy=xy, k=None)
    full = assign_centers(households, pairs=all_pairs, k=None, solver=solver)
    for k in (1, 2, 4, 8):
        listed = walk_pairs(graph, households, access, node_xy=xy, k=k)
        result = assign_centers(
            households,
            pairs=listed,
            k=k,
            all_pairs=lambda grids: walk_pairs(graph, households, access, node_xy=xy, k=None, grids=grids),
            solver=solver,
        )
        check_invariants(households, result)
        assert result.total_walk_m == pytest.approx(full.total_walk_m, abs=1.0)
        assert result.grids["assigned"].sum() == full.grids["assigned"].sum()
    # k below the number listed: the first stage uses k, the rest of the list is checked exactly
    result = assign_centers(households, pairs=all_pairs, k=2, solver=solver)
    assert result.total_walk_m == pytest.approx(full.total_walk_m, abs=1.0)


def test_k_nearest_alone_can_be_wrong_and_is_caught():
    # h1 is nearest to c1 and c2, h2 only near c1: with k = 1 both want c1 (capacity 1)
    households = pd.DataFrame(
        {"id": ["c1", "c2", "h1", "h2"], "grid_id": "G", "is_center": [True, True, False, False], "capacity": 1}
    )
    pairs = pd.DataFrame(
        {
            "household_id": ["h1", "h1", "h2", "h2"],
            "center_id": ["c1", "c2", "c1", "c2"],
            "walk_m": [1.0, 2.0, 1.5, 10.0],
        }
    )
    result = assign_centers(households, pairs=pairs, k=1)
    table = result.households.set_index("household_id")
    assert table.loc["h1", "center_id"] == "c2" and table.loc["h2", "center_id"] == "c1"
    assert result.total_walk_m == pytest.approx(3.5)
    assert result.grids.loc[0, "arcs"] == "listed"  # stage 1 (k = 1) was not enough


def test_certificate_rejects_a_suboptimal_solution():
    # one center with room far away (only 'known' through the floor), the solved arcs crowd center 0
    assigned = np.array([0, 0])
    ok = certify(
        arc_h=np.array([0, 1, 1]),
        arc_c=np.array([0, 0, 1]),
        cost=np.array([10, 10, 5]),
        capacity=np.array([2, 1]),
        assigned=assigned,
        floor=np.array([np.inf, np.inf]),
        center_group=np.array([0, 0]),
        household_group=np.array([0, 0]),
    )
    assert not ok.all()  # household 1 should have gone to center 1 (5 < 10): a negative cycle
    good = solve_flow(
        arc_h=np.array([0, 1, 1]),
        arc_c=np.array([0, 0, 1]),
        cost=np.array([10, 10, 5]),
        capacity=np.array([2, 1]),
        n_households=2,
    )
    assert good.tolist() == [0, 1]


def test_uncovered_are_listed_with_the_reason():
    households = pd.DataFrame(
        {
            "id": ["c1", "a", "b", "c", "x", "y", "z"],
            "grid_id": ["G1", "G1", "G1", "G1", "G2", "G3", None],
            "is_center": [True, False, False, False, False, True, False],
            "capacity": [2, None, None, None, None, 5, None],
        }
    )
    pairs = pd.DataFrame(
        {"household_id": ["a", "b", "c", "x"], "center_id": ["c1", "c1", "c1", "y"], "walk_m": [10.0, 20.0, 30.0, 5]}
    )
    result = assign_centers(households, pairs=pairs)
    reasons = result.uncovered.set_index("household_id")["reason"]
    assert reasons["c"] == "grid G1 lacks 1 places (3 households, capacity 2)"  # the farthest is left out
    assert reasons["x"] == "grid G2 has no center household (lacks 1 places)"  # pair across grids ignored
    assert reasons["z"] == "household has no grid"
    assert "1 pairs across grid lines ignored" in result.notes
    grid = result.grids.set_index("grid_id")
    assert grid.loc["G1", "lacks"] == 1 and grid.loc["G1", "uncovered"] == 1
    out = result.result()
    assert list(out.columns) == ["household_id", "center_id", "walk_m"]
    assert pd.isna(out.set_index("household_id").loc["c", "center_id"])


def test_uncovered_beyond_the_missing_places_are_told_apart():
    """The grid lacks 1 place, but 2 are uncovered: a, b and c reach only c1 (1 place), d reaches c2 (2 places)."""
    households = pd.DataFrame(
        {
            "id": ["c1", "c2", "a", "b", "c", "d"],
            "grid_id": "G",
            "is_center": [True, True, False, False, False, False],
            "capacity": [1, 2, None, None, None, None],
        }
    )
    pairs = pd.DataFrame(
        {"household_id": ["a", "b", "c", "d"], "center_id": ["c1", "c1", "c1", "c2"], "walk_m": [10.0, 20, 30, 5]}
    )
    result = assign_centers(households, pairs=pairs)
    assert sorted(result.uncovered["household_id"]) == ["b", "c"]
    assert set(result.uncovered["reason"]) == {
        "grid G lacks 1 places (4 households, capacity 3); 1 more uncovered: the centers within their reach are full"
    }


def test_unreachable_household_reason():
    graph = csr_array((np.full(2, 100.0), ([0, 1], [1, 0])), shape=(4, 4))  # nodes 2, 3 are elsewhere
    access = Access.at_nodes([0, 1, 2], offset_m=[0.0, 0.0, 0.0])
    households = pd.DataFrame({"id": ["c", "a", "b"], "grid_id": "G", "is_center": [True, False, False]})
    pairs = walk_pairs(graph, households, access)
    result = assign_centers(households, pairs=pairs)
    assert result.uncovered.set_index("household_id").loc["b", "reason"] == (
        "no center of grid G within reach on the walk network"
    )


def test_households_from_layers():
    households = pd.DataFrame(
        {"source_id": ["h1", "h2"], "grid_ref": ["g", "g"], "building_ref": ["b", "b"], "is_party_member": [1, 0]}
    )
    centers = pd.DataFrame({"household_ref": ["h1"], "capacity": [None]})
    out = households_from_layers(households, centers)
    assert out["is_center"].tolist() == [True, False]
    assert out["capacity"].tolist() == [10, 0]
    assert out["is_party_member"].tolist() == [True, False]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unique"):
        prepare_households(pd.DataFrame({"id": ["a", "a"], "grid_id": "g", "is_center": False}))
    with pytest.raises(ValueError, match="capacity"):
        prepare_households(pd.DataFrame({"id": ["a"], "grid_id": "g", "is_center": True, "capacity": -1}))
    with pytest.raises(ValueError, match="is_center"):
        prepare_households(pd.DataFrame({"id": ["a"], "grid_id": "g", "is_center": "maybe"}))


def test_assign_on_network_matches_the_full_problem():
    graph, xy, access, households = town(seed=9, n_households=400)
    result = assign_on_network(households, graph=graph, access=access, node_xy=xy, listed=4, k=2)
    full = assign_centers(households, pairs=walk_pairs(graph, households, access, node_xy=xy, k=None), k=None)
    check_invariants(households, result)
    assert result.total_walk_m == pytest.approx(full.total_walk_m, abs=1.0)
    again = assign_on_network(households, graph=graph, access=access, node_xy=xy, previous=result.result())
    assert again.moves.empty


# --- stability --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_same_input_moves_nobody(solver):
    graph, xy, access, households = town(seed=7)
    pairs = walk_pairs(graph, households, access, node_xy=xy)
    first = assign_centers(households, pairs=pairs, solver=solver)
    again = assign_centers(households, pairs=pairs, previous=first.result(), solver=solver)
    assert again.moves.empty
    assert set(again.households["status"]) <= {"center", "kept", "uncovered"}
    assert again.total_walk_m == pytest.approx(first.total_walk_m)


@pytest.mark.parametrize("solver", SOLVERS)
def test_removing_one_center_moves_only_its_households(solver):
    graph, xy, access, households = town(seed=8, p_center=0.15)  # spare capacity: no chain is needed
    pairs = walk_pairs(graph, households, access, node_xy=xy)
    first = assign_centers(households, pairs=pairs, solver=solver)
    table = first.households
    load = table[table["status"] == "assigned"]["center_id"].value_counts()
    gone = load.index[0]
    its = set(table.loc[(table["center_id"] == gone) & (table["status"] == "assigned"), "household_id"])
    changed = households.assign(is_center=households["is_center"] & (households["id"] != gone))
    pairs2 = walk_pairs(graph, changed, access, node_xy=xy, include=first.result().dropna())
    second = assign_centers(changed, pairs=pairs2, previous=first.result(), solver=solver)
    check_invariants(changed, second)
    moved = set(second.moves["household_id"])
    assert moved == its | {gone}
    reasons = second.moves.set_index("household_id")["reason"]
    assert reasons[next(iter(its))] == f"previous center {gone} is no longer a center household"
    # without the previous assignment the optimum may move many more
    assert (second.households.set_index("household_id").loc[list(its), "status"] == "moved").all()


def test_chain_moves_only_what_is_needed():
    # X's household x can only reach A (full); a1 can also use B, which has room: the chain is x → A, a1 → B
    households = pd.DataFrame(
        {
            "id": ["A", "B", "X", "a1", "a2", "b1", "x"],
            "grid_id": "G",
            "is_center": [True, True, True, False, False, False, False],
            "capacity": [2, 2, 1, None, None, None, None],
        }
    )
    pairs = pd.DataFrame(
        {
            "household_id": ["a1", "a1", "a2", "a2", "b1", "x", "x"],
            "center_id": ["A", "B", "A", "B", "B", "A", "X"],
            "walk_m": [10.0, 60.0, 10.0, 200.0, 10.0, 30.0, 5.0],
        }
    )
    first = assign_centers(households, pairs=pairs)
    assert first.households.set_index("household_id").loc["x", "center_id"] == "X"
    changed = households.assign(is_center=households["is_center"] & (households["id"] != "X"))
    second = assign_centers(changed, pairs=pairs, previous=first.result())
    moves = second.moves.set_index("household_id")
    assert set(moves.index) == {"x", "a1", "X"}
    assert moves.loc["a1", "center_id"] == "B"
    assert moves.loc["a1", "reason"] == "moved to make room for a household whose center changed"
    assert moves.loc["x", "center_id"] == "A"
    assert second.households.set_index("household_id").loc["a2", "status"] == "kept"


def test_capacity_cut_and_shorter_walk_bonus():
    households = pd.DataFrame(
        {
            "id": ["A", "N", "h1", "h2"],
            "grid_id": "G",
            "is_center": [True, False, False, False],
            "capacity": [2, None, None, None],
        }
    )
    pairs = pd.DataFrame(
        {"household_id": ["h1", "h2", "h1", "h2"], "center_id": ["A", "A", "N", "N"], "walk_m": [100.0, 400, 90, 20]}
    )
    first = assign_centers(households, pairs=pairs)
    assert first.households.set_index("household_id").loc[["h1", "h2"], "center_id"].tolist() == ["A", "A"]
    # N becomes a center: strict keeps both with A; a 200 m bonus lets h2 move (saves 380 m), not h1 (10 m)
    changed = households.assign(is_center=households["id"].isin(["A", "N"]))
    strict = assign_centers(changed, pairs=pairs, previous=first.result())
    assert strict.moves.empty  # N had no center (no pairs) and is now one: not a move
    loose = assign_centers(changed, pairs=pairs, previous=first.result(), keep_bonus_m=200)
    moves = loose.moves.set_index("household_id")
    assert set(moves.index) == {"h2"}
    assert moves.loc["h2", "reason"] == "shorter walk: 400 m → 20 m"
    # A's capacity cut to 1: one of its households has to go, the cheaper move
    cut = changed.assign(capacity=[1, 10, None, None])
    moved = assign_centers(cut, pairs=pairs, previous=first.result()).moves.set_index("household_id")
    assert moved.loc["h2", "reason"] == "previous center A now has room for 1, had 2"


# --- suggestions ------------------------------------------------------------------------------------------------


def test_suggestions_cover_the_uncovered():
    graph, xy, access, households = town(seed=11, n_households=300, p_center=0.05)
    pairs = walk_pairs(graph, households, access, node_xy=xy)
    result = assign_centers(households, pairs=pairs)
    uncovered = result.uncovered
    assert len(uncovered) > 20 and uncovered["reason"].str.contains("lacks").all()
    hh = prepare_households(households)
    candidates = hh["is_party_member"] & ~hh["is_center"]
    todo = hh["id"].isin(uncovered["household_id"])
    reach = walk_pairs(graph, households, access, node_xy=xy, centers=candidates, clients=todo, k=None)
    suggestions = suggest_centers(households, uncovered=result, pairs=reach)
    assert suggestions.unresolved.empty
    picks = suggestions.centers
    covered = [h for ids in picks["covered_ids"] for h in ids]
    assert sorted(covered) == sorted(uncovered["household_id"])  # each once
    assert (picks["covers"] <= 11).all()  # capacity 10 plus itself
    assert (picks.groupby("grid_id")["covers"].apply(lambda s: s.is_monotonic_decreasing)).all()  # most first
    # fewest: no grid needs more than ceil(uncovered / 10) + 1 new centers here
    need = uncovered.groupby("grid_id").size()
    assert (picks.groupby("grid_id").size() <= np.ceil(need / 10) + 1).all()
    # designating them covers everybody
    promoted = households.assign(is_center=households["is_center"] | households["id"].isin(picks["household_id"]))
    pairs2 = walk_pairs(graph, promoted, access, node_xy=xy)
    after = assign_centers(promoted, pairs=pairs2)
    assert after.uncovered.empty


# --- real data --------------------------------------------------------------------------------------------------


def test_zhuhai_households_on_the_osm_network():
    if not SHARED_OSM.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_OSM} is absent")
        pytest.skip(f"{SHARED_OSM} is absent: the real-data tests need the shared OSM extracts")
    from gis.crs import metric_crs
    from gis.osm import read_osm

    osm = read_osm(SHARED_OSM / "zhuhai-xiangzhou.osm")
    crs = metric_crs(osm.edges)
    node_ids = pd.Index(osm.nodes["source_id"])
    node_xy = np.c_[osm.nodes.to_crs(crs).geometry.x, osm.nodes.to_crs(crs).geometry.y]
    u = node_ids.get_indexer(osm.edges["u_ref"])
    v = node_ids.get_indexer(osm.edges["v_ref"])
    w = np.maximum(osm.edges["length_m"].to_numpy(), 1e-6)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    edges = pd.DataFrame({"lo": lo, "hi": hi, "w": w}).groupby(["lo", "hi"], as_index=False)["w"].min()
    edges = edges[edges["lo"] != edges["hi"]]
    n = len(node_ids)
    graph = csr_array((np.r_[edges.w, edges.w], (np.r_[edges.lo, edges.hi], np.r_[edges.hi, edges.lo])), shape=(n, n))
    rng = np.random.default_rng(2024)
    buildings = osm.buildings.to_crs(crs)
    points = buildings.geometry.representative_point()
    per_building = rng.integers(5, 40, len(buildings))
    bxy = np.repeat(np.c_[points.x, points.y], per_building, axis=0)
    building = np.repeat(buildings["source_id"].to_numpy(), per_building)
    # each household reaches the nearest node in a straight line (gis.snap will snap onto segments)
    from scipy.spatial import cKDTree

    dist, node = cKDTree(node_xy).query(bxy)
    access = Access.at_nodes(node, offset_m=dist)
    grid = np.floor((bxy[:, 0] - bxy[:, 0].min()) / 600) * 100 + np.floor((bxy[:, 1] - bxy[:, 1].min()) / 600)
    households = pd.DataFrame(
        {
            "id": np.arange(len(bxy)),
            "grid_id": grid.astype(int),
            "building": building,
            "is_center": rng.random(len(bxy)) < 0.1,
        }
    )
    assert len(households) > 3000
    listed = walk_pairs(graph, households, access, node_xy=node_xy, k=25)
    result = assign_centers(
        households,
        pairs=listed,
        k=15,
        all_pairs=lambda grids: walk_pairs(graph, households, access, node_xy=node_xy, k=None, grids=grids),
    )
    check_invariants(households, result)
    everything = walk_pairs(graph, households, access, node_xy=node_xy, k=None)
    full = assign_centers(households, pairs=everything, k=None)
    assert result.total_walk_m == pytest.approx(full.total_walk_m, abs=1.0)
    assert result.grids["assigned"].sum() == full.grids["assigned"].sum()
    # the same building is 0 m
    same = result.households.merge(households[["id", "building"]], left_on="center_id", right_on="id")
    mine = same.merge(households[["id", "building"]], left_on="household_id", right_on="id", suffixes=("_c", "_h"))
    assert (mine.loc[mine["building_c"] == mine["building_h"], "walk_m"] == 0).all()
