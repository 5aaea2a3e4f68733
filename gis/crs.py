"""Coordinate reference systems: the metric CRS for a piece of China, GCJ-02 / BD-09, and import to WGS84.

Storage is EPSG:4326 (WGS84); CGCS2000 (EPSG:4490) agrees with it to centimetres. Lengths and areas are computed
in a metric CRS chosen from the data, never a hard-coded zone (`metric_crs`).

GCJ-02 (国测局坐标, "火星坐标": AMap 高德, Tencent 腾讯) and BD-09 (百度坐标) are obfuscations PROJ does not know;
they shift points by 50–700 m. The forward formulas are the published ones (Krasovsky 1940 ellipsoid, a = 6378245.0,
ee = 0.00669342162296594323; BD-09 with x_pi = pi * 3000 / 180). The inverses are exact: fixed-point iteration on
the forward formula (as prcoords' ``gcj_wgs_bored``) until the round trip is below 1e-9 degrees (~0.1 mm).

Outside China (the standard ``out_of_china`` box lon 72.004–137.8347, lat 0.8293–55.8271) GCJ-02 leaves points
unchanged, as every published implementation does. BD-09 is applied everywhere (it is defined on GCJ-02).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from gis.errors import CrsError

__all__ = [
    "SUPPORTED_CRS",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "crs_name",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "gk_zone_epsg",
    "lonlat_to",
    "metric_crs",
    "normalize_crs",
    "reconcile_crs",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

WGS84 = "EPSG:4326"
GCJ02 = "GCJ-02"
BD09 = "BD-09"

SUPPORTED_CRS: tuple[str, ...] = (
    "EPSG:4326 (WGS84; aliases wgs84, 4326)",
    "EPSG:4490 (CGCS2000; alias cgcs2000)",
    "EPSG:nnnn for any horizontal CRS pyproj knows (e.g. CGCS2000 3-degree Gauss-Kruger EPSG:4534-4554, UTM 326nn)",
    "GCJ-02 (AMap 高德 / Tencent 腾讯; aliases gcj02, gcj)",
    "BD-09 (Baidu 百度; aliases bd09, bd09ll, baidu)",
)

_ALIASES = {
    "wgs84": WGS84,
    "wgs-84": WGS84,
    "cgcs2000": "EPSG:4490",
    "gcj-02": GCJ02,
    "gcj02": GCJ02,
    "gcj": GCJ02,
    "bd-09": BD09,
    "bd09": BD09,
    "bd09ll": BD09,
    "baidu": BD09,
}

# China's extent for choosing a Gauss-Krüger zone rather than UTM (wider than the mainland on purpose).
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)
# EPSG:4534..4554 are "CGCS2000 / 3-degree Gauss-Kruger CM 75E" .. "CM 135E" (no zone prefix in the false easting,
# so eastings are ~500 km); EPSG:4513..4533 are the same zones *with* the zone number prefixed. Checked with pyproj
# in tests/test_crs.py::test_gk_epsg_codes_are_cm_variants.
GK_FIRST_EPSG = 4534
GK_CM_RANGE = (75, 135)


# --- metric CRS ---------------------------------------------------------------------------------------------


def gk_zone_epsg(lon: float) -> int:
    """EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (CM variant) whose central meridian is nearest `lon`."""
    cm = min(max(3 * round(lon / 3), GK_CM_RANGE[0]), GK_CM_RANGE[1])
    return GK_FIRST_EPSG + (cm - GK_CM_RANGE[0]) // 3


def _utm_epsg(lon: float, lat: float) -> int:
    zone = min(int((lon + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def _center_lonlat(data: Any) -> tuple[float, float]:
    """Centre (lon, lat) of the data's bounding box, in WGS84."""
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(v, int | float) for v in data):
        return float(data[0]), float(data[1])
    if isinstance(data, gpd.GeoDataFrame | gpd.GeoSeries):
        series = data.geometry
        if series.crs is not None and not series.crs.equals(CRS(4326), ignore_axis_order=True):
            series = series.to_crs(4326)
        bounds = series.total_bounds
    else:
        geoms = np.asarray(list(data) if isinstance(data, Iterable) else [data], dtype=object)
        bounds = shapely.total_bounds(geoms)
    if not np.all(np.isfinite(bounds)):
        raise CrsError("cannot choose a metric CRS: the data has no coordinates (empty or missing geometries)")
    return (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2


def metric_crs(data: Any) -> CRS:
    """The metric CRS for measuring `data`: a CGCS2000 3-degree Gauss-Krüger zone in China, else UTM.

    Web Mercator overstates lengths by 8–30 % in China and one hard-coded zone fails in another city, so the zone
    is chosen from the centre of the data's bounding box (within 1.5° of the central meridian, scale error
    < 0.04 %). Outside China's extent (lon 73–136, lat 3–54) the WGS84 UTM zone of the centre is used.

    Parameters
    ----------
    data : GeoDataFrame, GeoSeries (any CRS; without one it is taken as lon/lat), shapely geometries in lon/lat,
        or a ``(lon, lat)`` tuple.
    """
    lon, lat = _center_lonlat(data)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise CrsError(f"cannot choose a metric CRS: centre ({lon:g}, {lat:g}) is not a longitude/latitude")
    if CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]:
        return CRS.from_epsg(gk_zone_epsg(lon))
    return CRS.from_epsg(_utm_epsg(lon, lat))


