"""Tests of gis/io/osm.py on the real OSM extracts in ../shared/data (read in place) and on tiny hand-made files.

The reference counts come from ../shared/data/README.md; the walkable length is also recomputed here with
xml.etree and the README rule, so the importer is not only compared with itself.
"""

import os
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from pyproj import Geod

from gis.errors import OsmReadError
from gis.io.osm import OsmExtract, is_walkable, read_osm, service_type

SHARED_OSM = Path(__file__).resolve().parents[3] / "shared" / "data" / "osm"
ZHUHAI, ZHUHAI_PBF, BEIJING = "zhuhai-xiangzhou.osm", "zhuhai-xiangzhou.osm.pbf", "beijing-wangjing.osm"
# whole-file reference table of ../shared/data/README.md: walkable km, walkable ways, buildings
REFERENCE = {ZHUHAI: (181.18, 751, 358), ZHUHAI_PBF: (181.18, 751, 358), BEIJING: (83.17, 240, 226)}
COLUMNS = {
    "nodes": ["source_id", "geometry"],
    "edges": ["source_id", "u_ref", "v_ref", "length_m", "highway", "name", "geometry"],
    "buildings": ["source_id", "kind", "name", "floors", "households", "geometry"],
    "service_points": ["source_id", "type", "level", "name", "hours", "geometry"],
    "compounds": ["source_id", "name", "geometry"],
}


def shared_file(name: str) -> Path:
    """A shared OSM extract; skip when ../shared/data is absent, fail in CI."""
    if not SHARED_OSM.is_dir():
        message = f"{SHARED_OSM} is absent: the real-data tests need the shared OSM extracts"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_OSM / name


@cache
def _read(name: str) -> OsmExtract:
    return read_osm(SHARED_OSM / name)


def extract(name: str) -> OsmExtract:
    shared_file(name)
    return _read(name)


# --- an implementation of the README rule independent of gis/io/osm.py ------------------------------------------


def readme_walkable(tags: dict[str, str]) -> bool:
    excluded = {"motorway", "motorway_link", "trunk", "trunk_link", "construction", "proposed", "raceway"}
    excluded |= {"bus_guideway", "platform", "elevator", "abandoned", "razed", "disused"}
    if "highway" not in tags or tags["highway"] in excluded or tags.get("foot") == "no":
        return False
    return not (tags.get("access") == "no" and tags.get("foot") not in ("yes", "designated", "permissive"))


def etree_counts(path: Path) -> tuple[float, int, int]:
    """Walkable km, walkable ways and buildings of an .osm file, parsed with xml.etree."""
    root = ET.parse(path).getroot()
    coords = {node.get("id"): (float(node.get("lon")), float(node.get("lat"))) for node in root.iter("node")}
    geod, km, ways, buildings = Geod(ellps="WGS84"), 0.0, 0, 0
    for element in root:
        if element.tag not in ("way", "relation"):
            continue
        tags = {tag.get("k"): tag.get("v") for tag in element.iter("tag")}
        refs = [nd.get("ref") for nd in element.iter("nd")]
        if element.tag == "way" and readme_walkable(tags):
            lons, lats = zip(*(coords[ref] for ref in refs), strict=True)
            km += geod.line_length(lons, lats) / 1000
            ways += 1
        if tags.get("building", "no") != "no":
            closed_way = element.tag == "way" and len(refs) >= 4 and refs[0] == refs[-1]
            buildings += closed_way or tags.get("type") == "multipolygon"
    return km, ways, buildings


# --- real data --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [ZHUHAI, ZHUHAI_PBF, BEIJING])
def test_reference_counts(name: str) -> None:
    km, ways, buildings = REFERENCE[name]
    result = extract(name)
    assert result.walkable_km == pytest.approx(km, rel=0.02)
    assert result.walkable_km == pytest.approx(km, abs=0.01)  # in fact it agrees to the printed digits
    assert result.walkable_ways == ways
    assert len(result.buildings) == pytest.approx(buildings, rel=0.02)
    assert len(result.buildings) == buildings


