"""`gridmap import-layer` into a real PostGIS: happy paths per format, and bad files that store nothing."""

import json

import geopandas as gpd
import pytest
from shapely.geometry import Point, Polygon, box
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from api.storage import layers
from gis.crs import wgs84_to_gcj02

LON, LAT = 113.54, 22.27  # 珠海香洲
W = 0.004  # each grid is W wide; a community is two grids


def run(database_url: str, *args: str):
    return CliRunner().invoke(app, list(args), env={"GRIDMAP_DATABASE_URL": database_url})


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return layers.count_rows(conn)


def write_geojson(path, features: list[dict], crs: str | None = None) -> None:
    collection = {"type": "FeatureCollection", "features": features}
    if crs:
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(collection, ensure_ascii=False))


def feature(geom, **props) -> dict:
    return {"type": "Feature", "geometry": geom.__geo_interface__, "properties": props}


def community_file(tmp_path):
    path = tmp_path / "communities.geojson"
    write_geojson(path, [feature(box(LON, LAT, LON + 2 * W, LAT + W), id="c1", code="001", name="翠香社区")])
    return path


def grid_frame(seqs=("001", "002"), shift=0.0) -> gpd.GeoDataFrame:
    geoms = [box(LON + i * W + (shift if i else 0), LAT, LON + (i + 1) * W, LAT + W) for i in range(len(seqs))]
    return gpd.GeoDataFrame(
        {"id": [f"g{s}" for s in seqs], "code": [f"440402001001{s}" for s in seqs], "community": ["c1"] * len(seqs)},
        geometry=geoms,
        crs="EPSG:4490",
    )


@pytest.fixture
def with_communities(clean_db, database_url, tmp_path):
    result = run(
        database_url, "import-layer", str(community_file(tmp_path)), "--kind", "communities", "--crs", "EPSG:4326"
    )
    assert result.exit_code == 0, result.output
    return clean_db


def test_grids_from_geopackage_link_to_their_community_and_reimport_updates(with_communities, database_url, tmp_path):
    path = tmp_path / "grids.gpkg"
    grid_frame().to_file(path, driver="GPKG")
    first = run(database_url, "import-layer", str(path), "--kind", "grids")
    assert first.exit_code == 0, first.output
    assert "imported: grids=2 inserted=2 updated=0" in first.output
    with with_communities.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT g.code, g.seq_code, c.name FROM grids g JOIN communities c ON c.id = g.community_id ORDER BY 1"
            )
        ).all()
    assert rows == [("440402001001001", "001", "翠香社区"), ("440402001001002", "002", "翠香社区")]
    before = counts(with_communities)
    second = run(database_url, "import-layer", str(path), "--kind", "grids")
    assert "inserted=0 updated=2" in second.output and counts(with_communities) == before


def test_gap_is_reported_not_refused(with_communities, database_url, tmp_path):
    path = tmp_path / "grids.gpkg"
    grid_frame(seqs=("001",)).to_file(path, driver="GPKG")
    result = run(database_url, "import-layer", str(path), "--kind", "grids")
    assert result.exit_code == 0, result.output
    assert "gap:" in result.output and "not covered" in result.output


def test_self_intersecting_polygon_is_repaired_and_reported(with_communities, database_url, tmp_path):
    path = tmp_path / "buildings.geojson"
    bow_tie = Polygon(
        [(LON + 0.001, LAT + 0.001), (LON + 0.002, LAT + 0.002), (LON + 0.002, LAT + 0.001), (LON + 0.001, LAT + 0.002)]
    )
    write_geojson(
        path,
        [
            feature(bow_tie, id="b1", floors=6),
            feature(box(LON + 0.003, LAT + 0.001, LON + 0.0035, LAT + 0.0015), id="b2"),
        ],
    )
    result = run(database_url, "import-layer", str(path), "--kind", "buildings", "--crs", "EPSG:4326")
    assert result.exit_code == 0, result.output
    assert "repaired 1 of 2" in result.output
    with with_communities.connect() as conn:
        valid = conn.scalar(text("SELECT bool_and(ST_IsValid(geom)) FROM buildings"))
        area = conn.scalar(text("SELECT ST_Area(geom::geography) FROM buildings WHERE source_id = 'b1'"))
    assert valid and area > 0


