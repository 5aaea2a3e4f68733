"""gis.centers.assign / gis.centers._flow: 党员中心户 assignment on small hand-made networks (no database)."""

import os

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_array

from gis.centers import (
    Access,
    assign_centers,
    assign_on_network,
    households_from_layers,
    prepare_households,
    suggest_centers,
    walk_pairs,
)
from gis.centers._flow import certify, have_ortools, solve_flow
from tests.center_cases import SHARED_OSM, SOLVERS, check_invariants, reference_total, town


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


def test_uncovered_reasons_with_integer_ids_and_no_center_anywhere():
    """Integer ids stay integers in the reasons and the previous column (some households have no previous center);
    a household that reaches no center is not counted among those the full centers leave out; and households with
    no center in any grid are all uncovered (no error)."""
    households = pd.DataFrame(
        {"id": [1, 2, 3, 4, 5], "grid_id": "G", "is_center": [True, False, False, False, False], "capacity": 1}
    )
    pairs = pd.DataFrame({"household_id": [2, 3], "center_id": [1, 1], "walk_m": [10.0, 20.0]})
    previous = pd.DataFrame({"household_id": [2, 3], "center_id": [1, 9]})  # 9 is gone
    result = assign_centers(households, pairs=pairs, previous=previous)
    table = result.households.set_index("household_id")
    assert table.loc[3, "reason"].startswith("previous center 9 ") and table.loc[3, "previous_center_id"] == 9
    assert table.loc[3, "reason"].endswith("grid G lacks 3 places (4 households, capacity 1)")  # 4, 5: no reach
    assert table.loc[4, "reason"] == "no center of grid G within reach on the walk network"
    alone = assign_centers(households.assign(is_center=False), pairs=pairs.iloc[:0])
    assert (alone.households["status"] == "uncovered").all()


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
    from gis.io import read_osm

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
    # each household reaches the nearest node in a straight line (gis.network.snap will snap onto segments)
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
