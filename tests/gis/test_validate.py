"""gis.io.validate: position in China, geometry repair, grid tiling."""

import geopandas as gpd
import pytest
from shapely import MultiPolygon, Point, Polygon, box

from gis.errors import LayerError
from gis.io import check_geometry_types, check_grid_tiling, check_in_china, repair_geometries

ZHUHAI_GK = 4547  # CGCS2000 GK CM 114E, for building test shapes in metres
X0, Y0 = 450_000, 2_460_000  # ~113.52E, 22.24N


def lonlat(geoms, **columns) -> gpd.GeoDataFrame:
    """Shapes drawn in metres around Zhuhai, returned in EPSG:4326."""
    return gpd.GeoDataFrame(columns, geometry=geoms, crs=ZHUHAI_GK).to_crs(4326)


def m_box(x0, y0, x1, y1) -> Polygon:
    return box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)


# --- check_in_china --------------------------------------------------------------------------------------------


def test_in_china_returns_bounds():
    gdf = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[Point(113.5, 22.2), Point(116.4, 39.9)], crs=4326)
    assert check_in_china(gdf) == pytest.approx((113.5, 22.2, 116.4, 39.9))


def test_europe_is_rejected():
    gdf = gpd.GeoDataFrame({"id": ["ok", "paris"]}, geometry=[Point(113.5, 22.2), Point(2.35, 48.85)], crs=4326)
    with pytest.raises(LayerError) as err:
        check_in_china(gdf)
    message = str(err.value)
    assert "1 of 2 features lie outside China" in message
    assert "feature 2 (id 'paris')" in message
    assert "--crs" in message


def test_projected_metres_are_rejected():
    gdf = lonlat([m_box(0, 0, 100, 100)], id=["g1"]).to_crs(ZHUHAI_GK).set_crs(4326, allow_override=True)
    with pytest.raises(LayerError, match="projected metres.*declare the CRS with --crs"):
        check_in_china(gdf)


def test_swapped_lat_lon_is_rejected():
    gdf = gpd.GeoDataFrame({"id": ["p"]}, geometry=[Point(22.2, 113.5)], crs=4326)
    with pytest.raises(LayerError, match="latitude and longitude swapped"):
        check_in_china(gdf)


# --- repair_geometries ------------------------------------------------------------------------------------------


def test_bow_tie_is_repaired_and_reported():
    bow_tie = Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100)])  # two 2500 m² triangles
    gdf = lonlat([m_box(200, 0, 300, 100), bow_tie], id=["fine", "bow"])
    assert not gdf.geometry.iloc[1].is_valid
    repaired, report = repair_geometries(gdf)
    assert report.n_repaired == 1 and report.n_features == 2
    fixed = report.repaired[0]
    assert fixed.index == 1 and fixed.label == "feature 2 (id 'bow')"
    assert "Self-intersection" in fixed.reason
    assert fixed.area_before_m2 == pytest.approx(0, abs=1)
    assert fixed.area_after_m2 == pytest.approx(5000, rel=1e-3)
    assert report.area_change_m2 == pytest.approx(5000, rel=1e-3)
    assert "repaired 1 of 2" in report.summary()
    assert repaired.geometry.is_valid.all()
    assert repaired.geometry.iloc[1].geom_type == "MultiPolygon"
    assert repaired.geometry.iloc[0].equals(gdf.geometry.iloc[0])  # valid ones untouched


def test_repair_keeps_only_polygons_for_polygon_layers():
    spike = Polygon([(0, 0), (10, 0), (10, 10), (5, 10), (5, 20), (5, 10), (0, 10)])
    gdf = gpd.GeoDataFrame({"id": ["s"]}, geometry=[spike], crs=ZHUHAI_GK)
    repaired, report = repair_geometries(gdf, polygonal=True)
    assert repaired.geometry.iloc[0].geom_type == "Polygon"
    assert repaired.geometry.iloc[0].area == pytest.approx(100)
    assert report.n_repaired == 1


def test_repair_refuses_a_geometry_that_becomes_empty():
    flat = Polygon([(X0, Y0), (X0 + 50, Y0 + 50), (X0 + 100, Y0 + 100), (X0, Y0)])
    gdf = gpd.GeoDataFrame({"id": ["ok", "flat"]}, geometry=[m_box(0, 0, 10, 10), flat], crs=ZHUHAI_GK)
    with pytest.raises(LayerError, match=r"feature 2 \(id 'flat'\): geometry is invalid .* nothing polygonal"):
        repair_geometries(gdf)


