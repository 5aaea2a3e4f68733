"""Households that share a door: merged flow nodes (gis.centers._merge), shared searches (walk_pairs twins), doors and
distinct snapping (gis.network.snap). Each is checked against the same computation without the sharing."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gis.centers._merge as center_merge
from gis.centers import Access, assign_centers, prepare_households, walk_pairs
from gis.centers._flow import have_ortools, solve_flow
from gis.centers._merge import merge_identical
from gis.network import build_walk_graph, household_doors, snap_distinct, snap_points
from tests.center_cases import check_invariants, lattice, reference_total

needs_ortools = pytest.mark.skipif(not have_ortools(), reason="no ortools (the merged flow is its back end)")


def building_town(seed: int, n_buildings: int = 70, n: int = 14, capacity: int = 10):
    """Buildings on random lattice edges with 1–8 households each, all leaving by the building's door (same access);
    a west and an east grid; ~10 % of the households are centers."""
    rng = np.random.default_rng(seed)
    graph, xy, u, v = lattice(n)
    edge = rng.integers(0, len(u), n_buildings)
    along = rng.uniform(0, 50, n_buildings)
    snap = rng.uniform(0, 15, n_buildings)
    per = rng.integers(1, 9, n_buildings)
    b = np.repeat(np.arange(n_buildings), per)
    access = Access.on_edges(
        edge_u=u[edge][b], edge_v=v[edge][b], to_u=along[b], to_v=50 - along[b], snap_m=snap[b], edge=edge[b]
    )
    x = (xy[u[edge], 0] + xy[v[edge], 0]) / 2
    households = pd.DataFrame(
        {
            "id": [f"h{i:03d}" for i in range(len(b))],
            "grid_id": np.where(x[b] < n * 25, "W", "E"),
            "is_center": rng.random(len(b)) < 0.1,
            "capacity": capacity,
            "building": [f"b{j}" for j in b],
        }
    )
    return graph, xy, access, households


def flow_arrays(households: pd.DataFrame, pairs: pd.DataFrame):
    hh = prepare_households(households)
    pos = pd.Index(hh["id"])
    client, center = np.flatnonzero(~hh["is_center"]), np.flatnonzero(hh["is_center"])
    h = np.searchsorted(client, pos.get_indexer(pairs["household_id"].astype(str)))
    c = np.searchsorted(center, pos.get_indexer(pairs["center_id"].astype(str)))
    cost = np.rint(pairs["walk_m"].to_numpy() * 1000).astype(np.int64)
    order = np.lexsort((cost, h))
    grid = pd.factorize(hh["grid_id"])[0]
    return dict(
        arc_h=h[order],
        arc_c=c[order],
        cost=cost[order],
        capacity=hh["capacity"].to_numpy()[center],
        n_households=len(client),
        groups=(grid[client], grid[center]),
    )


def flow_total(args: dict, assigned: np.ndarray) -> tuple[int, int]:
    h, c, cost = args["arc_h"], args["arc_c"], args["cost"]
    best = pd.Series(cost).groupby([h, c]).min()  # parallel arcs: the cheapest
    chosen = assigned >= 0
    load = np.bincount(assigned[chosen], minlength=len(args["capacity"]))
    assert (load <= args["capacity"]).all()
    total = int(best.loc[list(zip(np.flatnonzero(chosen), assigned[chosen], strict=True))].sum())
    return total, int(chosen.sum())


def test_merge_groups_identical_rows_only():
    # households 0, 2, 3 identical; 1 differs by a cost; 4 has one arc fewer; 5 has no arcs
    arc_h = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4])
    arc_c = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0])
    cost = np.array([5, 9, 5, 8, 5, 9, 5, 9, 5])
    merged = merge_identical(arc_h, arc_c, cost, 6)
    node = merged.node_of
    assert node[0] == node[2] == node[3] and len({node[0], node[1], node[4]}) == 3 and node[5] == -1
    assert merged.supply[node[0]] == 3 and merged.supply.sum() == 5
    # the merged arcs are those of each node's first household, node by node
    assert arc_h[merged.arcs].tolist() == [0, 0, 1, 1, 4]
    # flow 2 to center 0 and 1 to center 1 on node 0: its three households get 0, 0, 1 in their order
    flow = np.array([2, 1, 0, 1, 1])
    assert merged.expand(arc_c[merged.arcs], flow).tolist() == [0, 1, 0, 1, 0, -1]


def test_merge_without_arcs():
    merged = merge_identical(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), 3)
    assert merged.node_of.tolist() == [-1, -1, -1] and merged.n_nodes == 0
    assert merged.expand(np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == [-1, -1, -1]


def test_hash_collisions_are_caught(monkeypatch):
    """With hashes that map everything to one word, every row collides: the arc-by-arc check must split them again
    (other arcs, other order, other length)."""
    monkeypatch.setattr(center_merge, "_mix", lambda x: np.zeros_like(x, dtype=np.uint64))
    monkeypatch.setattr(center_merge, "_arc_words", lambda c, cost: np.zeros(len(c), dtype=np.uint64))
    arc_h = np.array([0, 0, 1, 1, 2, 2, 3, 4, 4])
    arc_c = np.array([0, 1, 1, 0, 0, 1, 0, 0, 2])
    cost = np.array([5, 9, 9, 5, 5, 9, 5, 5, 9])
    merged = merge_identical(arc_h, arc_c, cost, 5)
    node = merged.node_of
    assert node[0] == node[2] and len({node[0], node[1], node[3], node[4]}) == 4
    assert sorted(merged.supply.tolist()) == [1, 1, 1, 2]
    assert arc_h[merged.arcs].tolist() == [0, 0, 1, 1, 3, 4, 4]  # node by node: 0, then 1, 3, 4 split off in order
    assert (np.diff(merged.arc_node) >= 0).all()


@needs_ortools
@pytest.mark.parametrize("seed", range(4))
def test_merged_flow_equals_the_unmerged_optimum(seed):
    """OR-Tools on merged nodes against LAPJV on every household (scipy back end, nothing merged)."""
    graph, xy, access, households = building_town(seed)
    pairs = walk_pairs(graph, households.drop(columns="building"), access, node_xy=xy, k=None)
    args = flow_arrays(households, pairs)
    merged = merge_identical(args["arc_h"], args["arc_c"], args["cost"], args["n_households"])
    assert merged.n_nodes < 0.6 * args["n_households"]  # the test must really merge
    got = flow_total(args, solve_flow(**args, solver="ortools"))
    want = flow_total(args, solve_flow(**args, solver="scipy"))
    assert got == want


@needs_ortools
@pytest.mark.parametrize("seed", range(3))
def test_assignment_with_doors_is_optimal_and_stable(seed):
    graph, xy, access, households = building_town(seed + 10, capacity=6)
    pairs = walk_pairs(graph, households, access, node_xy=xy, k=None)
    result = assign_centers(households, pairs=pairs, k=None, solver="ortools")
    check_invariants(households, result)
    ref_total, ref_covered = reference_total(households, pairs)
    assert (result.households["status"] == "assigned").sum() == ref_covered
    assert result.total_walk_m == pytest.approx(ref_total, abs=0.0005 * len(households) + 1e-6)
    # the same input again moves nobody, though twins now differ by their previous centers
    previous = result.households[["household_id", "center_id"]]
    again = assign_centers(households, pairs=pairs, k=None, previous=previous, solver="ortools")
    assert len(again.moves) == 0 and (again.households["status"] != "moved").all()
    assert again.total_walk_m == pytest.approx(result.total_walk_m)


@pytest.mark.parametrize("k", [None, 3])
def test_twins_share_searches_but_keep_their_own_included_centers(k):
    """walk_pairs with twins (same door, building, grid) equals each household searched alone; a center included
    for one twin (its previous center) is listed for that twin only, also when two twins include different ones, and
    a household with two included centers keeps both."""
    graph, xy, access, households = building_town(3)
    hh = prepare_households(households)
    clients = hh[~hh["is_center"]]
    big = clients.groupby(["building", "grid_id"])["id"].transform("size")
    a, b = clients[big >= 3].groupby("building").head(2).iloc[:2]["id"]  # two twins of one building
    lone = clients[big == 1]["id"].iloc[0]
    grid_of = hh.set_index("id")["grid_id"]
    centers_of = {g: hh[(hh["grid_id"] == g) & hh["is_center"]]["id"].tolist() for g in hh["grid_id"].unique()}
    include = pd.DataFrame(
        {
            "household_id": [a, b, lone, lone],
            "center_id": [
                centers_of[grid_of[a]][-1],
                centers_of[grid_of[b]][-2],
                centers_of[grid_of[lone]][-1],
                centers_of[grid_of[lone]][-2],
            ],
        }
    )
    got = walk_pairs(graph, households, access, node_xy=xy, k=k, include=include)
    got = got.astype({"household_id": str, "center_id": str})
    if k is not None:  # the included centers lie beyond the k nearest: listed for their own twin only
        listed = got.groupby("household_id")["center_id"].apply(set)
        assert include["center_id"][0] in listed[a] and include["center_id"][0] not in listed[b]
        assert include["center_id"][1] in listed[b] and include["center_id"][1] not in listed[a]
    for i in range(len(households)):
        if hh.loc[i, "is_center"]:
            continue
        keep = hh["is_center"].to_numpy() | (np.arange(len(hh)) == i)
        rows = np.flatnonzero(keep)
        one_access = Access(
            access.node[rows], access.offset_m[rows], access.edge[rows], access.along_m[rows], access.snap_m[rows]
        )
        mine = include[include["household_id"] == hh.loc[i, "id"]]
        want = walk_pairs(graph, households[keep].reset_index(drop=True), one_access, node_xy=xy, k=k, include=mine)
        want = want.astype({"household_id": str, "center_id": str})
        have = got[got["household_id"] == hh.loc[i, "id"]].reset_index(drop=True)
        pd.testing.assert_frame_equal(have, want.reset_index(drop=True), check_exact=True)


def test_doors_and_distinct_snapping():
    """Households of a building walk from its access point; others from their own point; snapping each distinct
    point once equals snapping every row."""
    nodes = gpd.GeoDataFrame(
        {"source_id": ["n1", "n2", "n3"]},
        geometry=shapely.points([[113.50, 22.20], [113.51, 22.20], [113.51, 22.21]]),
        crs="EPSG:4326",
    )
    edges = gpd.GeoDataFrame(
        {"u_ref": ["n1", "n2"], "v_ref": ["n2", "n3"]},
        geometry=[
            shapely.LineString([(113.50, 22.20), (113.51, 22.20)]),
            shapely.LineString([(113.51, 22.20), (113.51, 22.21)]),
        ],
        crs="EPSG:4326",
    )
    graph = build_walk_graph(nodes, edges)
    square = shapely.box(113.502, 22.2005, 113.503, 22.2015)
    buildings = gpd.GeoDataFrame({"source_id": ["b1", "b2"]}, geometry=[square, None], crs="EPSG:4326")
    points = shapely.points([[113.5021, 22.2006], [113.5029, 22.2014], [113.5080, 22.2050], [113.5080, 22.2050]])
    households = gpd.GeoDataFrame({"building": ["b1", "b1", "b2", None]}, geometry=points, crs="EPSG:4326")
    doors = household_doors(households, households["building"], buildings)
    door = shapely.point_on_surface(square)
    assert doors.iloc[0].equals(door) and doors.iloc[1].equals(door)  # both from the building's access point
    assert doors.iloc[2].equals(points[2]) and doors.iloc[3].equals(points[3])  # no footprint / no building
    got = snap_distinct(graph, doors)
    want = snap_points(graph, doors)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert got.iloc[0].equals(got.iloc[1]) and got.iloc[2].equals(got.iloc[3])
    # a point without coordinates must not take another point's snap
    odd = gpd.GeoSeries([shapely.Point(np.nan, np.nan), *points[2:]], crs="EPSG:4326")
    pd.testing.assert_frame_equal(snap_distinct(graph, odd), snap_points(graph, odd), check_exact=True)
    # building ids given as numbers match the doors' text ids
    numbered = gpd.GeoDataFrame({"source_id": ["5"]}, geometry=[square], crs="EPSG:4326")
    assert (
        household_doors(households, [5.0, 5, None, np.nan], numbered)
        .iloc[:2]
        .equals(gpd.GeoSeries([door, door], crs="EPSG:4326"))
    )