@pytest.mark.parametrize("name", [ZHUHAI, BEIJING])
def test_walkable_km_agrees_with_an_independent_xml_parse(name: str) -> None:
    km, ways, buildings = etree_counts(shared_file(name))
    result = extract(name)
    assert result.walkable_km == pytest.approx(km, rel=1e-9)
    assert (result.walkable_ways, len(result.buildings)) == (ways, buildings)


@pytest.mark.parametrize("name", [ZHUHAI, BEIJING])
def test_sidewalk_exception_does_not_change_the_reference_counts(name: str) -> None:
    """The motorway/trunk-with-sidewalk exception is ours, not the README's: no such road is in the files."""
    root = ET.parse(shared_file(name)).getroot()
    for way in root.iter("way"):
        tags = {tag.get("k"): tag.get("v") for tag in way.iter("tag")}
        assert is_walkable(tags) == readme_walkable(tags), way.get("id")


def test_xml_and_pbf_give_identical_results() -> None:
    osm, pbf = extract(ZHUHAI), extract(ZHUHAI_PBF)
    assert (osm.walkable_km, osm.walkable_ways, osm.self_loops_dropped) == (
        pbf.walkable_km,
        pbf.walkable_ways,
        pbf.self_loops_dropped,
    )
    for layer in COLUMNS:
        assert_geodataframe_equal(getattr(osm, layer), getattr(pbf, layer), check_less_precise=False)


@pytest.mark.parametrize("name", [ZHUHAI, ZHUHAI_PBF, BEIJING])
def test_layers_follow_the_column_contract(name: str) -> None:
    result = extract(name)
    for layer, columns in COLUMNS.items():
        frame = getattr(result, layer)
        assert list(frame.columns) == columns, layer
        assert frame.crs.to_epsg() == 4326, layer
        assert frame["source_id"].is_unique, layer
        assert len(frame) > 0, layer


