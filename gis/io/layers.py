"""Read a user's layer file (GeoJSON, GeoPackage, Shapefile, CSV) into a validated WGS84 GeoDataFrame.

`read_layer` returns the columns of docs/layers.md for the kind (plus ``source``, ``source_id`` and ``geometry``)
and a `LayerReport`. Every error is a `LayerError` whose message starts with the file name and names the feature
and the problem.

The CRS rule (输入坐标系必须声明): a file whose CRS is unknown is refused unless ``crs`` is given.

- CSV never has a CRS: ``crs`` is required.
- Shapefile without ``.prj`` and GeoPackage without a spatial reference: ``crs`` is required.
- GeoJSON without a ``crs`` member is WGS84 by RFC 7946, but GeoJSON exported from AMap/Tencent/Baidu tools is often
  GCJ-02/BD-09 (50–700 m off) with nothing in the file saying so; it is refused too unless ``crs`` is given
  (``crs='EPSG:4326'`` when it really is WGS84). A GeoJSON file with a ``crs`` member is read in that CRS.
- A declared CRS that differs from ``crs`` is an error ("file says EPSG:3857, you said EPSG:4326"), except:
  EPSG:4326 vs EPSG:4490 (equal to centimetres; the given one is used, with a note), and GCJ-02/BD-09 given for a file
  declaring geographic WGS84/CGCS2000 (no file format can declare GCJ-02, so the user's word wins, with a note).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from gis.crs import WGS84, crs_name, reconcile_crs, to_wgs84
from gis.errors import CrsError, GridCodeError, LayerError
from gis.grids.codes import get_profile
from gis.io._fields import COLUMNS, SERVICE_TYPES, _column, _fail, _source_ids, layer_columns, service_type
from gis.io.validate import (
    RepairReport,
    check_geometries_present,
    check_geometry_types,
    check_in_china,
    repair_geometries,
)

__all__ = ["COLUMNS", "KINDS", "SERVICE_TYPES", "LayerReport", "read_layer", "service_type"]

KINDS = ("grids", "communities", "buildings", "service_points")
POLYGON_KINDS = frozenset({"grids", "communities", "buildings"})
LON_NAMES = ("lon", "lng", "long", "longitude", "x", "经度")
LAT_NAMES = ("lat", "latitude", "y", "纬度")
FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GeoPackage", ".shp": "Shapefile", ".csv": "CSV"}


@dataclass
class LayerReport:
    """How a layer file was read: CRS used and declared, repairs, and notes for the user."""

    path: str
    kind: str
    format: str
    n_features: int
    crs: str
    declared_crs: str | None
    bounds: tuple[float, float, float, float]
    repair: RepairReport
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        head = f"{Path(self.path).name}: {self.n_features} {self.kind} ({self.format}, CRS {self.crs})"
        return "\n".join([head, self.repair.summary(), *self.notes])


# --- reading ------------------------------------------------------------------------------------------------------


def _read_csv(path: Path, lon_field: str | None, lat_field: str | None, id_field: str) -> gpd.GeoDataFrame:
    """CSV with lon/lat columns; UTF-8 (with or without BOM) or GB18030 (Excel exports in China)."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030")
    lon_col = lon_field if lon_field else _column(df, LON_NAMES)
    lat_col = lat_field if lat_field else _column(df, LAT_NAMES)
    for col, what, names in ((lon_col, "longitude", LON_NAMES), (lat_col, "latitude", LAT_NAMES)):
        if col is None or col not in df.columns:
            wanted = repr(col) if col else "one of " + ", ".join(names)
            raise LayerError(f"no {what} column ({wanted}); columns are {list(df.columns)}")
    coords = []
    for col in (lon_col, lat_col):
        raw = df[col].str.strip()
        coords.append(pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float))
        bad = np.isnan(coords[-1]) & (raw != "").to_numpy()
        _fail(df, [(i, f"{col} {raw[i]!r} is not a number") for i in df.index[bad]], id_field)
    geometry = shapely.points(np.column_stack(coords))
    geometry[np.isnan(coords).any(axis=0)] = None  # reported as "geometry is missing" with the feature named
    return gpd.GeoDataFrame(df.drop(columns=[lon_col, lat_col]), geometry=geometry)