@pytest.mark.parametrize("empty", [None, Polygon()])
def test_missing_or_empty_geometry_is_rejected(empty):
    gdf = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[box(113.5, 22.2, 113.51, 22.21), empty], crs=4326)
    with pytest.raises(LayerError, match=r"feature 2 \(id 'b'\): geometry is missing or empty"):
        repair_geometries(gdf)


def test_geometry_types():
    gdf = gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[box(113.5, 22.2, 113.51, 22.21), Point(113.5, 22.2)])
    with pytest.raises(LayerError, match=r"feature 2 \(id 'b'\): geometry is Point; grids needs Polygon or Multi"):
        check_geometry_types(gdf, ("Polygon", "MultiPolygon"), layer="grids")


# --- check_grid_tiling --------------------------------------------------------------------------------------------


def communities() -> gpd.GeoDataFrame:
    return lonlat([m_box(0, 0, 1000, 1000), m_box(1000, 0, 2000, 1000)], source_id=["c1", "c2"])


def test_exact_tiling_is_ok():
    grids = lonlat(
        [m_box(0, 0, 500, 1000), m_box(500, 0, 1000, 1000), m_box(1000, 0, 2000, 1000)],
        source_id=["g1", "g2", "g3"],
        community_ref=["c1", "c1", "c2"],
    )
    report = check_grid_tiling(grids, communities(), community_key="community_ref")
    assert report.ok, report.problems
    assert report.problems == []
    assert (report.n_communities, report.n_grids) == (2, 3)


def test_overlaps_gaps_outside_and_unknown_communities_are_found():
    grids = lonlat(
        [
            m_box(0, 0, 520, 1000),  # overlaps g2 by 20 m x 1000 m
            m_box(500, 0, 1000, 900),  # leaves a 500 m x 100 m gap at the top of c1
            m_box(1000, 0, 2030, 1000),  # reaches 30 m x 1000 m outside c2
            m_box(5000, 0, 5100, 100),  # belongs to a community that does not exist
            m_box(1000, 0, 1000.5, 1000),  # a sliver overlap below tolerance with g3: ignored
        ],
        source_id=["g1", "g2", "g3", "g4", "g5"],
        community_ref=["c1", "c1", "c2", "c9", "c2"],
    )
    report = check_grid_tiling(grids, communities(), community_key="community_ref", tolerance_m2=1000)
    assert not report.ok
    assert len(report.overlaps) == 1
    overlap = report.overlaps[0]
    assert (overlap.community, overlap.grid_a, overlap.grid_b) == ("c1", "g1", "g2")
    assert overlap.area_m2 == pytest.approx(20 * 900, rel=1e-3)
    assert 113.4 < overlap.location[0] < 113.6 and 22.1 < overlap.location[1] < 22.4
    assert len(report.gaps) == 1
    assert report.gaps[0].community == "c1" and report.gaps[0].area_m2 == pytest.approx(480 * 100, rel=1e-3)
    assert [(o.grid, round(o.area_m2, -2)) for o in report.outside] == [("g3", 30_000)]
    assert [(u.grid, u.community) for u in report.unknown] == [("g4", "c9")]
    text = "\n".join(report.problems)
    assert "grids 'g1' and 'g2' overlap by 18000" in text
    assert "not covered by any grid" in text
    assert "grid 'g3' reaches 30000" in text
    assert "community 'c9', which does not exist" in text
    assert "g5" not in text


def test_community_without_grids_is_one_gap():
    grids = lonlat([m_box(0, 0, 1000, 1000)], source_id=["g1"], community_ref=["c1"])
    report = check_grid_tiling(grids, communities(), community_key="community_ref")
    assert [(g.community, round(g.area_m2, -3)) for g in report.gaps] == [("c2", 1_000_000)]


def test_multipolygon_grids_and_numeric_ids():
    grids = lonlat(
        [MultiPolygon([m_box(0, 0, 500, 1000), m_box(1000, 0, 1500, 1000)]), m_box(500, 0, 1000, 1000)],
        source_id=[1, 2],
        community_ref=["c1", "c1"],
    )
    report = check_grid_tiling(grids, communities(), community_key="community_ref")
    assert [o.grid for o in report.outside] == ["1"]
    assert [g.community for g in report.gaps] == ["c2"]
