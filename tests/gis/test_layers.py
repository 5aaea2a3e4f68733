"""gis.io.layers: reading user layer files (GeoJSON, GeoPackage, Shapefile, CSV) into validated WGS84 frames."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import Point, Polygon, box

from gis.crs import bd09_to_wgs84, gcj02_to_wgs84, wgs84_to_bd09, wgs84_to_gcj02
from gis.errors import LayerError
from gis.io.layers import COLUMNS, read_layer, service_type

LON, LAT = 113.55, 22.26  # 珠海香洲


def cell(i: int, size: float = 0.005) -> Polygon:
    return box(LON + i * size, LAT, LON + (i + 1) * size, LAT + size)


def grids_frame(crs="EPSG:4326") -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame(
        {
            "id": ["g1", "g2", "g3"],
            "code": ["440402001002001", "440402001002002", "440402001002003"],
            "community": ["c2", "c2", "c2"],
            "name": ["一网格", "二网格", None],
        },
        geometry=[cell(0), cell(1), cell(2)],
        crs="EPSG:4326",
    )
    return gdf.to_crs(crs) if crs else gdf.set_crs(None, allow_override=True)


def points_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [1, 2, 3], "type": ["党群服务中心", "clinic", "Red Post"], "name": ["香湾党群服务中心", "诊所", None]},
        geometry=[Point(LON, LAT), Point(LON + 0.01, LAT), Point(LON, LAT + 0.01)],
        crs="EPSG:4326",
    )


def same(geoms, expected, tolerance: float = 1e-12) -> bool:
    """Equal up to ring orientation/start (Shapefiles reorient rings) and float noise."""
    a = shapely.normalize(np.asarray(geoms, dtype=object))
    b = [shapely.MultiPolygon([g]) if g.geom_type == "Polygon" else g for g in expected]
    b = shapely.normalize(np.asarray(b, dtype=object))
    return bool(shapely.equals_exact(a, b, tolerance=tolerance).all())


def write(gdf: gpd.GeoDataFrame, path) -> str:
    gdf.to_file(path)
    return str(path)


def message(excinfo) -> str:
    return str(excinfo.value)


# --- each format --------------------------------------------------------------------------------------------------


def test_geojson_with_crs_member(tmp_path):
    path = write(grids_frame(), tmp_path / "grids.geojson")
    assert '"crs"' in open(path, encoding="utf-8").read()
    gdf, report = read_layer(path, kind="grids", crs=None)
    assert list(gdf.columns) == ["source", "source_id", *COLUMNS["grids"], "geometry"]
    assert gdf.crs.to_epsg() == 4326
    assert list(gdf["source_id"]) == ["g1", "g2", "g3"]
    assert set(gdf["source"]) == {"file:grids.geojson"}
    row = gdf.iloc[1]
    assert (row.district_code, row.street_code, row.community_code, row.seq_code) == ("440402", "001", "002", "002")
    assert row.code_profile == "DB11_15" and row.community_ref == "c2" and row["name"] == "二网格"
    assert pd.isna(gdf["name"].iloc[2])
    assert (gdf.geom_type == "MultiPolygon").all()
    assert same(gdf.geometry, [cell(i) for i in range(3)])
    assert report.crs == "EPSG:4326" and report.declared_crs == "EPSG:4326" and report.format == "GeoJSON"
    assert report.n_features == 3 and report.repair.n_repaired == 0
    assert report.bounds == pytest.approx((LON, LAT, LON + 0.015, LAT + 0.005))


def test_geopackage_in_cgcs2000(tmp_path):
    path = write(grids_frame("EPSG:4490"), tmp_path / "grids.gpkg")
    gdf, report = read_layer(path, kind="grids", crs=None)
    assert report.declared_crs == "EPSG:4490" and report.crs == "EPSG:4490"
    assert same(gdf.geometry, grids_frame().geometry)


def test_shapefile_in_gauss_kruger_metres(tmp_path):
    path = write(grids_frame("EPSG:4547"), tmp_path / "grids.shp")
    gdf, report = read_layer(path, kind="grids", crs=None)
    assert report.crs == "EPSG:4547"
    assert same(gdf.geometry, grids_frame().geometry, tolerance=1e-8)
    assert list(gdf["code"]) == list(grids_frame()["code"])


def test_csv_service_points(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("id,type,name,lng,latitude\n1,党群服务中心,香湾,113.55,22.26\n2,elderly-care,,113.56,22.27\n")
    gdf, report = read_layer(path, kind="service_points", crs="EPSG:4326")
    assert list(gdf.columns) == ["source", "source_id", *COLUMNS["service_points"], "geometry"]
    assert list(gdf["type"]) == ["party_center", "elderly_care"]
    assert pd.isna(gdf["name"].iloc[1])
    assert (gdf.geometry.iloc[0].x, gdf.geometry.iloc[0].y) == (113.55, 22.26)
    assert report.format == "CSV" and report.declared_crs is None


def test_csv_in_gb18030_with_chinese_headers(tmp_path):
    path = tmp_path / "阵地.csv"
    path.write_bytes("编号,类型,经度,纬度\nA,红色驿站,113.55,22.26\n".encode("gb18030"))
    gdf, _ = read_layer(path, kind="service_points", crs="wgs84", id_field="编号")
    assert list(gdf["type"]) == ["red_post"] and list(gdf["source_id"]) == ["A"]


def test_geojson_service_points_with_aliases(tmp_path):
    path = write(points_frame(), tmp_path / "points.geojson")
    gdf, _ = read_layer(path, kind="service_points", crs=None)
    assert list(gdf["type"]) == ["party_center", "clinic", "red_post"]
    assert list(gdf["source_id"]) == ["1", "2", "3"]
    assert service_type("社区卫生服务站") == "clinic" and service_type("bakery") is None


def test_buildings_and_communities(tmp_path):
    buildings = gpd.GeoDataFrame(
        {"id": ["b1", "b2"], "building": ["residential", "yes"], "building:levels": [6, None], "grid": ["g1", None]},
        geometry=[cell(0, 0.0002), cell(2, 0.0002)],
        crs=4326,
    )
    gdf, _ = read_layer(write(buildings, tmp_path / "b.gpkg"), kind="buildings", crs=None)
    assert list(gdf.columns) == ["source", "source_id", *COLUMNS["buildings"], "geometry"]
    assert list(gdf["kind"]) == ["residential", "yes"] and gdf["grid_ref"].iloc[0] == "g1"
    assert pd.isna(gdf["grid_ref"].iloc[1])
    assert gdf["floors"].iloc[0] == 6 and gdf["floors"].isna().iloc[1]
    communities = gpd.GeoDataFrame(
        {"id": ["c1", "c2"], "code": ["440402001002", "003"], "street": ["s1", "s1"]},
        geometry=[cell(0, 0.01), cell(1, 0.01)],
        crs=4326,
    )
    gdf, _ = read_layer(write(communities, tmp_path / "c.geojson"), kind="communities", crs=None)
    assert list(gdf["code"]) == ["002", "003"] and list(gdf["street_ref"]) == ["s1", "s1"]


# --- the CRS rule ---------------------------------------------------------------------------------------------------


def test_csv_without_crs_is_rejected(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("id,type,lon,lat\n1,clinic,113.55,22.26\n")
    with pytest.raises(LayerError) as err:
        read_layer(path, kind="service_points", crs=None)
    assert message(err).startswith("points.csv: a CSV file has no CRS") and "--crs" in message(err)


def test_shapefile_without_prj_is_rejected(tmp_path):
    path = tmp_path / "grids.shp"
    with pytest.warns(UserWarning):
        grids_frame(crs=None).to_file(path)
    assert not (tmp_path / "grids.prj").exists()
    with pytest.raises(LayerError, match=r"^grids.shp: the Shapefile has no .prj file.*--crs"):
        read_layer(path, kind="grids", crs=None)
    gdf, _ = read_layer(path, kind="grids", crs="EPSG:4326")
    assert len(gdf) == 3


def test_geojson_without_crs_member_needs_crs(tmp_path):
    path = tmp_path / "grids.geojson"
    data = json.loads(grids_frame().to_json())
    data.pop("crs", None)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(LayerError) as err:
        read_layer(path, kind="grids", crs=None)
    assert message(err).startswith("grids.geojson: the GeoJSON file declares no CRS: RFC 7946")
    assert "GCJ-02" in message(err) and "--crs EPSG:4326" in message(err)
    gdf, report = read_layer(path, kind="grids", crs="EPSG:4326")
    assert len(gdf) == 3 and report.declared_crs is None


def test_conflicting_crs_is_rejected(tmp_path):
    path = write(grids_frame("EPSG:4547"), tmp_path / "grids.gpkg")
    with pytest.raises(LayerError, match=r"^grids.gpkg: file says EPSG:4547, you said EPSG:4326"):
        read_layer(path, kind="grids", crs="EPSG:4326")
    with pytest.raises(LayerError, match=r"^grids.gpkg: file says EPSG:4547, you said gcj02"):
        read_layer(path, kind="grids", crs="gcj02")


def test_cgcs2000_and_wgs84_are_not_a_conflict(tmp_path):
    path = write(grids_frame("EPSG:4490"), tmp_path / "grids.gpkg")
    _, report = read_layer(path, kind="grids", crs="EPSG:4326")
    assert report.crs == "EPSG:4326" and "the same to centimetres" in report.notes[0]


def test_unknown_crs_names_file_and_crs(tmp_path):
    path = write(grids_frame(), tmp_path / "grids.geojson")
    with pytest.raises(LayerError, match=r"^grids.geojson: unknown CRS 'mars'; accepted: EPSG:4326"):
        read_layer(path, kind="grids", crs="mars")


@pytest.mark.parametrize(
    "name, forward, inverse", [("GCJ-02", wgs84_to_gcj02, gcj02_to_wgs84), ("BD-09", wgs84_to_bd09, bd09_to_wgs84)]
)
def test_gcj02_and_bd09_input_is_converted(tmp_path, name, forward, inverse):
    truth = points_frame()
    shifted = truth.copy()
    x, y = forward(truth.geometry.x.to_numpy(), truth.geometry.y.to_numpy())
    shifted = shifted.set_geometry(gpd.points_from_xy(x, y), crs="EPSG:4326")  # AMap data labelled WGS84
    path = write(shifted, tmp_path / "amap.geojson")
    gdf, report = read_layer(path, kind="service_points", crs=name.lower())
    assert report.crs == name and f"no file can declare {name}" in report.notes[0]
    error = np.hypot(gdf.geometry.x - truth.geometry.x, gdf.geometry.y - truth.geometry.y)
    assert error.max() < 1e-9
    assert gdf.geometry.x.iloc[0] == pytest.approx(inverse(x[0], y[0])[0], abs=1e-12)


def test_far_away_coordinates_are_rejected(tmp_path):
    europe = points_frame().set_geometry(gpd.points_from_xy([2.35, 2.36, 2.37], [48.85, 48.86, 48.87]), crs=4326)
    with pytest.raises(LayerError) as err:
        read_layer(write(europe, tmp_path / "paris.geojson"), kind="service_points", crs=None)
    assert message(err).startswith("paris.geojson: 3 of 3 features lie outside China")
    assert "feature 1 (id '1')" in message(err) and "--crs" in message(err)
    with pytest.raises(LayerError, match=r"^grids.gpkg: .*projected metres"):
        metres = grids_frame("EPSG:4547").set_crs(None, allow_override=True)
        with pytest.warns(UserWarning):
            metres.to_file(tmp_path / "grids.gpkg")
        read_layer(tmp_path / "grids.gpkg", kind="grids", crs="EPSG:4326")


# --- properties and geometry -------------------------------------------------------------------------------------


def test_duplicate_ids_are_named(tmp_path):
    gdf = grids_frame()
    gdf["id"] = ["g1", "g2", "g1"]
    with pytest.raises(LayerError) as err:
        read_layer(write(gdf, tmp_path / "grids.geojson"), kind="grids", crs=None)
    assert message(err) == ("grids.geojson: 1 duplicate id value(s) (ids must be unique): id 'g1' on features 1, 3")


def test_missing_id_field(tmp_path):
    path = write(grids_frame(), tmp_path / "grids.geojson")
    with pytest.raises(LayerError, match=r"^grids.geojson: no 'fid' property \(the feature id\); columns are \["):
        read_layer(path, kind="grids", crs=None, id_field="fid")


def test_unknown_service_type(tmp_path):
    gdf = points_frame()
    gdf.loc[1, "type"] = "bakery"
    with pytest.raises(LayerError) as err:
        read_layer(write(gdf, tmp_path / "points.geojson"), kind="service_points", crs=None)
    assert message(err).startswith("points.geojson: feature 2 (id '2'): unknown service type 'bakery'; accepted:")
    assert "party_center 党群服务中心" in message(err)


def test_missing_service_type_column(tmp_path):
    gdf = points_frame().drop(columns="type")
    with pytest.raises(LayerError, match=r"^points.geojson: no service type property"):
        read_layer(write(gdf, tmp_path / "points.geojson"), kind="service_points", crs=None)


def test_bad_grid_code(tmp_path):
    gdf = grids_frame()
    gdf.loc[2, "code"] = "44040200100200"
    with pytest.raises(LayerError) as err:
        read_layer(write(gdf, tmp_path / "grids.geojson"), kind="grids", crs=None)
    assert message(err) == (
        "grids.geojson: feature 3 (id 'g3'): grid code '44040200100200' has 14 digits, expected DB11_15 = "
        "6 district + 3 street + 3 community + 3 sequence = 15 digits"
    )


def test_grid_code_profile_is_applied(tmp_path):
    gdf = grids_frame()
    gdf["code"] = ["44040200100201", "44040200100202", "44040200100203"]
    out, _ = read_layer(write(gdf, tmp_path / "grids.gpkg"), kind="grids", crs=None, code_profile="CJT213_14")
    assert list(out["seq_code"]) == ["01", "02", "03"] and set(out["code_profile"]) == {"CJT213_14"}
    with pytest.raises(LayerError, match=r"^grids.gpkg: feature 1 \(id 'g1'\): grid code .* has 14 digits"):
        read_layer(tmp_path / "grids.gpkg", kind="grids", crs=None)


def test_numeric_codes_are_read_as_text(tmp_path):
    gdf = grids_frame()
    gdf["code"] = [440402001002001, 440402001002002, 440402001002003]
    out, _ = read_layer(write(gdf, tmp_path / "grids.gpkg"), kind="grids", crs=None)
    assert list(out["code"]) == ["440402001002001", "440402001002002", "440402001002003"]


def test_polygon_service_point_is_rejected(tmp_path):
    gdf = points_frame()
    gdf.loc[2, "geometry"] = cell(0)
    with pytest.raises(LayerError) as err:
        read_layer(write(gdf, tmp_path / "points.gpkg"), kind="service_points", crs=None)
    assert message(err) == "points.gpkg: feature 3 (id '3'): geometry is Polygon; service_points needs Point"


def test_empty_geometry_is_rejected(tmp_path):
    gdf = grids_frame()
    gdf.loc[1, "geometry"] = None
    with pytest.raises(LayerError) as err:
        read_layer(write(gdf, tmp_path / "grids.geojson"), kind="grids", crs=None)
    assert message(err) == "grids.geojson: feature 2 (id 'g2'): geometry is missing or empty"


def test_invalid_polygon_is_repaired_and_reported(tmp_path):
    gdf = grids_frame()
    gdf.loc[0, "geometry"] = Polygon([(LON, LAT), (LON + 0.005, LAT + 0.005), (LON + 0.005, LAT), (LON, LAT + 0.005)])
    out, report = read_layer(write(gdf, tmp_path / "grids.geojson"), kind="grids", crs=None)
    assert report.repair.n_repaired == 1 and report.repair.repaired[0].label == "feature 1 (id 'g1')"
    assert report.repair.area_change_m2 > 0
    assert out.geometry.is_valid.all() and out.geom_type.iloc[0] == "MultiPolygon"
    assert "repaired 1 of 3" in report.summary()


def test_corrupt_and_unsupported_files(tmp_path):
    for name in ("broken.gpkg", "broken.geojson", "broken.shp"):
        (tmp_path / name).write_bytes(b"\x00not a layer{")
        with pytest.raises(LayerError, match=rf"^{name}: cannot read the file as "):
            read_layer(tmp_path / name, kind="grids", crs="EPSG:4326")
    (tmp_path / "grids.kml").write_text("<kml/>")
    with pytest.raises(LayerError, match=r"^grids.kml: unsupported format '.kml'"):
        read_layer(tmp_path / "grids.kml", kind="grids", crs="EPSG:4326")
    with pytest.raises(LayerError, match=r"^missing.geojson: file not found"):
        read_layer(tmp_path / "missing.geojson", kind="grids", crs="EPSG:4326")
    with pytest.raises(ValueError, match="unknown layer kind"):
        read_layer(tmp_path / "missing.geojson", kind="roads", crs="EPSG:4326")


def test_bad_csv_coordinate_names_feature(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("id,type,lon,lat\nA,clinic,113.55,22.26\nB,clinic,113.5x,22.26\n")
    with pytest.raises(LayerError, match=r"^points.csv: feature 2 \(id 'B'\): lon '113.5x' is not a number"):
        read_layer(path, kind="service_points", crs="EPSG:4326")


def test_csv_row_without_coordinates_is_named(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("id,type,lon,lat\nA,clinic,113.55,22.26\nB,clinic,,22.26\n")
    with pytest.raises(LayerError, match=r"^points.csv: feature 2 \(id 'B'\): geometry is missing or empty"):
        read_layer(path, kind="service_points", crs="EPSG:4326")


def test_geojson_feature_ids(tmp_path):
    """RFC 7946 puts ids on the feature, not in properties; integer ones would otherwise vanish into GDAL FIDs."""
    path = tmp_path / "points.geojson"
    features = [
        {"type": "Feature", "id": 7, "properties": {"type": "clinic"}, "geometry": {"type": "Point", "coordinates": c}}
        for c in ([113.55, 22.26], [113.56, 22.26])
    ]
    features[1]["id"] = 8
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    gdf, _ = read_layer(path, kind="service_points", crs="EPSG:4326")
    assert list(gdf["source_id"]) == ["7", "8"]


def test_multi_layer_geopackage_needs_a_layer_name(tmp_path):
    path = tmp_path / "all.gpkg"
    grids_frame().to_file(path, layer="grids")
    points_frame().to_file(path, layer="points")
    with pytest.raises(LayerError, match=r"^all.gpkg: has 2 layers \(grids, points\); say which one"):
        read_layer(path, kind="grids", crs=None)
    gdf, _ = read_layer(path, kind="service_points", crs=None, layer="points")
    assert len(gdf) == 3
