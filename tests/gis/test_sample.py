"""The sample-area generator (gis/sample): layer contract, geometry, codes, network, households. No database."""

import dataclasses
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis.sample import DISTRICT_SCALE, TAGS, SampleArea, SampleSettings, generate_sample, load_settings, local_crs

COLUMNS = {  # docs/layers.md, besides source, source_id and geometry
    "streets": ["code", "name"],
    "communities": ["street_ref", "code", "name"],
    "grids": [
        "community_ref", "code", "code_profile", "district_code", "street_code", "community_code", "seq_code", "name",
    ],
    "compounds": ["name"],
    "buildings": ["grid_ref", "compound_ref", "kind", "name", "floors", "households"],
    "households": ["building_ref", "grid_ref", "unit", "room", "size", "tags", "is_party_member"],
    "center_households": ["household_ref", "capacity"],
    "service_points": ["type", "level", "name", "hours"],
    "walk_nodes": [],
    "walk_edges": ["u_ref", "v_ref", "length_m", "highway", "name"],
    "grid_workers": ["name", "grid_refs"],
    "residents": ["household_ref", "name", "gender", "birth_year", "id_number", "phone", "relation", "tags"],
}  # fmt: skip
GEOMETRY = {
    "streets": "MultiPolygon",
    "communities": "MultiPolygon",
    "grids": "MultiPolygon",
    "compounds": "MultiPolygon",
    "buildings": "MultiPolygon",
    "households": "Point",
    "service_points": "Point",
    "walk_nodes": "Point",
    "walk_edges": "LineString",
}
SERVICE_TYPES = {
    "party_center", "red_post", "clinic", "elderly_care", "kindergarten", "school", "market", "police", "sports",
}  # fmt: skip
HIGHWAYS = {"primary", "secondary", "tertiary", "residential", "service", "footway", "living_street"}


@pytest.fixture(scope="module")
def settings() -> SampleSettings:
    return load_settings()


@pytest.fixture(scope="module")
def area() -> SampleArea:
    return generate_sample()


@pytest.fixture(scope="module")
def metric(area: SampleArea, settings: SampleSettings) -> dict[str, gpd.GeoDataFrame]:
    """The layers in the generator's metric frame (azimuthal equidistant around the origin)."""
    crs = local_crs(settings)
    return {name: getattr(area, name).to_crs(crs) for name in GEOMETRY}


def layers(area: SampleArea) -> dict[str, pd.DataFrame]:
    return {f.name: getattr(area, f.name) for f in dataclasses.fields(area)}


# --- settings and contract -----------------------------------------------------------------------------------------


def test_settings_file_loads_and_rejects_unknown_keys(tmp_path, settings):
    assert settings.district_code == "110105" and settings.street_code == "001"
    assert set(settings.tag_rates) == set(TAGS)
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = 1\nno_such_setting = 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no_such_setting"):
        load_settings(bad)
    with pytest.raises(ValueError, match="grid_code_profile"):
        dataclasses.replace(settings, grid_code_profile="XX")


def test_layers_have_exactly_the_documented_columns(area):
    for name, frame in layers(area).items():
        expected = ["source", "source_id", *COLUMNS[name]]
        if name in GEOMETRY:
            expected.append("geometry")
            assert frame.crs == "EPSG:4326", name
            assert set(frame.geom_type) == {GEOMETRY[name]}, name
            assert frame.geometry.is_valid.all(), name
        assert list(frame.columns) == expected, name
        assert (frame["source"] == "sample").all(), name
        assert frame["source_id"].map(type).eq(str).all(), name
        assert frame["source_id"].is_unique, name


def test_references_point_at_existing_rows(area):
    ids = {name: set(frame["source_id"]) for name, frame in layers(area).items()}
    assert set(area.communities["street_ref"]) <= ids["streets"]
    assert set(area.grids["community_ref"]) <= ids["communities"]
    assert set(area.buildings["grid_ref"]) <= ids["grids"]
    assert set(area.buildings["compound_ref"].dropna()) <= ids["compounds"]
    assert set(area.households["building_ref"]) <= ids["buildings"]
    assert set(area.households["grid_ref"]) <= ids["grids"]
    assert set(area.center_households["household_ref"]) <= ids["households"]
    assert set(area.walk_edges["u_ref"]) | set(area.walk_edges["v_ref"]) <= ids["walk_nodes"]
    assert {g for refs in area.grid_workers["grid_refs"] for g in refs} <= ids["grids"]
    assert set(area.residents["household_ref"]) <= ids["households"]