@pytest.mark.parametrize("name", [ZHUHAI, BEIJING])
def test_walk_network_is_consistent(name: str) -> None:
    result = extract(name)
    edges, nodes = result.edges, result.nodes.set_index("source_id")
    assert edges["length_m"].sum() / 1000 == pytest.approx(result.walkable_km, rel=1e-3)
    assert (edges["length_m"] > 0).all()  # the only zero-length edges would be dropped self-loops
    assert edges["u_ref"].isin(nodes.index).all() and edges["v_ref"].isin(nodes.index).all()
    assert edges["source_id"].str.fullmatch(r"way/\d+/\d+").all()
    start, end = shapely.get_point(edges.geometry.values, 0), shapely.get_point(edges.geometry.values, -1)
    assert shapely.equals_exact(start, nodes.geometry.loc[edges["u_ref"]].values, tolerance=0).all()
    assert shapely.equals_exact(end, nodes.geometry.loc[edges["v_ref"]].values, tolerance=0).all()
    # graph nodes are only where ways end or meet: every node is used by some edge
    used = set(edges["u_ref"]) | set(edges["v_ref"])
    assert used == set(nodes.index)
    # each edge's own geodesic length matches length_m
    geod = Geod(ellps="WGS84")
    sample = edges.iloc[:: max(1, len(edges) // 50)]
    lengths = [geod.geometry_length(line) for line in sample.geometry]
    np.testing.assert_allclose(lengths, sample["length_m"], rtol=1e-9)


@pytest.mark.parametrize("name", [ZHUHAI, BEIJING])
def test_buildings_are_valid_multipolygons(name: str) -> None:
    buildings = extract(name).buildings
    assert buildings.is_valid.all() and not buildings.is_empty.any()
    assert (buildings.geom_type == "MultiPolygon").all()
    assert (buildings["kind"] != "no").all()
    assert buildings["source_id"].str.fullmatch(r"(way|relation)/\d+").all()
    assert buildings["households"].isna().all()
    floors = buildings["floors"].dropna()
    assert len(floors) > 0 and (floors > 0).all()


def test_zhuhai_compounds() -> None:
    """22 named landuse=residential ways: the README's '23' also counts the unnamed way/192919860."""
    compounds = extract(ZHUHAI).compounds
    assert len(compounds) == 22
    assert compounds["name"].notna().all() and "way/192919860" not in set(compounds["source_id"])
    assert compounds.is_valid.all() and (compounds.geom_type == "MultiPolygon").all()
    assert "富康花园" in set(compounds["name"])


def test_zhuhai_service_points() -> None:
    points = extract(ZHUHAI).service_points
    counts = points["type"].value_counts().to_dict()
    assert counts == {"sports": 74, "school": 10, "kindergarten": 2, "market": 1, "police": 1, "clinic": 1}
    assert (points.geom_type == "Point").all()
    schools = points[points["type"] == "school"]
    assert "香山小学" in set(schools["name"])


def test_progress_bars_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    read_osm(shared_file(BEIJING), progress=True)
    captured = capsys.readouterr()
    assert "reading beijing-wangjing.osm" in captured.err and "building layers" in captured.err
    assert captured.out == ""


# --- bad input --------------------------------------------------------------------------------------------------


def test_missing_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.osm.pbf"
    with pytest.raises(OsmReadError, match="nowhere.osm.pbf"):
        read_osm(path)


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("empty.osm", b""),
        ("garbage.osm.pbf", bytes(range(256)) * 8),
        ("garbage.osm", b"\x00\x01 this is not OSM data"),
        ("page.osm", b"<html><body>not osm</body></html>"),
        ("nothing.osm", b'<?xml version="1.0"?>\n<osm version="0.6"><bounds minlat="0" minlon="0"/></osm>'),
        ("broken.osm", b'<?xml version="1.0"?>\n<osm version="0.6"><node id="1" lat="1" lon="1"'),
    ],
)
def test_bad_files_raise(tmp_path: Path, filename: str, content: bytes) -> None:
    path = tmp_path / filename
    path.write_bytes(content)
    with pytest.raises(OsmReadError, match=filename):
        read_osm(path)


def test_truncated_pbf_raises(tmp_path: Path) -> None:
    data = shared_file(ZHUHAI_PBF).read_bytes()
    path = tmp_path / "truncated.osm.pbf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(OsmReadError, match="truncated.osm.pbf"):
        read_osm(path)


def test_error_is_a_value_error() -> None:
    assert issubclass(OsmReadError, ValueError)


# --- rules and a hand-made network ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "walkable"),
    [
        ({"highway": "residential"}, True),
        ({"highway": "service", "access": "private"}, True),
        ({"highway": "footway", "access": "no"}, False),
        ({"highway": "footway", "access": "no", "foot": "designated"}, True),
        ({"highway": "path", "foot": "no"}, False),
        ({"highway": "construction"}, False),
        ({"highway": "motorway"}, False),
        ({"highway": "trunk", "sidewalk": "both"}, True),
        ({"highway": "trunk_link", "foot": "yes"}, True),
        ({"highway": "trunk", "sidewalk": "separate"}, False),
        ({"highway": "trunk", "sidewalk": "both", "foot": "no"}, False),
        ({"building": "yes"}, False),
    ],
)
def test_walkable_rule(tags: dict[str, str], walkable: bool) -> None:
    assert is_walkable(tags) is walkable


