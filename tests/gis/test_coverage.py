"""gis.coverage.core against an independent networkx reference on the real Zhuhai extract, and its edge cases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.coverage import (
    Coverage,
    add_service,
    completeness,
    coverage,
    coverage_table,
    gap_report,
    move_service,
    population,
    profile_table,
    remove_service,
    uncovered_buildings,
    updated_report,
)
from gis.network import build_walk_graph
from tests.gis.test_network import line_frames, lonlat_points, reference_walks, zhuhai, zhuhai_graph

# A service layer written down for the test (made up, inside the extract's bounds 113.517–113.5571 E,
# 22.2664–22.2881 N). OSM has few real service points there, and these are not claimed to be real.
SERVICES = {
    "clinic": [
        (113.5415, 22.28275),
        (113.5513, 22.27666),
        (113.54692, 22.27361),
        (113.52711, 22.27315),
        (113.52981, 22.27272),
        (113.55045, 22.27623),
        (113.51919, 22.27733),
        (113.54856, 22.27824),
    ],
    "kindergarten": [
        (113.55484, 22.26881),
        (113.54754, 22.26866),
        (113.5414, 22.27753),
        (113.5546, 22.27662),
        (113.52675, 22.28497),
        (113.52477, 22.27964),
        (113.54105, 22.27751),
    ],
    "party_center": [
        (113.53689, 22.27484),
        (113.52791, 22.26807),
        (113.51942, 22.28336),
        (113.52593, 22.27086),
        (113.54391, 22.27295),
        (113.52622, 22.28429),
    ],
}


def service_layer() -> gpd.GeoDataFrame:
    rows = [(f"{kind}/{i}", kind, lon, lat) for kind, pts in SERVICES.items() for i, (lon, lat) in enumerate(pts)]
    return gpd.GeoDataFrame(
        {"source_id": [r[0] for r in rows], "type": [r[1] for r in rows]},
        geometry=[shapely.Point(r[2], r[3]) for r in rows],
        crs="EPSG:4326",
    )


def test_zhuhai_coverage_matches_networkx_reference() -> None:
    extract, graph = zhuhai(), zhuhai_graph()
    services = service_layer()
    table = coverage_table(graph, extract.buildings, services)
    assert len(table) == len(extract.buildings) * 3
    # the access point is the module's definition (a point inside the footprint, taken in lon/lat): the same input
    targets = np.asarray(extract.buildings.representative_point().to_crs(graph.crs).values)
    total, agree, notes = 0, 0, []
    for kind in SERVICES:
        subset = services[services["type"] == kind]
        ref_walk, ref_id, ref_graph, names = reference_walks(
            extract.edges, extract.nodes, subset, targets, crs=graph.crs
        )
        ours = table[table["service_type"] == kind].set_index("building_id").loc[extract.buildings["source_id"]]
        walk, ids = ours["walk_m"].to_numpy(), ours["service_id"].to_numpy()
        for j in range(len(targets)):
            total += 1
            if np.isnan(ref_walk[j]) and np.isnan(walk[j]):
                agree += 1
                continue
            close = abs(walk[j] - ref_walk[j]) <= 1.0
            if close and ids[j] == ref_id[j]:
                agree += 1
                continue
            # a different nearest point at (almost) the same distance is a tie, not an error
            tie = (
                close
                and ids[j] is not None
                and names.get(j) is not None
                and abs(
                    nx.shortest_path_length(ref_graph, ("S", ids[j]), names[j], weight="weight")
                    + (ref_walk[j] - nx.shortest_path_length(ref_graph, ("S", ref_id[j]), names[j], weight="weight"))
                    - walk[j]
                )
                <= 1.0
            )
            agree += tie
            notes.append(
                f"{kind} {extract.buildings['source_id'].iat[j]}: ours {ids[j]} {walk[j]:.2f} m, "
                f"networkx {ref_id[j]} {ref_walk[j]:.2f} m{' (tie)' if tie else ''}"
            )
    print(f"\nagreement with networkx: {agree}/{total} building × type pairs ({agree / total:.2%})")
    print("\n".join(notes) or "no disagreements")
    assert agree / total >= 0.99


def test_covered_flags_and_profile_table_derive_from_walk_m() -> None:
    extract, graph = zhuhai(), zhuhai_graph()
    table = coverage_table(
        graph, extract.buildings, service_layer(), profiles={"standard": 1.2, "elderly": 0.8}, levels=(5, 10, 15)
    )
    assert np.allclose(table["walk_min_elderly"], table["walk_m"] / 0.8 / 60, equal_nan=True)
    assert (table["covered_standard_15"] == (table["walk_m"] <= 1080)).all()
    assert (table["covered_elderly_5"] == (table["walk_m"] <= 240)).all()
    assert (table["covered_elderly_15"] <= table["covered_standard_15"]).all()
    cli = profile_table(table, "elderly")
    assert cli.columns.tolist() == [
        "building_id",
        "service_type",
        "service_id",
        "walk_m",
        "walk_min",
        "covered_5",
        "covered_10",
        "covered_15",
    ]
    assert 0 < cli["covered_15"].mean() < 1


def test_far_service_point_duplicates_and_a_type_without_points() -> None:
    extract, graph = zhuhai(), zhuhai_graph()
    services = service_layer()
    base = coverage(graph, extract.buildings, services).table()
    far = lonlat_points([(113.62, 22.33)], source_id=["clinic/far"], type=["clinic"])  # ~8 km off, in the sea
    twin = services[services["source_id"] == "clinic/3"].assign(source_id="clinic/3-twin")
    more = pd.concat([services, far, twin], ignore_index=True)
    cov = coverage(graph, extract.buildings, more, service_types=["clinic", "kindergarten", "party_center", "police"])
    assert cov.fields["clinic"].snapped["edge"].iloc[-2] == -1  # the far point stays off the network...
    table = cov.table()
    clinic = table[table["service_type"] == "clinic"].reset_index(drop=True)
    old = base[base["service_type"] == "clinic"].reset_index(drop=True)
    assert np.allclose(clinic["walk_m"], old["walk_m"], equal_nan=True)  # ...and changes nothing; nor does the twin
    assert set(clinic["service_id"].dropna()) <= set(old["service_id"].dropna()) | {"clinic/3-twin"}
    police = table[table["service_type"] == "police"]
    assert len(police) == len(extract.buildings)
    assert police["walk_m"].isna().all() and police["service_id"].isna().all()
    assert not police["covered_standard_15"].any()
    # without a snap limit the far point joins with its straight 8 km: still nobody's nearest
    unlimited = coverage(graph, extract.buildings, more, max_snap_m=None).table()
    assert "clinic/far" not in set(unlimited["service_id"])


def test_buildings_off_the_network_and_on_detached_pieces() -> None:
    coords = {"a": (0, 0), "b": (500, 0), "c": (1000, 0), "x": (0, 300), "y": (60, 300)}
    nodes, edges = line_frames(coords, [("a", "b", None, None), ("b", "c", None, None), ("x", "y", None, None)])
    graph = build_walk_graph(nodes, edges)
    local = {"way/near": (400, 20), "way/detached": (30, 290), "way/outside": (9000, 9000)}
    squares = [
        shapely.box(500_000 + x - 5, 4_400_000 + y - 5, 500_000 + x + 5, 4_400_000 + y + 5) for x, y in local.values()
    ]
    buildings = gpd.GeoDataFrame({"source_id": list(local)}, geometry=squares, crs="EPSG:4548").to_crs(4326)
    services = gpd.GeoDataFrame(
        {"source_id": ["s1"], "type": ["clinic"]},
        crs="EPSG:4548",
        geometry=[shapely.Point(500_000 + 100, 4_400_000 - 10)],
    ).to_crs(4326)
    cov = coverage(graph, buildings, services)
    report = cov.building_report().set_index("building_id")
    assert report.loc["way/detached", "snapped"] and not report.loc["way/detached", "in_largest"]
    assert report.loc["way/detached", "component_size"] == 2
    assert not report.loc["way/outside", "snapped"]
    walk = cov.table().set_index("building_id")["walk_m"]
    assert walk["way/near"] == pytest.approx(20 + 300 + 10, abs=0.05)  # snap + along the road + service snap
    assert np.isnan(walk["way/detached"]) and np.isnan(walk["way/outside"])  # reported, not silently dropped
    main = coverage(graph, buildings, services, largest_only=True)
    detached = main.access.set_index("building_id").loc["way/detached"]
    assert detached["nearest_detached"] and detached["extra_snap_m"] == pytest.approx(290 - 10, abs=0.05)
    assert main.table().set_index("building_id").loc["way/detached", "walk_m"] == pytest.approx(290 + 70 + 10, abs=0.05)


def test_same_edge_zero_length_and_parallel_edges() -> None:
    coords = {"a": (0, 0), "b": (1000, 0), "b2": (1000, 0), "c": (1100, 0)}
    nodes, edges = line_frames(
        coords,
        [("a", "b", None, None), ("a", "b", 1600.0, [(500, 400)]), ("b", "b2", 0.0, None), ("b2", "c", None, None)],
    )
    graph = build_walk_graph(nodes, edges)
    squares = {"way/1": (300, 10), "way/2": (1050, 10)}
    buildings = gpd.GeoDataFrame(
        {"source_id": list(squares)},
        crs="EPSG:4548",
        geometry=[
            shapely.box(500_000 + x - 2, 4_400_000 + y - 2, 500_000 + x + 2, 4_400_000 + y + 2)
            for x, y in squares.values()
        ],
    ).to_crs(4326)
    services = gpd.GeoDataFrame(
        {"source_id": ["p"], "type": ["clinic"]},
        crs="EPSG:4548",
        geometry=[shapely.Point(500_000 + 700, 4_400_000 - 5)],
    ).to_crs(4326)
    walk = coverage(graph, buildings, services).table().set_index("building_id")["walk_m"]
    assert walk["way/1"] == pytest.approx(10 + 400 + 5, abs=0.05)  # straight along the shared edge
    assert walk["way/2"] == pytest.approx(10 + 300 + 50 + 5, abs=0.05)  # through b, the zero-length edge, b2


def edited(layer: gpd.GeoDataFrame, drop: Sequence[str] = (), add: dict | None = None) -> gpd.GeoDataFrame:
    """`layer` without the `drop` ids and with `add` ({id: (type, lon/lat Point)}): a scenario's point set."""
    add = add or {}
    extra = gpd.GeoDataFrame(
        {"source_id": list(add), "type": [t for t, _ in add.values()]}, geometry=[p for _, p in add.values()]
    )
    return pd.concat([layer[~layer["source_id"].isin(drop)], extra.set_crs(4326)], ignore_index=True)


