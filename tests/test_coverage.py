"""gis.coverage against an independent networkx reference on the real Zhuhai extract, and its edge cases."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.coverage import coverage, coverage_table, profile_table
from gis.coverage_report import completeness, gap_report, population, uncovered_buildings
from gis.coverage_scenario import add_service, move_service, remove_service
from gis.network import build_walk_graph
from tests.test_network import line_frames, lonlat_points, reference_walks, zhuhai, zhuhai_graph

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


def test_scenarios_update_one_type_exactly() -> None:
    extract, graph = zhuhai(), zhuhai_graph()
    services = service_layer()
    cov = coverage(graph, extract.buildings, services)
    new_point = shapely.Point(113.535, 22.281)
    added = add_service(cov, service_id="clinic/new", service_type="clinic", point=new_point)
    again = coverage(
        graph,
        extract.buildings,
        pd.concat([services, lonlat_points([new_point.coords[0]], source_id=["clinic/new"], type=["clinic"])]),
        access=cov.access,
    )
    for a, b in ((added, again),):
        ta, tb = a.table(["clinic"]), b.table(["clinic"])
        assert np.allclose(ta["walk_m"], tb["walk_m"], equal_nan=True)
    assert added.fields["kindergarten"] is cov.fields["kindergarten"]  # other types shared, not recomputed
    removed = remove_service(added, service_id="clinic/new")
    assert np.allclose(removed.table(["clinic"])["walk_m"], cov.table(["clinic"])["walk_m"], equal_nan=True)
    moved = move_service(cov, service_id="clinic/0", point=new_point)
    expected = coverage(
        graph,
        extract.buildings,
        pd.concat(
            [
                services[services["source_id"] != "clinic/0"],
                lonlat_points([new_point.coords[0]], source_id=["clinic/0"], type=["clinic"]),
            ]
        ),
        access=cov.access,
    )
    assert np.allclose(moved.table(["clinic"])["walk_m"], expected.table(["clinic"])["walk_m"], equal_nan=True)
    with pytest.raises(KeyError):
        remove_service(cov, service_id="nope")


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
