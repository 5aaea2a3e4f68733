"""gis.coverage.siting: reach matrix, greedy and exact maximal coverage, on the real Zhuhai network (no database)."""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse import csr_array

from gis.coverage import add_service, coverage, exact_sites, greedy_sites, population, reach_matrix, suggest_sites
from gis.network import access_points, build_walk_graph, snap_points
from tests.gis.test_coverage import service_layer
from tests.gis.test_network import line_frames, zhuhai, zhuhai_graph

LEVEL, PROFILE = 10, "elderly"  # 480 m: leaves enough uncovered buildings to choose among


def _setting():  # noqa: ANN202
    extract, graph = zhuhai(), zhuhai_graph()
    rng = np.random.default_rng(3)
    households = pd.DataFrame(
        {"building_ref": rng.choice(extract.buildings["source_id"], 4000), "size": rng.integers(1, 5, 4000)}
    )
    buildings = population(extract.buildings, households)
    services = service_layer()
    services = services[services["type"] == "clinic"].iloc[:3]  # three clinics: big gaps
    cov = coverage(graph, buildings, services)
    candidates = access_points(buildings).iloc[::4].reset_index(drop=True)
    candidates["source_id"] = [f"cand/{i}" for i in range(len(candidates))]
    return graph, buildings, cov, candidates


def _covered_residents(cov, buildings) -> float:  # noqa: ANN001
    walk, _ = cov.walk("clinic")
    return float(buildings["residents"].to_numpy()[walk <= LEVEL * 60 * cov.profiles[PROFILE]].sum())


def test_reach_matrix_agrees_with_coverage_of_each_candidate() -> None:
    graph, buildings, cov, candidates = _setting()
    budget = LEVEL * 60 * cov.profiles[PROFILE]
    targets = cov.access.assign(unit=cov.access["building"])
    sample = candidates.iloc[::5].reset_index(drop=True)
    matrix = reach_matrix(
        graph,
        snap_points(graph, sample, max_snap_m=cov.max_snap_m),
        targets,
        max_m=budget,
        n_units=len(buildings),
        tile_m=250.0,
    )
    for i in range(len(sample)):
        alone = coverage(graph, buildings, sample.iloc[[i]].assign(type="clinic"), access=cov.access)
        walk, _ = alone.walk("clinic")
        expected = set(np.flatnonzero(walk <= budget))
        got = set(matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]].tolist())
        assert got == expected, f"candidate {i}"


def test_reach_matrix_on_a_grid_with_door_stubs_and_small_tiles() -> None:
    # a 10 x 10 grid (80 m) with a 5 m stub to a door at every node, one dead end reached by two parallel paths,
    # and tiles much smaller than the budget: the local searches must agree with whole-graph coverage
    coords = {f"n{i}_{j}": (i * 80.0, j * 80.0) for i in range(10) for j in range(10)}
    edges = [(f"n{i}_{j}", f"n{i + 1}_{j}", None, None) for i in range(9) for j in range(10)]
    edges += [(f"n{i}_{j}", f"n{i}_{j + 1}", None, None) for i in range(10) for j in range(9)]
    for i in range(10):
        for j in range(10):
            coords[f"d{i}_{j}"] = (i * 80.0 + 3, j * 80.0 + 4)
            edges.append((f"n{i}_{j}", f"d{i}_{j}", None, None))
    coords["pond"] = (360.0, -60.0)
    edges += [("n4_0", "pond", None, [(330.0, -30.0)]), ("pond", "n4_0", None, [(390.0, -30.0)])]
    nodes, lines = line_frames(coords, edges)
    graph = build_walk_graph(nodes, lines)
    rng = np.random.default_rng(5)
    doors = np.array([coords[f"d{i}_{j}"] for i in range(10) for j in range(10)])
    centres = np.r_[rng.uniform(-40, 760, (100, 2)), doors[rng.choice(100, 50)] + [2.0, 3.0]]  # 50 by a door
    squares = [shapely.box(500_000 + x - 3, 4_400_000 + y - 3, 500_000 + x + 3, 4_400_000 + y + 3) for x, y in centres]
    buildings = gpd.GeoDataFrame({"source_id": [f"b{i}" for i in range(150)]}, geometry=squares, crs="EPSG:4548")
    sites = gpd.GeoDataFrame(
        {"source_id": [f"c{i}" for i in range(40)], "type": "clinic"},
        geometry=shapely.points(np.r_[rng.uniform(-40, 760, (30, 2)), doors[:10] + [2.0, 3.0]] + [500_000, 4_400_000]),
        crs="EPSG:4548",
    ).to_crs(4326)
    sites.loc[0, "geometry"] = shapely.Point(graph.from_metric([shapely.Point(500_000 + 360, 4_399_940)]).iloc[0])
    base = coverage(graph, buildings.to_crs(4326), sites.iloc[:0])
    targets = base.access.assign(unit=base.access["building"])
    matrix = reach_matrix(graph, snap_points(graph, sites), targets, max_m=300.0, n_units=150, tile_m=60.0)
    for i in range(len(sites)):
        alone = coverage(graph, buildings.to_crs(4326), sites.iloc[[i]], access=base.access)
        walk, _ = alone.walk("clinic")
        got = set(matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]].tolist())
        assert got == set(np.flatnonzero(walk <= 300.0)), f"site {i}"