def expect_full_run(
    got: Coverage, base: Coverage, buildings: gpd.GeoDataFrame, layer: gpd.GeoDataFrame, kind: str
) -> None:
    """A scenario's coverage equals a full run on its point set up to float rounding (node distances, nearest
    points, walks), and its patched walk equals one computed afresh from its fields, bit for bit."""
    fa = got.fields[kind]
    fb = coverage(base.graph, buildings, layer, service_types=list(base.fields), access=base.access).fields[kind]
    assert sorted(fa.service_ids) == sorted(fb.service_ids)
    assert np.array_equal(np.isinf(fa.node_dist), np.isinf(fb.node_dist))
    finite = np.isfinite(fb.node_dist)
    np.testing.assert_allclose(fa.node_dist[finite], fb.node_dist[finite], rtol=0, atol=1e-9)
    name_a = np.r_[fa.service_ids, np.array([None], dtype=object)][fa.node_nearest]  # -1: None
    name_b = np.r_[fb.service_ids, np.array([None], dtype=object)][fb.node_nearest]
    assert (name_a == name_b).all()  # the test layers have no two points at exactly the same distance from a node
    expected = replace(base, fields={kind: fb}).table([kind])
    table = got.table([kind])
    np.testing.assert_allclose(table["walk_m"], expected["walk_m"], rtol=0, atol=1e-9)
    assert table["service_id"].equals(expected["service_id"])
    walk, near = got.walk(kind)
    fresh_walk, fresh_near = replace(got).walk(kind)  # a copy keeps no walks: computed from the fields
    assert np.array_equal(walk, fresh_walk, equal_nan=True) and np.array_equal(near, fresh_near)