# --- determinism and sizes -----------------------------------------------------------------------------------------


def test_same_seed_gives_identical_frames_and_another_seed_differs(area):
    again = generate_sample()
    for name, frame in layers(area).items():
        other = getattr(again, name)
        if isinstance(frame, gpd.GeoDataFrame):
            assert_geodataframe_equal(frame, other)
            assert frame.geometry.to_wkb().equals(other.geometry.to_wkb())  # to the last bit
            frame, other = pd.DataFrame(frame.drop(columns="geometry")), pd.DataFrame(other.drop(columns="geometry"))
        pd.testing.assert_frame_equal(frame, other, check_exact=True)
    different = generate_sample(seed=load_settings().seed + 1)
    assert not different.buildings.geometry.equals(area.buildings.geometry)
    assert len(different.households) != len(area.households)


def test_one_street_at_scale_one(area):
    residents = int(area.households["size"].sum())
    assert 25_000 <= residents <= 40_000
    assert len(area.streets) == 1
    assert 4 <= len(area.communities) <= 8
    assert 2_000 <= len(area.buildings) <= 6_000
    assert 9_000 <= len(area.households) <= 16_000
    assert 20 <= len(area.grids) <= 50
    assert 3_000 <= len(area.walk_nodes) <= 12_000
    assert len(area.walk_edges) >= len(area.walk_nodes)
    counts = area.service_points["type"].value_counts()
    assert set(counts.index) == SERVICE_TYPES
    # one 党群服务中心 for the street and one per community
    assert counts["party_center"] == 1 + len(area.communities)
    assert area.households["size"].between(1, 5).all()
    assert 2.5 <= area.households["size"].mean() <= 2.72  # census 2020: 2.62 persons per household


# --- streets, communities, grids -----------------------------------------------------------------------------------


def test_communities_tile_the_street(metric, area):
    street = metric["streets"].geometry.iloc[0]
    communities = metric["communities"].geometry
    assert communities.area.sum() == pytest.approx(street.area, rel=1e-3)
    union = shapely.union_all(communities.values)
    assert union.symmetric_difference(street).area < 1e-6 * street.area
    assert (area.communities["street_ref"] == area.streets["source_id"].iloc[0]).all()
    assert area.communities["code"].str.fullmatch(r"\d{3}").all()


def test_grids_tile_each_community(metric, area):
    grids = metric["grids"].set_index(area.grids["source_id"])
    for ref, community in zip(area.communities["source_id"], metric["communities"].geometry, strict=True):
        mine = grids[area.grids["community_ref"].to_numpy() == ref].geometry
        assert len(mine) >= 2
        assert mine.area.sum() == pytest.approx(community.area, rel=1e-6)  # no overlaps …
        assert shapely.union_all(mine.values).symmetric_difference(community).area < 1e-6 * community.area  # … no gaps
        assert mine.within(community.buffer(0.01)).all()


def test_every_building_lies_inside_exactly_its_grid(metric, area):
    joined = gpd.sjoin(
        metric["buildings"][["source_id", "grid_ref", "geometry"]],
        metric["grids"][["source_id", "geometry"]].rename(columns={"source_id": "grid_id"}),
        predicate="within",
    )
    assert joined.index.is_unique and len(joined) == len(area.buildings)
    assert (joined["grid_id"] == joined["grid_ref"]).all()


def test_every_grid_holds_300_to_500_households(area):
    per_grid = area.households.groupby("grid_ref").size().reindex(area.grids["source_id"], fill_value=0)
    assert per_grid.between(300, 500).all(), per_grid[~per_grid.between(300, 500)]
    building_grid = area.buildings.set_index("source_id")["grid_ref"]
    assert (area.households["grid_ref"].to_numpy() == building_grid[area.households["building_ref"]].to_numpy()).all()
    assert (area.buildings.groupby("grid_ref")["households"].sum() == per_grid).all()