def test_greedy_gain_equals_recomputed_coverage() -> None:
    graph, buildings, cov, candidates = _setting()
    sites = suggest_sites(
        cov, candidates, service_type="clinic", buildings=buildings, profile=PROFILE, level=LEVEL, k=5
    )
    assert len(sites) == 5 and (np.diff(sites["gain"]) <= 1e-9).all()
    before = _covered_residents(cov, buildings)
    for _, site in sites.iterrows():
        cov = add_service(cov, service_id=site["candidate_id"], service_type="clinic", point=site.geometry)
        after = _covered_residents(cov, buildings)
        assert after - before == pytest.approx(site["gain"])
        before = after


def test_milp_at_least_greedy_and_equal_to_brute_force_on_a_tiny_case() -> None:
    graph, buildings, cov, candidates = _setting()
    greedy = suggest_sites(
        cov, candidates, service_type="clinic", buildings=buildings, profile=PROFILE, level=LEVEL, k=4
    )
    exact = suggest_sites(
        cov, candidates, service_type="clinic", buildings=buildings, profile=PROFILE, level=LEVEL, k=4, method="exact"
    )
    assert exact.attrs["status"] == 0
    assert exact.attrs["objective"] >= greedy["gain"].sum() - 1e-6
    assert exact["gain"].sum() == pytest.approx(exact.attrs["objective"])
    # tiny case: 12 candidates, choose 3; every combination tried
    budget = LEVEL * 60 * cov.profiles[PROFILE]
    walk, _ = cov.walk("clinic")
    demand = np.where(walk <= budget, 0.0, buildings["residents"].to_numpy(float))
    few = candidates.iloc[:12]
    matrix = reach_matrix(
        graph,
        snap_points(graph, few),
        cov.access.assign(unit=cov.access["building"]),
        max_m=budget,
        n_units=len(buildings),
    )
    dense = matrix.toarray()
    best = max(demand[dense[list(c)].any(axis=0)].sum() for c in itertools.combinations(range(12), 3))
    solved = exact_sites(matrix, demand, k=3)
    assert solved.attrs["objective"] == pytest.approx(best)
    assert greedy_sites(matrix, demand, k=3)["gain"].sum() <= best + 1e-9


def test_exact_beats_greedy_where_greedy_is_myopic() -> None:
    # the textbook trap: one big candidate overlapping two disjoint ones that together cover more
    matrix = csr_array(np.array([[0, 1, 1, 0, 1, 1], [1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=bool))
    weights = np.ones(6)
    greedy = greedy_sites(matrix, weights, k=2)
    exact = exact_sites(matrix, weights, k=2)
    assert greedy["candidate"].tolist()[0] == 0 and greedy["gain"].sum() == pytest.approx(5.0)
    assert exact.attrs["objective"] == pytest.approx(6.0)
    assert sorted(exact["candidate"].tolist()) == [1, 2]
    assert exact["gain"].sum() == pytest.approx(6.0)


def test_nothing_to_cover() -> None:
    matrix = csr_array((3, 4), dtype=bool)
    assert greedy_sites(matrix, np.ones(4), k=2).empty
    assert exact_sites(matrix, np.ones(4), k=2).empty