def test_scenarios_update_one_type_exactly() -> None:
    extract, graph = zhuhai(), zhuhai_graph()
    services, buildings, new_point = service_layer(), extract.buildings, shapely.Point(113.535, 22.281)
    cov = coverage(graph, buildings, services)
    cov.table()  # keep every type's walk, as the API does: the scenarios below patch them
    added = add_service(cov, service_id="clinic/new", service_type="clinic", point=new_point)
    expect_full_run(added, cov, buildings, edited(services, add={"clinic/new": ("clinic", new_point)}), "clinic")
    assert added.fields["kindergarten"] is cov.fields["kindergarten"]  # other types shared, not recomputed
    expect_full_run(remove_service(added, service_id="clinic/new"), cov, buildings, services, "clinic")
    moved = move_service(cov, service_id="clinic/0", point=new_point)
    assert list(moved.fields["clinic"].service_ids) == list(cov.fields["clinic"].service_ids)  # keeps its place
    expect_full_run(
        moved, cov, buildings, edited(services, ["clinic/0"], {"clinic/0": ("clinic", new_point)}), "clinic"
    )
    for i in range(len(SERVICES["clinic"])):  # removing each point: only its cell is recomputed
        gone = remove_service(cov, service_id=f"clinic/{i}")
        expect_full_run(gone, cov, buildings, edited(services, [f"clinic/{i}"]), "clinic")
    # a chain: add, move another point a few metres along its road, remove a third (positions shift)
    chain = add_service(cov, service_id="kindergarten/new", service_type="kindergarten", point=new_point)
    near_2 = shapely.Point(113.54145, 22.27755)
    chain = remove_service(move_service(chain, service_id="kindergarten/2", point=near_2), service_id="kindergarten/1")
    changes = {"kindergarten/new": ("kindergarten", new_point), "kindergarten/2": ("kindergarten", near_2)}
    layer = edited(services, ["kindergarten/1", "kindergarten/2"], changes)
    expect_full_run(chain, cov, buildings, layer, "kindergarten")
    with pytest.raises(KeyError):
        remove_service(cov, service_id="nope")
    with pytest.raises(ValueError, match="already exists"):
        add_service(cov, service_id="clinic/1", service_type="clinic", point=new_point)


