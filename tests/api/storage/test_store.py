"""The upsert layer: idempotent re-imports, references resolved or refused, all in the caller's transaction."""

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point, box
from sqlalchemy import text

from api.storage import layers


def _nodes() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"source_id": ["node/1", "node/2", "node/3"]},
        geometry=[Point(113.53, 22.27), Point(113.531, 22.27), Point(113.531, 22.271)],
        crs="EPSG:4326",
    )


def _edges(v_last: str = "node/3") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "source_id": ["way/10/0", "way/10/1"],
            "u_ref": ["node/1", "node/2"],
            "v_ref": ["node/2", v_last],
            "length_m": [103.2, 110.6],
            "highway": ["footway", "residential"],
            "name": [None, "凤凰路"],
        },
        geometry=[LineString([(113.53, 22.27), (113.531, 22.27)]), LineString([(113.531, 22.27), (113.531, 22.271)])],
        crs="EPSG:4326",
    )


def test_upsert_twice_keeps_row_counts_and_ids(clean_db):
    for round_ in range(2):
        with clean_db.begin() as conn:
            nodes = layers.upsert_layer(conn, "walk_nodes", _nodes(), source="osm:test")
            edges = layers.upsert_layer(conn, "walk_edges", _edges(), source="osm:test")
        assert (nodes.inserted, nodes.updated) == ((3, 0) if round_ == 0 else (0, 3))
        assert edges.total == 2
    with clean_db.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT e.source_id, a.source_id, b.source_id, e.name FROM walk_edges e "
                "JOIN walk_nodes a ON a.id = e.source_node JOIN walk_nodes b ON b.id = e.target_node ORDER BY 1"
            )
        ).all()
    assert rows == [("way/10/0", "node/1", "node/2", None), ("way/10/1", "node/2", "node/3", "凤凰路")]


def test_unknown_reference_is_refused_and_nothing_stored(clean_db):
    with pytest.raises(ValueError, match="v_ref names rows that walk_nodes does not have"):
        with clean_db.begin() as conn:
            layers.upsert_layer(conn, "walk_nodes", _nodes(), source="osm:test")
            layers.upsert_layer(conn, "walk_edges", _edges(v_last="node/999"), source="osm:test")
    with clean_db.connect() as conn:
        assert layers.count_rows(conn)["walk_nodes"] == 0


def test_polygons_become_multipolygons_and_arrays_survive(clean_db):
    buildings = gpd.GeoDataFrame(
        {"source_id": ["b1"], "kind": ["apartments"], "name": ["1号楼"], "floors": [6], "households": [36]},
        geometry=[box(113.53, 22.27, 113.5303, 22.2701)],
        crs="EPSG:4326",
    )
    households = gpd.GeoDataFrame(
        {
            "source_id": ["h1", "h2"],
            "building_ref": ["b1", "b1"],
            "unit": ["1单元", "1单元"],
            "room": ["101", "102"],
            "size": [2, 3],
            "tags": [["elderly_alone", "aged_80"], []],
            "is_party_member": [True, False],
        },
        geometry=[Point(113.5301, 22.27005)] * 2,
        crs="EPSG:4326",
    )
    with clean_db.begin() as conn:
        layers.upsert_layer(conn, "buildings", buildings, source="sample")
        layers.upsert_layer(conn, "households", households, source="sample")
    with clean_db.connect() as conn:
        assert conn.scalar(text("SELECT GeometryType(geom) FROM buildings")) == "MULTIPOLYGON"
        tags = conn.execute(text("SELECT source_id, tags FROM households ORDER BY source_id")).all()
    assert tags == [("h1", ["elderly_alone", "aged_80"]), ("h2", [])]