@lru_cache(maxsize=32)
def lonlat_to(crs: CRS) -> Transformer:
    """The transformer from lon/lat (WGS84, x = lon) to `crs`, one per CRS for the process, cheap in every thread.

    Making one from WGS84 to a CGCS2000 zone costs ~50 ms (PROJ searches its database for the datum change), and a
    pyproj Transformer makes its PROJ object again in every thread that first uses it: a server's thread pool would
    pay that per thread. So the operation PROJ chose is kept as its pipeline, which a thread builds in ~0.3 ms;
    checked at the centre of the CRS's area of use to give the same point (else the chosen transformer is kept)."""
    chosen = Transformer.from_crs(WGS84, crs, always_xy=True)
    try:
        pipeline = Transformer.from_pipeline(chosen.definition)
    except ProjError:
        return chosen
    area = crs.area_of_use
    lon, lat = ((area.west + area.east) / 2, (area.south + area.north) / 2) if area is not None else (0.0, 0.0)
    same = np.allclose(pipeline.transform(lon, lat), chosen.transform(lon, lat), rtol=0, atol=1e-6)
    return pipeline if same else chosen


# --- GCJ-02 and BD-09 ----------------------------------------------------------------------------------------

_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
_INVERSE_TOL = 1e-9  # degrees, ~0.1 mm
_INVERSE_MAX_ITER = 30

Coords = tuple[np.ndarray, np.ndarray] | tuple[float, float]


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return ~((lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271))


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published GCJ-02 offset (degrees) at WGS84 (lon, lat)."""
    x, y = lon - 105.0, lat - 35.0
    pi = math.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    dlat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    dlon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1 - _GCJ_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * sqrtmagic) * pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrtmagic * np.cos(radlat) * pi)
    out = _out_of_china(lon, lat)
    return np.where(out, 0.0, dlon), np.where(out, 0.0, dlat)


def _as_arrays(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return lon_a, lat_a, scalar


def _result(lon: np.ndarray, lat: np.ndarray, scalar: bool) -> Coords:
    return (float(lon), float(lat)) if scalar else (lon, lat)


def _wgs_gcj(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def _gcj_bd(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(
    forward: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    lon: np.ndarray,
    lat: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact inverse of a near-identity `forward` by fixed-point iteration: x <- x - (forward(x) - target).

    The offsets vary by ~1e-5 per degree, so each step gains ~5 digits; two or three steps reach 1e-9°.
    Points that do not converge in 30 steps (only possible on the edge of the out-of-China box, where GCJ-02 jumps)
    keep their last estimate.
    """
    x, y = lon.copy(), lat.copy()
    for _ in range(_INVERSE_MAX_ITER):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        if not np.any((np.abs(ex) > _INVERSE_TOL) | (np.abs(ey) > _INVERSE_TOL)):
            break
        x, y = x - ex, y - ey
    return x, y


def wgs84_to_gcj02(lon: Any, lat: Any) -> Coords:
    """WGS84 → GCJ-02 (火星坐标), for drawing on AMap tiles. Vectorised; scalars in, scalars out."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _result(*_wgs_gcj(lon_a, lat_a), scalar)


def gcj02_to_wgs84(lon: Any, lat: Any) -> Coords:
    """GCJ-02 → WGS84, exact by iteration (round trip < 1e-9°). Unchanged outside China."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _result(*_invert(_wgs_gcj, lon_a, lat_a), scalar)


def gcj02_to_bd09(lon: Any, lat: Any) -> Coords:
    """GCJ-02 → BD-09 (百度坐标)."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _result(*_gcj_bd(lon_a, lat_a), scalar)


def bd09_to_gcj02(lon: Any, lat: Any) -> Coords:
    """BD-09 → GCJ-02, exact by iteration (the usual closed-form inverse is off by up to ~1 m)."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _result(*_invert(_gcj_bd, lon_a, lat_a), scalar)