def test_scenario_edge_cases_match_a_full_run() -> None:
    extract, graph = zhuhai(), zhuhai_graph()
    buildings, spot = extract.buildings, shapely.Point(113.535, 22.281)
    twin = service_layer().query("source_id == 'clinic/3'").assign(source_id="clinic/3-twin")
    services = pd.concat([service_layer(), twin], ignore_index=True)
    cov = coverage(graph, buildings, services, service_types=[*SERVICES, "police"])
    cov.table()
    # one of two points at the same place: the other takes its whole cell over
    expect_full_run(
        remove_service(cov, service_id="clinic/3"), cov, buildings, edited(services, ["clinic/3"]), "clinic"
    )
    # moved far off the network: it stays in the layer but reaches nobody
    sea = shapely.Point(113.62, 22.33)
    off = move_service(cov, service_id="clinic/5", point=sea)
    assert off.fields["clinic"].snapped["edge"].iat[5] == -1
    expect_full_run(off, cov, buildings, edited(services, ["clinic/5"], {"clinic/5": ("clinic", sea)}), "clinic")
    # a type without points gets its first one, then loses it again
    police = add_service(cov, service_id="police/1", service_type="police", point=spot)
    expect_full_run(police, cov, buildings, edited(services, add={"police/1": ("police", spot)}), "police")
    empty = remove_service(police, service_id="police/1")
    assert np.isinf(empty.fields["police"].node_dist).all() and np.isnan(empty.walk("police")[0]).all()
    # the last point of a type goes: every building unreachable
    for i in range(len(SERVICES["party_center"])):
        cov = remove_service(cov, service_id=f"party_center/{i}")
    expect_full_run(cov, cov, buildings, services[services["type"] != "party_center"], "party_center")
    assert cov.table(["party_center"])["walk_m"].isna().all()