def test_gcj02_csv_service_points_are_converted(clean_db, database_url, tmp_path):
    lon, lat = LON + 0.001, LAT + 0.001
    glon, glat = wgs84_to_gcj02(lon, lat)
    path = tmp_path / "stations.csv"
    path.write_text(f"id,type,name,lon,lat\ns1,党群服务中心,翠香党群服务中心,{glon:.9f},{glat:.9f}\n", encoding="utf-8")
    result = run(database_url, "import-layer", str(path), "--kind", "service_points", "--crs", "GCJ-02")
    assert result.exit_code == 0, result.output
    with clean_db.connect() as conn:
        row = conn.execute(text("SELECT type, ST_X(geom), ST_Y(geom) FROM service_points")).one()
    assert row[0] == "party_center"
    assert Point(row[1], row[2]).distance(Point(lon, lat)) < 1e-7  # ~1 cm


def test_shapefile_service_points_with_prj(clean_db, database_url, tmp_path):
    path = tmp_path / "points.shp"
    gpd.GeoDataFrame(
        {"id": ["p1", "p2"], "type": ["clinic", "red_post"], "name": ["卫生站", "红色驿站"]},
        geometry=[Point(LON, LAT), Point(LON + 0.001, LAT)],
        crs="EPSG:4490",
    ).to_file(path, encoding="utf-8")
    result = run(database_url, "import-layer", str(path), "--kind", "service_points")
    assert result.exit_code == 0, result.output
    assert counts(clean_db)["service_points"] == 2


def _overlapping(tmp_path):
    path = tmp_path / "grids.gpkg"
    grid_frame(shift=-W / 2).to_file(path, driver="GPKG")
    return path, ["--kind", "grids"], "overlap"


def _crossing(tmp_path):
    path = tmp_path / "grids.gpkg"
    frame = grid_frame()
    frame.loc[1, "geometry"] = box(LON + W, LAT, LON + 3 * W, LAT + W)
    frame.to_file(path, driver="GPKG")
    return path, ["--kind", "grids"], "outside community"


def _bad_code(tmp_path):
    path = tmp_path / "grids.gpkg"
    frame = grid_frame()
    frame.loc[1, "code"] = "44040200100100"  # 14 digits under DB11_15
    frame.to_file(path, driver="GPKG")
    return path, ["--kind", "grids"], "g002"


def _no_crs(tmp_path):
    path = tmp_path / "grids.geojson"
    write_geojson(path, [feature(box(LON, LAT, LON + W, LAT + W), id="g1", code="440402001001001")])
    return path, ["--kind", "grids"], "--crs"


def _far_away(tmp_path):
    path = tmp_path / "grids.geojson"
    write_geojson(path, [feature(box(2.35, 48.85, 2.36, 48.86), id="g1", code="440402001001001")])
    return path, ["--kind", "grids", "--crs", "EPSG:4326"], "China"


def _empty_geometry(tmp_path):
    path = tmp_path / "buildings.geojson"
    features = [feature(box(LON, LAT, LON + 0.001, LAT + 0.001), id="b1")]
    features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}, "properties": {"id": "b2"}})
    write_geojson(path, features)
    return path, ["--kind", "buildings", "--crs", "EPSG:4326"], "b2"


def _corrupt(tmp_path):
    path = tmp_path / "grids.gpkg"
    path.write_bytes(b"SQLite format 3\x00" + b"\x13" * 300)
    return path, ["--kind", "grids", "--crs", "EPSG:4326"], "grids.gpkg"


def _unknown_type(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("id,type,lon,lat\np1,spaceport,113.54,22.27\n")
    return path, ["--kind", "service_points", "--crs", "EPSG:4326"], "spaceport"


@pytest.mark.parametrize(
    "make_bad", [_overlapping, _crossing, _bad_code, _no_crs, _far_away, _empty_geometry, _corrupt, _unknown_type]
)
def test_bad_file_is_refused_and_nothing_stored(with_communities, database_url, tmp_path, make_bad):
    good = tmp_path / "grids.gpkg"  # the bad grid files are edits of this one (same source)
    grid_frame().to_file(good, driver="GPKG")
    assert run(database_url, "import-layer", str(good), "--kind", "grids").exit_code == 0
    before = counts(with_communities)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    path, options, words = make_bad(bad_dir)
    result = run(database_url, "import-layer", str(path), *options)
    assert result.exit_code == 2, result.output
    assert path.name in result.output and words in result.output
    assert "nothing was stored" in result.output
    assert counts(with_communities) == before


def test_grid_code_held_by_another_source_is_refused(with_communities, database_url, tmp_path):
    path = tmp_path / "grids.gpkg"
    grid_frame().to_file(path, driver="GPKG")
    assert run(database_url, "import-layer", str(path), "--kind", "grids").exit_code == 0
    before = counts(with_communities)
    result = run(database_url, "import-layer", str(path), "--kind", "grids", "--source", "file:other")
    assert result.exit_code == 2 and "440402001001001" in result.output
    assert counts(with_communities) == before