def check_codes(area: SampleArea, settings: SampleSettings, digits: int) -> None:
    grids = area.grids
    assert (grids["code_profile"] == settings.grid_code_profile).all()
    assert grids["code"].str.fullmatch(rf"\d{{{12 + digits}}}").all()
    assert (
        grids["code"] == grids["district_code"] + grids["street_code"] + grids["community_code"] + grids["seq_code"]
    ).all()
    assert (grids["district_code"] == settings.district_code).all()
    assert (grids["street_code"] == settings.street_code).all()
    assert grids["code"].is_unique
    community_codes = area.communities.set_index("source_id")["code"]
    assert (grids["community_code"].to_numpy() == community_codes[grids["community_ref"]].to_numpy()).all()


def test_grid_codes_follow_the_profile_and_number_west_to_east_north_to_south(area, settings, metric):
    check_codes(area, settings, 3)
    grids = area.grids.assign(
        north=metric["grids"].bounds["maxy"].round(2), west=metric["grids"].bounds["minx"].round(2)
    )
    for _, mine in grids.groupby("community_ref"):
        seq = mine["seq_code"].astype(int).to_numpy()
        assert sorted(seq) == list(range(1, len(mine) + 1))
        reading = mine.sort_values(["north", "west"], ascending=[False, True])
        assert reading["seq_code"].astype(int).tolist() == list(range(1, len(mine) + 1))


def test_grid_codes_in_the_cjt213_profile(settings):
    cjt = dataclasses.replace(settings, grid_code_profile="CJT213_14")
    check_codes(generate_sample(cjt), cjt, 2)


# --- walk network --------------------------------------------------------------------------------------------------


def node_pairs(area: SampleArea) -> tuple[np.ndarray, np.ndarray]:
    index = pd.Series(np.arange(len(area.walk_nodes)), index=area.walk_nodes["source_id"])
    return index[area.walk_edges["u_ref"]].to_numpy(), index[area.walk_edges["v_ref"]].to_numpy()


def components(area: SampleArea) -> int:
    u, v = node_pairs(area)
    n = len(area.walk_nodes)
    return connected_components(coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n)), directed=False)[0]


def test_walk_network_is_one_connected_component(area):
    assert components(area) == 1
    u, v = node_pairs(area)
    index = area.walk_nodes["source_id"]
    assert np.unique(np.concatenate([u, v])).size == len(index)  # no isolated nodes
    assert not (pd.Series(np.minimum(u, v) * len(index) + np.maximum(u, v)).duplicated().any())
    assert set(area.walk_edges["highway"]) == HIGHWAYS


def test_edge_ends_are_their_nodes(area):
    nodes = area.walk_nodes.set_index("source_id").geometry
    coords = shapely.get_coordinates(area.walk_edges.geometry.values).reshape(-1, 2, 2)
    assert np.array_equal(coords[:, 0], shapely.get_coordinates(nodes[area.walk_edges["u_ref"]].values))
    assert np.array_equal(coords[:, 1], shapely.get_coordinates(nodes[area.walk_edges["v_ref"]].values))


def test_edge_lengths_match_geometry_in_a_metric_crs(area):
    utm = area.walk_edges.estimate_utm_crs()
    measured = area.walk_edges.to_crs(utm).length
    stated = area.walk_edges["length_m"]
    assert (stated > 0).all()
    assert ((measured - stated).abs() <= np.maximum(0.005 * stated, 0.02)).all()


def test_edges_meet_only_at_nodes_and_pass_no_building(metric):
    edges = metric["walk_edges"].geometry.values
    tree = shapely.STRtree(edges)
    crossing = tree.query(edges, predicate="crosses")
    overlapping = tree.query(edges, predicate="overlaps")
    assert crossing.shape[1] == 0 and overlapping.shape[1] == 0
    buildings = metric["buildings"].geometry.values
    hit_edge, hit_building = shapely.STRtree(buildings).query(edges, predicate="intersects")
    # door paths end on the wall of their building (to the centimetre nodes are rounded to); none runs through one
    inside = shapely.length(shapely.intersection(edges[hit_edge], buildings[hit_building]))
    assert inside.max() < 0.01
    assert not shapely.STRtree(buildings).query(buildings, predicate="overlaps").size