def test_scenarios_on_detached_pieces_and_with_entrances() -> None:
    coords = {"a": (0, 0), "b": (500, 0), "c": (1000, 0), "x": (0, 300), "y": (60, 300), "z": (200, 300)}
    pieces = [("a", "b", None, None), ("b", "c", None, None), ("x", "y", None, None), ("y", "z", None, None)]
    graph = build_walk_graph(*line_frames(coords, pieces))
    local = {"way/1": (400, 20), "way/2": (900, -20), "way/3": (30, 290), "way/4": (150, 310)}

    def lonlat(x: float, y: float) -> shapely.Point:
        return gpd.GeoSeries([shapely.Point(500_000 + x, 4_400_000 + y)], crs="EPSG:4548").to_crs(4326).iloc[0]

    squares = [
        shapely.box(500_000 + x - 5, 4_400_000 + y - 5, 500_000 + x + 5, 4_400_000 + y + 5) for x, y in local.values()
    ]
    buildings = gpd.GeoDataFrame({"source_id": list(local)}, geometry=squares, crs="EPSG:4548").to_crs(4326)
    entrances = gpd.GeoDataFrame(  # way/1 has two gates, one on each piece: the shorter walk counts
        {"building_ref": ["way/1", "way/1"]}, geometry=[lonlat(420, 10), lonlat(180, 290)], crs="EPSG:4326"
    )
    services = edited(
        service_layer().iloc[:0],
        add={
            "s/main": ("clinic", lonlat(100, -10)),
            "s/main2": ("clinic", lonlat(800, 10)),
            "s/detached": ("clinic", lonlat(20, 305)),
        },
    )
    cov = coverage(graph, buildings, services, entrances=entrances)
    assert cov.access["building"].duplicated().any()  # several access rows for one building
    cov.table()
    for gone in services["source_id"]:  # the detached piece loses its only point: its buildings become unreachable
        expect_full_run(remove_service(cov, service_id=gone), cov, buildings, edited(services, [gone]), "clinic")
    moved = move_service(cov, service_id="s/detached", point=lonlat(950, 5))
    layer = edited(services, ["s/detached"], {"s/detached": ("clinic", lonlat(950, 5))})
    expect_full_run(moved, cov, buildings, layer, "clinic")
    assert np.isnan(moved.walk("clinic")[0][2:]).all()  # way/3, way/4: only the detached piece
    back = add_service(moved, service_id="s/back", service_type="clinic", point=lonlat(100, 302))
    expect_full_run(back, cov, buildings, edited(layer, add={"s/back": ("clinic", lonlat(100, 302))}), "clinic")


def test_kept_walks_are_not_shared_with_callers() -> None:
    extract, graph = zhuhai(), zhuhai_graph()
    cov = coverage(graph, extract.buildings, service_layer())
    walk, near = cov.walk("clinic")
    walk[:], near[:] = -1, -7  # the caller's arrays, not the kept ones
    again, near_again = cov.walk("clinic")
    assert (again >= 0).any() and (near_again >= -1).all()
    cov.fields["clinic"] = cov.fields["kindergarten"]  # a field replaced in place is noticed
    assert np.array_equal(cov.walk("clinic")[0], cov.walk("kindergarten")[0], equal_nan=True)
    before = cov.walk("kindergarten")[0]
    cov.access = cov.access.assign(snap_m=cov.access["snap_m"] + 100.0)  # so is a new access frame
    np.testing.assert_allclose(cov.walk("kindergarten")[0], before + 100.0)


