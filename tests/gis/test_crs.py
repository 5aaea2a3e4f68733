"""gis.crs: metric CRS choice, GCJ-02 / BD-09 conversions, declared CRS → WGS84."""

import threading

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS, Geod, Transformer
from shapely import LineString, Point, Polygon

from gis.crs import (
    SUPPORTED_CRS,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    lonlat_to,
    metric_crs,
    normalize_crs,
    reconcile_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from gis.errors import CrsError

GEOD = Geod(ellps="WGS84")


def metres(lon0, lat0, lon1, lat1) -> np.ndarray:
    return GEOD.inv(lon0, lat0, lon1, lat1)[2]


# --- metric CRS --------------------------------------------------------------------------------------------------


def test_gk_epsg_codes_are_cm_variants():
    """EPSG 4534 + (CM − 75)/3 is the CGCS2000 3° GK zone with central meridian CM and no zone prefix."""
    for cm in range(75, 136, 3):
        crs = CRS.from_epsg(4534 + (cm - 75) // 3)
        assert crs.name == f"CGCS2000 / 3-degree Gauss-Kruger CM {cm}E"
        params = {p.name: p.value for p in crs.coordinate_operation.params}
        assert params["Longitude of natural origin"] == cm
        assert params["False easting"] == 500000
        assert params["Scale factor at natural origin"] == 1
        assert crs.geodetic_crs.name == "China Geodetic Coordinate System 2000"


def test_metric_crs_depends_on_the_data():
    zhuhai = metric_crs((113.5, 22.25))
    beijing = metric_crs((116.5, 39.9))
    assert zhuhai.to_epsg() == 4547  # CM 114E
    assert beijing.to_epsg() == 4548  # CM 117E
    assert metric_crs((2.35, 48.85)).to_epsg() == 32631  # Paris: UTM 31N
    assert metric_crs((-70.6, -33.4)).to_epsg() == 32719  # Santiago: UTM 19S


@pytest.mark.parametrize("where", [(116.4, 39.9), (121.5, 31.2), (2.35, 48.86)], ids=["beijing", "shanghai", "paris"])
def test_lonlat_to_is_one_transformer_per_crs_and_agrees_with_pyproj(where):
    """The due list snaps a worker's position with it from the server's threads: one transformer per CRS (kept
    as PROJ's chosen pipeline, cheap in a new thread), giving in another thread what pyproj's own gives."""
    zone = metric_crs(where)
    shared = lonlat_to(zone)
    assert lonlat_to(CRS.from_epsg(zone.to_epsg())) is shared
    assert lonlat_to(metric_crs((where[0] + 6, where[1]))) is not shared
    fresh = Transformer.from_crs("EPSG:4326", zone, always_xy=True)
    points = [(where[0] + dx, where[1] + dy) for dx in (-0.5, 0, 0.5) for dy in (-0.5, 0, 0.5)]
    found: list = []

    def use() -> None:
        found.extend(shared.transform(*p) for p in points)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert len(found) == len(points)
    for point, got in zip(points, found, strict=True):
        assert got == pytest.approx(fresh.transform(*point), abs=1e-6)


def test_metric_crs_accepts_frames_geometries_and_other_crs():
    gdf = gpd.GeoDataFrame(geometry=[Point(113.5, 22.25), Point(113.6, 22.3)], crs=4326)
    assert metric_crs(gdf).to_epsg() == 4547
    assert metric_crs(gdf.to_crs(3857)).to_epsg() == 4547
    assert metric_crs(gdf.geometry).to_epsg() == 4547
    assert metric_crs(list(gdf.geometry)).to_epsg() == 4547
    assert metric_crs(Point(87.6, 43.8)).to_epsg() == 4538  # Urumqi, CM 87E
    with pytest.raises(CrsError, match="no coordinates"):
        metric_crs(gpd.GeoDataFrame(geometry=[], crs=4326))


@pytest.mark.parametrize("lon, lat", [(113.5, 22.25), (116.5, 39.9), (87.6, 43.8), (126.6, 45.75)])
def test_metric_lengths_and_areas_agree_with_geodesic(lon, lat):
    line = LineString([(lon, lat), (lon + 0.011, lat + 0.004), (lon + 0.02, lat - 0.003)])  # ~2 km walk
    square = Polygon([(lon, lat), (lon + 0.01, lat), (lon + 0.01, lat + 0.01), (lon, lat + 0.01)])
    gdf = gpd.GeoDataFrame(geometry=[line, square], crs=4326)
    projected = gdf.to_crs(metric_crs(gdf))
    geodesic_length = GEOD.geometry_length(line)
    geodesic_area = abs(GEOD.geometry_area_perimeter(square)[0])
    assert projected.length.iloc[0] == pytest.approx(geodesic_length, rel=1e-3)
    assert projected.area.iloc[1] == pytest.approx(geodesic_area, rel=2e-3)
    # Web Mercator, the thing this replaces, is off by far more
    assert gdf.to_crs(3857).length.iloc[0] / geodesic_length - 1 > 0.07


# --- GCJ-02 / BD-09 ------------------------------------------------------------------------------------------------


def test_forward_matches_published_values():
    """Values printed by wandergis/coordtransform (test/app.js) for (116.404, 39.915)."""
    assert wgs84_to_gcj02(116.404, 39.915) == pytest.approx((116.41024449916938, 39.91640428150164), abs=1e-12)
    assert gcj02_to_bd09(116.404, 39.915) == pytest.approx((116.41036949371029, 39.92133699351021), abs=1e-12)


def test_exact_inverse_improves_on_published_one_step_inverse():
    """The one-step inverses published with the same library are within ~1 m; ours round-trip exactly."""
    approx_gcj = (116.39762729119315, 39.90865673957631)  # bd09togcj02(116.404, 39.915), closed form
    approx_wgs = (116.39775550083061, 39.91359571849836)  # gcj02towgs84(116.404, 39.915), one step
    gcj = bd09_to_gcj02(116.404, 39.915)
    wgs = gcj02_to_wgs84(116.404, 39.915)
    assert metres(*gcj, *approx_gcj) < 1.0
    assert metres(*wgs, *approx_wgs) < 1.0
    assert gcj02_to_bd09(*gcj) == pytest.approx((116.404, 39.915), abs=1e-9)
    assert wgs84_to_gcj02(*wgs) == pytest.approx((116.404, 39.915), abs=1e-9)


def test_tiananmen():
    """WGS84 (116.397428, 39.90923) → GCJ-02. The often-quoted (116.403671, 39.910625) is rounded: the formula
    gives (116.4036716, 39.9106335), 0.94 m from it; the shift itself is ~550 m."""
    lon, lat = wgs84_to_gcj02(116.397428, 39.90923)
    assert (lon, lat) == pytest.approx((116.40367163, 39.91063351), abs=1e-8)
    assert metres(lon, lat, 116.403671, 39.910625) < 1.0
    assert 500 < metres(116.397428, 39.90923, lon, lat) < 600


def test_round_trips_are_below_a_centimetre_across_china():
    rng = np.random.default_rng(20240601)
    lon = rng.uniform(73.5, 135.0, 200_000)
    lat = rng.uniform(18.0, 53.5, 200_000)
    cases = [(wgs84_to_gcj02, gcj02_to_wgs84), (gcj02_to_bd09, bd09_to_gcj02), (wgs84_to_bd09, bd09_to_wgs84)]
    for forward, inverse in cases:
        shifted = forward(lon, lat)
        assert isinstance(shifted[0], np.ndarray) and shifted[0].shape == lon.shape
        back_lon, back_lat = inverse(*shifted)
        assert np.abs(back_lon - lon).max() < 1e-9 and np.abs(back_lat - lat).max() < 1e-9
        error_m = metres(lon, lat, back_lon, back_lat)
        assert error_m.max() < 0.01, f"{inverse.__name__}: {error_m.max()} m"
        offset_m = metres(lon, lat, *shifted)
        assert offset_m.min() > 5 and offset_m.max() < 2000  # a real shift everywhere (GCJ-02 18–1150 m)


def test_scalars_and_shapes():
    lon, lat = wgs84_to_gcj02(113.5, 22.25)
    assert isinstance(lon, float) and isinstance(lat, float)
    grid_lon, grid_lat = np.meshgrid(np.linspace(113, 114, 4), np.linspace(22, 23, 3))
    out_lon, out_lat = bd09_to_wgs84(grid_lon, grid_lat)
    assert out_lon.shape == (3, 4) and out_lat.shape == (3, 4)


def test_gcj02_leaves_points_outside_china_unchanged():
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert gcj02_to_wgs84(2.35, 48.85) == (2.35, 48.85)
    lon, lat = wgs84_to_gcj02(np.array([2.35, 113.5]), np.array([48.85, 22.25]))
    assert lon[0] == 2.35 and lon[1] != 113.5


# --- to_wgs84 ------------------------------------------------------------------------------------------------------


def frame() -> gpd.GeoDataFrame:
    square = Polygon([(113.50, 22.25), (113.51, 22.25), (113.51, 22.26), (113.50, 22.26)])
    return gpd.GeoDataFrame({"id": ["a", "b"]}, geometry=[Point(113.52, 22.27), square])


@pytest.mark.parametrize(
    "name, inverse",
    [("GCJ-02", gcj02_to_wgs84), ("gcj02", gcj02_to_wgs84), ("BD-09", bd09_to_wgs84), ("bd09", bd09_to_wgs84)],
)
def test_to_wgs84_shifts_gcj_and_bd(name, inverse):
    out = to_wgs84(frame(), name)
    assert out.crs.to_epsg() == 4326
    assert list(out["id"]) == ["a", "b"]
    expected = inverse(113.52, 22.27)
    assert (out.geometry.iloc[0].x, out.geometry.iloc[0].y) == pytest.approx(expected, abs=1e-12)
    coords = shapely.get_coordinates(out.geometry.iloc[1])
    assert np.allclose(coords, np.column_stack(inverse(*shapely.get_coordinates(frame().geometry.iloc[1]).T)))


def test_to_wgs84_keeps_z():
    gdf = gpd.GeoDataFrame(geometry=[Point(113.52, 22.27, 12.5), Point(113.5, 22.2)])
    out = to_wgs84(gdf, "GCJ-02")
    assert out.geometry.iloc[0].has_z and out.geometry.iloc[0].z == 12.5
    assert not out.geometry.iloc[1].has_z


def test_to_wgs84_through_pyproj():
    wgs = frame().set_crs(4326)
    projected = wgs.to_crs(4547)
    back = to_wgs84(projected.set_crs(None, allow_override=True), "EPSG:4547")
    assert np.allclose(shapely.get_coordinates(back.geometry), shapely.get_coordinates(wgs.geometry), atol=1e-9)
    cgcs = to_wgs84(frame(), "epsg:4490")
    assert cgcs.crs.to_epsg() == 4326
    assert np.allclose(shapely.get_coordinates(cgcs.geometry), shapely.get_coordinates(frame().geometry), atol=1e-7)
    utm = to_wgs84(wgs.to_crs(32649), "EPSG:32649")
    assert np.allclose(shapely.get_coordinates(utm.geometry), shapely.get_coordinates(wgs.geometry), atol=1e-9)


def test_normalize_crs_aliases():
    assert normalize_crs("wgs84") == "EPSG:4326"
    assert normalize_crs("4490") == "EPSG:4490"
    assert normalize_crs(" Gcj-02 ") == "GCJ-02"
    assert normalize_crs("BD09LL") == "BD-09"
    assert normalize_crs("EPSG:4547") == "EPSG:4547"


@pytest.mark.parametrize("bad", ["mars", "EPSG:999999", "EPSG:5773", "", "+proj=longlat"])
def test_unknown_crs_is_named_and_accepted_ones_listed(bad):
    with pytest.raises(CrsError) as err:
        to_wgs84(frame(), bad)
    message = str(err.value)
    assert repr(bad.strip()) in message or repr(bad) in message
    assert "accepted:" in message and "GCJ-02" in message and "EPSG:4490" in message
    assert isinstance(err.value, ValueError)
    assert len(SUPPORTED_CRS) == 5


def test_reconcile_declared_and_given_crs():
    assert reconcile_crs(CRS("OGC:CRS84"), None) == ("EPSG:4326", [])
    assert reconcile_crs(CRS(4547), "epsg:4547") == ("EPSG:4547", [])
    assert reconcile_crs(None, "bd09") == ("BD-09", [])
    name, notes = reconcile_crs(CRS(4326), "GCJ-02")
    assert name == "GCJ-02" and "no file can declare GCJ-02" in notes[0]
    name, notes = reconcile_crs(CRS(4490), "EPSG:4326")
    assert name == "EPSG:4326" and "the same to centimetres" in notes[0]
    with pytest.raises(CrsError, match="file says EPSG:3857, you said EPSG:4326"):
        reconcile_crs(CRS(3857), "EPSG:4326")
    with pytest.raises(CrsError, match="file says EPSG:4547, you said GCJ-02"):
        reconcile_crs(CRS(4547), "GCJ-02")
    with pytest.raises(CrsError, match="the CRS is unknown"):
        reconcile_crs(None, None)