def _excerpt(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _positions(coordinates: Any) -> Iterator[Any]:
    """The positions of a GeoJSON coordinates array (a position is the innermost list, or a stray scalar)."""
    if isinstance(coordinates, list) and coordinates and isinstance(coordinates[0], list):
        for item in coordinates:
            yield from _positions(item)
    else:
        yield coordinates


def coordinate_problem(geometry: Any) -> str | None:
    """Why GDAL cannot read a GeoJSON geometry's coordinates (it drops the geometry with only a warning), or None.

    A missing geometry (null) is not a coordinate problem: check_geometries_present names it.
    """
    if not isinstance(geometry, dict):
        return None
    if geometry.get("type") == "GeometryCollection":
        parts = geometry.get("geometries")
        return next((p for p in map(coordinate_problem, parts if isinstance(parts, list) else []) if p), None)
    if "coordinates" not in geometry:
        return f"{geometry.get('type', 'geometry')} has no coordinates"
    for position in _positions(geometry["coordinates"]):
        if position == []:
            continue  # an empty geometry: named as empty later
        numbers = isinstance(position, list) and all(
            isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in position
        )
        if not numbers:
            return f"coordinates {_excerpt(position)} are not numbers"
        if len(position) < 2:
            return f"coordinates {_excerpt(position)} need a longitude and a latitude"
    return None


def _read(
    path: Path, fmt: str, layer: str | None, lon_field: str | None, lat_field: str | None, id_field: str
) -> tuple[gpd.GeoDataFrame, CRS | None]:
    """The raw frame and the CRS the file declares (None when it declares none)."""
    if fmt == "CSV":
        return _read_csv(path, lon_field, lat_field, id_field), None
    if layer is None and fmt == "GeoPackage":
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        if len(layers) > 1:
            raise LayerError(f"has {len(layers)} layers ({', '.join(layers)}); say which one to read")
    with warnings.catch_warnings():
        # GDAL warns about unreadable coordinates and drops the geometry; coordinate_problem says which and why.
        warnings.simplefilter("ignore", RuntimeWarning)
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    declared = gdf.crs
    if fmt == "GeoJSON":
        with path.open("rb") as fh:
            data = json.load(fh)
        if not (isinstance(data, dict) and data.get("crs")):
            declared = None  # GDAL assumes WGS84 for every GeoJSON; we want to know whether the file said so
        features = data.get("features") or [] if isinstance(data, dict) else []
        if "id" not in gdf.columns and features and all("id" in f for f in features) and len(features) == len(gdf):
            gdf["id"] = [f["id"] for f in features]  # RFC 7946 feature ids (GDAL hides integer ones as FIDs)
        if len(features) == len(gdf):
            geometries = [f.get("geometry") if isinstance(f, dict) else None for f in features]
            problems = [(i, coordinate_problem(g)) for i, g in enumerate(geometries)]
            _fail(gdf, [(i, why) for i, why in problems if why], id_field)
    return gdf, declared


def _resolve_crs(declared: CRS | None, given: str | None, fmt: str) -> tuple[str, list[str]]:
    """The CRS to read the coordinates in, following the module's rule, and notes for the report."""
    if given is None and declared is None:
        why = {
            "CSV": "a CSV file has no CRS",
            "GeoJSON": "the GeoJSON file declares no CRS: RFC 7946 means WGS84, but GeoJSON from AMap/Tencent/Baidu "
            "tools is often GCJ-02/BD-09, so say which (--crs EPSG:4326 if it really is WGS84)",
            "Shapefile": "the Shapefile has no .prj file, so its CRS is unknown",
        }.get(fmt, "the file declares no CRS")
        raise LayerError(f"{why}; declare it with --crs (e.g. EPSG:4326, EPSG:4490, GCJ-02, BD-09)")
    return reconcile_crs(declared, given)


@contextmanager
def _named(path: Path) -> Iterator[None]:
    """Prefix every LayerError (and CRS / grid code error) with the file name."""
    try:
        yield
    except (LayerError, CrsError, GridCodeError) as exc:
        raise LayerError(f"{path.name}: {exc}") from exc


def read_layer(
    path: str | Path,
    *,
    kind: str,
    crs: str | None,
    id_field: str = "id",
    lon_field: str | None = None,
    lat_field: str | None = None,
    code_profile: str = "DB11_15",
    layer: str | None = None,
) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """Read, convert to WGS84 and validate one layer file.

    Parameters
    ----------
    kind : 'grids' (网格), 'communities' (社区), 'buildings' (楼栋) or 'service_points' (服务阵地).
    crs : the CRS the coordinates are in ('EPSG:4326', 'EPSG:4490', 'EPSG:4547', 'GCJ-02', 'BD-09', …); None to
        use the file's declared CRS. See the module docstring for when it is required.
    id_field : property holding each feature's id in the source (required, unique) → ``source_id``.
    lon_field, lat_field : CSV coordinate columns; default: auto-detect lon/lng/longitude/x and lat/latitude/y.
    code_profile : grid code profile for grids ('DB11_15' or 'CJT213_14').
    layer : layer name in a multi-layer GeoPackage.

    Raises
    ------
    LayerError
        The message starts with the file name, then names the feature(s) and the problem.
    """
    path = Path(path)
    if kind not in KINDS:
        raise ValueError(f"unknown layer kind {kind!r}; expected one of {', '.join(KINDS)}")
    with _named(path):
        return _read_layer(path, kind, crs, id_field, lon_field, lat_field, get_profile(code_profile).name, layer)


def _read_layer(
    path: Path,
    kind: str,
    crs: str | None,
    id_field: str,
    lon: str | None,
    lat: str | None,
    profile: str,
    layer: str | None,
) -> tuple[gpd.GeoDataFrame, LayerReport]:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise LayerError(f"unsupported format {path.suffix!r}; use {', '.join(sorted(set(FORMATS.values())))}")
    if not path.is_file():
        raise LayerError("file not found")
    try:
        raw, declared = _read(path, fmt, layer, lon, lat, id_field)
    except LayerError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same thing to the user
        raise LayerError(f"cannot read the file as {fmt} ({type(exc).__name__}: {exc})") from exc
    if raw.empty:
        raise LayerError("the file has no features")
    raw = raw.reset_index(drop=True)
    ids = _source_ids(raw, id_field)
    crs_used, notes = _resolve_crs(declared, crs, fmt)
    check_geometries_present(raw, id_field=id_field)
    gdf = to_wgs84(raw, crs_used)
    if kind == "service_points":  # a one-point MultiPoint is a Point
        values = np.asarray(gdf.geometry.values).copy()
        single = (shapely.get_type_id(values) == 4) & (shapely.get_num_geometries(values) == 1)
        values[single] = shapely.get_geometry(values[single], 0)
        gdf = gdf.set_geometry(gpd.GeoSeries(values, index=gdf.index, crs=WGS84))
        check_geometry_types(gdf, ("Point",), id_field=id_field, layer=kind)
    else:
        check_geometry_types(gdf, ("Polygon", "MultiPolygon"), id_field=id_field, layer=kind)
    bounds = check_in_china(gdf, id_field=id_field)
    gdf, repair = repair_geometries(gdf, polygonal=kind in POLYGON_KINDS, id_field=id_field)
    columns = layer_columns(kind, gdf, id_field, profile, notes)
    geometry = shapely.force_2d(np.asarray(gdf.geometry.values))
    if kind in POLYGON_KINDS:
        polygon = shapely.get_type_id(geometry) == 3
        geometry[polygon] = [shapely.MultiPolygon([g]) for g in geometry[polygon]]
    out = gpd.GeoDataFrame(
        {"source": f"file:{path.name}", "source_id": ids, **columns}, geometry=list(geometry), crs=WGS84
    )
    report = LayerReport(
        path=str(path),
        kind=kind,
        format=fmt,
        n_features=len(out),
        crs=crs_used,
        declared_crs=None if declared is None else crs_name(declared),
        bounds=bounds,
        repair=repair,
        notes=notes,
    )
    return out, report