def test_updated_report_equals_a_fresh_gap_report() -> None:
    extract, graph = zhuhai(), zhuhai_graph()
    buildings = extract.buildings.copy()
    rng = np.random.default_rng(2)
    x = buildings.representative_point().x
    buildings["community_ref"] = np.where(x < 113.537, "community/west", "community/east")
    buildings["grid_ref"] = np.where(
        rng.random(len(buildings)) < 0.05, None, "grid/" + (x * 200).astype(int).astype(str)
    )
    households = pd.DataFrame(
        {"building_ref": rng.choice(buildings["source_id"], 4000), "size": rng.integers(1, 6, 4000)}
    )
    buildings = population(buildings, households)
    services = service_layer()
    cov = coverage(graph, buildings, services)
    point = shapely.Point(113.535, 22.281)
    scenarios = {  # name: (coverage after, type changed)
        "add": (add_service(cov, service_id="clinic/new", service_type="clinic", point=point), "clinic"),
        "move": (move_service(cov, service_id="clinic/2", point=point), "clinic"),
        "remove": (remove_service(cov, service_id="clinic/6"), "clinic"),
        "remove party center": (remove_service(cov, service_id="party_center/0"), "party_center"),
        "move in place": (
            move_service(cov, service_id="clinic/4", point=shapely.Point(SERVICES["clinic"][4])),
            "clinic",
        ),
    }
    shuffled = buildings.iloc[rng.permutation(len(buildings))[:-30]]  # another order, some buildings missing
    changed = 0
    for frame in (buildings, shuffled):
        for by in ("grid_ref", ["community_ref", "grid_ref"], None):
            report = gap_report(cov.table(), frame, by=by)
            for name, (after, kind) in scenarios.items():
                got = updated_report(report, cov, after, frame, service_types=[kind], by=by)
                expected = gap_report(after.table(), frame, by=by)
                pd.testing.assert_frame_equal(got, expected, check_exact=True, obj=f"{name} by {by}")
                changed += (got["buildings_covered"] != report["buildings_covered"]).any()
    assert changed >= 4 * 2 * 3  # every scenario but the move in place changed some group
    # a type the report lacks (scenario on a type added since) is reported in full and appended
    only = gap_report(cov.table(["kindergarten"]), buildings)
    added = updated_report(only, cov, scenarios["add"][0], buildings, service_types=["clinic"])
    pd.testing.assert_frame_equal(
        added.iloc[len(only) :].reset_index(drop=True), gap_report(scenarios["add"][0].table(["clinic"]), buildings)
    )


def test_gap_report_uncovered_list_and_completeness() -> None:
    extract, graph = zhuhai(), zhuhai_graph()
    buildings = extract.buildings.copy()
    rng = np.random.default_rng(1)
    buildings["community_ref"] = np.where(
        buildings.representative_point().x < 113.537, "community/west", "community/east"
    )
    households = pd.DataFrame(
        {"building_ref": rng.choice(buildings["source_id"], 3000), "size": rng.integers(1, 5, 3000)}
    )
    buildings = population(buildings, households)
    assert buildings["households"].sum() == 3000 and buildings["residents"].sum() == households["size"].sum()
    table = coverage_table(graph, buildings, service_layer())
    report = gap_report(table, buildings, by="community_ref")
    assert len(report) == 2 * 3 * 2 * 3  # communities × types × profiles × levels
    row = report[
        (report["community_ref"] == "community/west")
        & (report["service_type"] == "clinic")
        & (report["profile"] == "elderly")
        & (report["level"] == 10)
    ].iloc[0]
    mine = table[(table["service_type"] == "clinic")].merge(
        buildings[["source_id", "community_ref", "residents"]], left_on="building_id", right_on="source_id"
    )
    mine = mine[mine["community_ref"] == "community/west"]
    assert row["residents_covered"] == mine.loc[mine["covered_elderly_10"], "residents"].sum()
    assert row["buildings_uncovered"] == (~mine["covered_elderly_10"]).sum()
    assert row["share"] == pytest.approx(row["residents_covered"] / row["residents"])
    uncovered = uncovered_buildings(table, buildings, service_type="clinic", profile="elderly", level=10)
    assert len(uncovered) == (~table.loc[table["service_type"] == "clinic", "covered_elderly_10"]).sum()
    assert isinstance(uncovered, gpd.GeoDataFrame) and "walk_m" in uncovered
    check = completeness(table, buildings, by="community_ref", level=15, min_share=0.85)
    assert set(check["community_ref"]) == {"community/west", "community/east"}
    for _, group in check.iterrows():  # elderly_care has no points at all: always missing
        assert "elderly_care" in group["missing"] and not group["complete"]
        assert group["share_elderly_care"] == 0.0
        for kind in ("clinic", "kindergarten", "party_center"):
            assert (kind in group["missing"]) == (group[f"share_{kind}"] < 0.85)