def test_arterials_are_named(area):
    arterials = area.walk_edges[area.walk_edges["highway"].isin(["primary", "secondary"])]
    assert arterials["name"].notna().all()
    assert arterials["name"].str.contains(r"(?:路|街|大道|大街)$").all()


def test_compound_lanes_reach_the_roads_only_through_one_to_three_gates(metric, area):
    nodes = metric["walk_nodes"].set_index(area.walk_nodes["source_id"]).geometry
    u, v = area.walk_edges["u_ref"].to_numpy(), area.walk_edges["v_ref"].to_numpy()
    for fence in metric["compounds"].geometry:
        inside = set(nodes.index[nodes.within(fence.buffer(0.05)).to_numpy()])
        assert len(inside) > 4  # the compound has its own lanes
        in_u, in_v = np.isin(u, list(inside)), np.isin(v, list(inside))
        crossing = in_u != in_v
        gates = set(u[crossing & in_u]) | set(v[crossing & in_v])
        assert 1 <= len(gates) <= 3
        assert all(fence.boundary.distance(nodes[g]) < 0.05 for g in gates)  # gates are on the fence


# --- households, tags, 党员中心户, grid workers ---------------------------------------------------------------------


def test_households_are_inside_their_buildings_with_unique_rooms(metric, area):
    buildings = metric["buildings"].set_index(area.buildings["source_id"]).geometry
    homes = metric["households"].geometry.values
    assert shapely.within(homes, buildings[area.households["building_ref"]].values).all()
    assert not area.households.duplicated(["building_ref", "unit", "room"]).any()
    assert area.households["room"].str.fullmatch(r"\d{3,4}").all()
    apartments = area.buildings.loc[area.buildings["kind"] == "apartments", "source_id"]
    units = area.households.loc[area.households["building_ref"].isin(apartments), "unit"]
    assert units.str.fullmatch(r"\d单元").all()
    per_building = area.households.groupby("building_ref").size()
    assert (area.buildings.set_index("source_id")["households"][per_building.index] == per_building).all()
    houses = area.buildings[area.buildings["kind"] == "house"]
    assert houses["households"].between(1, 4).all() and houses["floors"].between(1, 4).all()
    slabs = area.buildings[area.buildings["kind"] == "apartments"]
    assert slabs["floors"].between(6, 33).all()


def test_tag_frequencies_match_the_stated_rates(area, settings):
    households = area.households
    village = households["building_ref"].isin(area.buildings.loc[area.buildings["kind"] == "house", "source_id"])
    for tag in TAGS:
        has = households["tags"].map(lambda tags, tag=tag: tag in tags)
        for group, rates in ((~village, settings.tag_rates), (village, settings.tag_rates_village)):
            rate = rates.get(tag, settings.tag_rates[tag])
            n = int(group.sum())
            tolerance = 4.5 * np.sqrt(rate * (1 - rate) / n) + 0.002  # binomial, ~1e-5 false alarms per check
            assert abs(has[group].mean() - rate) <= tolerance, (tag, has[group].mean(), rate)
    party = households["is_party_member"].mean()
    rate = settings.party_member_rate
    assert abs(party - rate) <= 4.5 * np.sqrt(rate * (1 - rate) / len(households))
    alone = households["tags"].map(lambda tags: "elderly_alone" in tags)
    assert households.loc[alone, "size"].le(2).all()
    infant = households["tags"].map(lambda tags: "infant" in tags)
    assert households.loc[infant, "size"].ge(3).all()
    assert households["tags"].map(lambda tags: list(tags) == sorted(tags, key=TAGS.index)).all()


def test_center_households_are_party_members_of_their_grid_and_cover_it(area, settings):
    centers = area.center_households.merge(
        area.households[["source_id", "grid_ref", "is_party_member"]],
        left_on="household_ref",
        right_on="source_id",
        suffixes=("", "_household"),
    )
    assert len(centers) == len(area.center_households)
    assert centers["household_ref"].is_unique
    assert centers["is_party_member"].all()
    assert set(centers["capacity"]) <= {settings.center_capacity, settings.center_capacity_large}
    assert (centers["capacity"] == settings.center_capacity).mean() > 0.6  # a few look after 15
    per_grid = area.households.groupby("grid_ref").size()
    summary = centers.groupby("grid_ref").agg(n=("capacity", "size"), capacity=("capacity", "sum"))
    assert set(summary.index) == set(area.grids["source_id"])
    assert (summary["capacity"] >= per_grid[summary.index]).all()  # every household can be looked after
    ratio = per_grid[summary.index] / summary["n"]
    assert ratio.between(8, 12).all()  # about one central household per ten households