def wgs84_to_bd09(lon: Any, lat: Any) -> Coords:
    """WGS84 → BD-09 (via GCJ-02)."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _result(*_gcj_bd(*_wgs_gcj(lon_a, lat_a)), scalar)


def bd09_to_wgs84(lon: Any, lat: Any) -> Coords:
    """BD-09 → WGS84 (via GCJ-02), exact by iteration."""
    lon_a, lat_a, scalar = _as_arrays(lon, lat)
    return _result(*_invert(_wgs_gcj, *_invert(_gcj_bd, lon_a, lat_a)), scalar)


# --- declared CRS → WGS84 -------------------------------------------------------------------------------------


def _accepted() -> str:
    return "accepted: " + "; ".join(SUPPORTED_CRS)


def normalize_crs(crs: str) -> str:
    """Canonical name of a user-declared CRS: 'GCJ-02', 'BD-09' or 'EPSG:nnnn'. Raise `CrsError` if unusable."""
    if not isinstance(crs, str) or not crs.strip():
        raise CrsError(f"no CRS given ({crs!r}); {_accepted()}")
    text = crs.strip()
    key = text.lower()
    if key in _ALIASES:
        return _ALIASES[key]
    match = re.fullmatch(r"(?:epsg:)?(\d{4,6})", key)
    if not match:
        raise CrsError(f"unknown CRS {text!r}; {_accepted()}")
    name = f"EPSG:{match.group(1)}"
    try:
        parsed = CRS.from_user_input(name)
    except CRSError as exc:
        raise CrsError(f"unknown CRS {text!r} (pyproj: {exc}); {_accepted()}") from exc
    if not (parsed.is_geographic or parsed.is_projected) or parsed.is_vertical:
        raise CrsError(f"CRS {text!r} ({parsed.name}) is not a horizontal CRS; {_accepted()}")
    return name


def crs_name(crs: CRS) -> str:
    """'EPSG:nnnn' for a pyproj CRS (OGC:CRS84 counts as EPSG:4326), else its name."""
    if crs.equals(CRS(4326), ignore_axis_order=True):
        return WGS84
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code else crs.name


def reconcile_crs(declared: CRS | None, given: str | None) -> tuple[str, list[str]]:
    """The CRS to read a file in, from what the file declares and what the user says; and notes for the user.

    Raises `CrsError` when neither is known or they disagree ("file says EPSG:3857, you said EPSG:4326"), except:
    EPSG:4326 vs EPSG:4490 (equal to centimetres: the user's is used), and GCJ-02/BD-09 said of a file declaring
    WGS84/CGCS2000 lon/lat (no file format can declare GCJ-02, so the user's word wins). Both cases leave a note.
    """
    if given is None:
        if declared is None:
            raise CrsError(f"the CRS is unknown: declare it; {_accepted()}")
        name = crs_name(declared)
        if not name.startswith("EPSG:"):
            raise CrsError(f"the file's CRS ({name}) has no EPSG code; give its EPSG code with --crs")
        return normalize_crs(name), []
    name = normalize_crs(given)
    if declared is None:
        return name, []
    said = crs_name(declared)
    lonlat = {WGS84, "EPSG:4490"}
    if name in (GCJ02, BD09):
        if said in lonlat:
            return name, [f"the file says {said}, you said {name}: no file can declare {name}, so using {name}"]
        raise CrsError(f"file says {said}, you said {given}: {name} coordinates are longitude/latitude")
    if said == name or declared.equals(CRS(name), ignore_axis_order=True):
        return name, []
    if said in lonlat and name in lonlat:
        return name, [f"the file says {said}, you said {name}: the same to centimetres; using {name}"]
    raise CrsError(f"file says {said}, you said {given}; leave out --crs to use the file's CRS, or fix the file")


def _shift_coords(inverse: Callable[[Any, Any], Coords]) -> Callable[[np.ndarray], np.ndarray]:
    def apply(coords: np.ndarray) -> np.ndarray:
        out = coords.copy()
        out[:, 0], out[:, 1] = inverse(coords[:, 0], coords[:, 1])
        return out

    return apply


def to_wgs84(gdf: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """Return a copy of `gdf` in EPSG:4326, its coordinates being in the declared `crs`.

    The frame's own ``crs`` attribute is ignored (the caller has decided what the coordinates are). EPSG codes go
    through pyproj, including EPSG:4490 (CGCS2000 ≈ WGS84 to centimetres); GCJ-02 and BD-09 are inverted exactly
    with `shapely.transform`. Z values are kept.
    """
    name = normalize_crs(crs)
    out = gdf.copy()
    if name in (GCJ02, BD09):
        inverse = gcj02_to_wgs84 if name == GCJ02 else bd09_to_wgs84
        geoms = shapely.transform(np.asarray(out.geometry.values), _shift_coords(inverse), include_z=True)
        out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=WGS84))
        return out.set_crs(WGS84, allow_override=True)
    return out.set_crs(name, allow_override=True).to_crs(WGS84)