@pytest.mark.parametrize(
    ("tags", "kind"),
    [
        ({"amenity": "community_centre"}, "party_center"),
        ({"amenity": "doctors"}, "clinic"),
        ({"healthcare": "centre"}, "clinic"),
        ({"healthcare": "pharmacy", "amenity": "pharmacy"}, None),
        ({"amenity": "childcare"}, "kindergarten"),
        ({"amenity": "school"}, "school"),
        ({"shop": "greengrocer"}, "market"),
        ({"amenity": "marketplace"}, "market"),
        ({"amenity": "police"}, "police"),
        ({"amenity": "social_facility", "social_facility:for": "senior"}, "elderly_care"),
        ({"amenity": "social_facility", "social_facility:for": "homeless"}, None),
        ({"leisure": "fitness_station"}, "sports"),
        ({"office": "government"}, None),
        ({"amenity": "restaurant"}, None),
    ],
)
def test_service_type_table(tags: dict[str, str], kind: str | None) -> None:
    assert service_type(tags) == kind


def write_osm(path: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple[int, list[int], dict]]) -> Path:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    lines += [f'<node id="{i}" version="1" lat="{lat}" lon="{lon}"/>' for i, (lon, lat) in nodes.items()]
    for way_id, refs, tags in ways:
        lines.append(f'<way id="{way_id}" version="1">')
        lines += [f'<nd ref="{ref}"/>' for ref in refs]
        lines += [f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("</way>")
    path.write_text("\n".join([*lines, "</osm>"]), encoding="utf-8")
    return path


def test_hand_made_network_is_split_at_shared_nodes(tmp_path: Path) -> None:
    grid = {i: (113.5 + 0.001 * (i % 10), 22.2 + 0.001 * (i // 10)) for i in (1, 2, 3, 4, 5, 6, 7, 11, 12, 21, 22)}
    ways = [
        (10, [1, 2, 3], {"highway": "residential", "name": "翠香路"}),
        (11, [4, 2, 5], {"highway": "footway"}),  # crosses way 10 at node 2
        (12, [5, 6, 6, 3], {"highway": "service"}),  # node 6 twice in a row: a zero-length self-loop
        (13, [1, 3], {"highway": "motorway"}),  # not walkable
        (14, [3, 4], {"highway": "trunk", "sidewalk": "both"}),  # walkable thanks to its sidewalks
        (15, [7, 1, 99, 4, 3], {"highway": "path"}),  # node 99 is not in the file: the way is cut there
        (20, [11, 12, 22, 11], {"building": "apartments", "building:levels": "6", "amenity": "school"}),
        (21, [11, 12, 22, 11], {"landuse": "residential", "name": "翠华新村"}),
        (22, [11, 12, 22, 11], {"landuse": "residential"}),  # no name: not a compound
        (23, [11, 22, 12, 21, 11], {"building": "yes"}),  # a bow tie: osmium's area assembler rejects it
    ]
    result = read_osm(write_osm(tmp_path / "tiny.osm", grid, ways))
    edges = result.edges.set_index("source_id")
    assert list(edges.index) == [
        "way/10/0",
        "way/10/1",
        "way/11/0",
        "way/11/1",
        "way/12/0",
        "way/12/1",
        "way/14/0",
        "way/15/0",
        "way/15/1",
    ]
    way_10 = edges.loc["way/10/1", ["u_ref", "v_ref", "highway", "name"]].tolist()
    assert way_10 == ["node/2", "node/3", "residential", "翠香路"]
    assert edges.loc["way/12/1", ["u_ref", "v_ref"]].tolist() == ["node/6", "node/3"]
    assert edges.loc["way/15/1", ["u_ref", "v_ref"]].tolist() == ["node/4", "node/3"]
    assert result.self_loops_dropped == 1
    assert result.walkable_ways == 5
    assert sorted(result.nodes["source_id"]) == [f"node/{i}" for i in (1, 2, 3, 4, 5, 6, 7)]
    assert result.walkable_km * 1000 == pytest.approx(result.edges["length_m"].sum(), rel=1e-12)
    assert result.buildings[["source_id", "kind", "floors"]].values.tolist() == [["way/20", "apartments", 6]]
    assert result.compounds["source_id"].tolist() == ["way/21"]
    school = result.service_points.set_index("source_id").loc["way/20"]
    assert school["type"] == "school"
    assert result.buildings.geometry.iloc[0].contains(school.geometry)