def test_each_grid_has_exactly_one_worker_some_cover_two(area):
    refs = [g for grids in area.grid_workers["grid_refs"] for g in grids]
    assert sorted(refs) == sorted(area.grids["source_id"])
    sizes = area.grid_workers["grid_refs"].map(len)
    assert sizes.between(1, 2).all() and (sizes == 2).any() and (sizes == 1).mean() > 0.7
    community = area.grids.set_index("source_id")["community_ref"]
    assert area.grid_workers["grid_refs"].map(lambda grids: community[grids].nunique() == 1).all()
    assert area.grid_workers["name"].str.fullmatch(r"\w{2,4}").all()


# --- service points ------------------------------------------------------------------------------------------------


def test_service_points_are_typed_and_inside_the_street(area, metric):
    points = area.service_points
    assert set(points["type"]) == SERVICE_TYPES
    assert points["hours"].str.fullmatch(r"\d\d:\d\d-\d\d:\d\d").all()
    assert set(points["level"]) <= {"street", "community", "compound"}
    street = metric["streets"].geometry.iloc[0]
    assert metric["service_points"].within(street).all()
    centres = points[points["type"] == "party_center"]
    assert (centres["level"] == "street").sum() == 1
    for name in area.communities["name"]:
        assert (centres["name"] == f"{name}党群服务中心").sum() == 1
    assert (points.loc[points["type"] == "kindergarten", "name"].str.endswith("幼儿园")).all()
    # community-level rooms by a compound gate are inside that compound
    rooms = metric["service_points"][points["name"].str.endswith("党群服务中心") & (points["level"] == "community")]
    in_compound = gpd.sjoin(rooms, metric["compounds"][["geometry"]], predicate="within")
    assert len(in_compound) >= len(rooms) // 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_other_seeds_keep_the_invariants(seed, settings):
    other = generate_sample(seed=seed)
    assert 4 <= len(other.communities) <= 8
    assert 20_000 <= other.households["size"].sum() <= 45_000
    assert other.households.groupby("grid_ref").size().between(300, 500).all()
    assert components(other) == 1
    crs = local_crs(settings)
    grids, buildings = other.grids.to_crs(crs), other.buildings.to_crs(crs)
    assert grids.area.sum() == pytest.approx(other.streets.to_crs(crs).area.sum(), rel=1e-6)
    joined = gpd.sjoin(
        buildings, grids[["source_id", "geometry"]].rename(columns={"source_id": "g"}), predicate="within"
    )
    assert len(joined) == len(buildings) and (joined["g"] == joined["grid_ref"]).all()


# --- district scale ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_district_scale_reaches_a_million_residents():
    """Sizes only; its time and memory are measured by benchmarks/import.py."""
    district = generate_sample(scale=DISTRICT_SCALE)
    assert 900_000 <= district.households["size"].sum() <= 1_150_000
    assert 350_000 <= len(district.households) <= 450_000
    assert 85_000 <= len(district.buildings) <= 125_000
    assert 150_000 <= len(district.walk_nodes) <= 280_000
    assert len(district.service_points) >= 2_000
    assert district.streets["code"].is_unique and len(district.streets) >= 20
    per_street = district.communities.groupby("street_ref").size()
    assert per_street.between(4, 8).all()
    per_grid = district.households.groupby("grid_ref").size()
    assert per_grid.between(300, 500).all()
    assert district.grids["code"].is_unique
    assert district.walk_nodes["source_id"].is_unique
    assert components(district) == 1
    assert all(re.fullmatch(r"110105\d{3}", c) for c in district.streets["code"])
    assert len(district.residents) == district.households["size"].sum()
    assert district.residents["id_number"].is_unique
