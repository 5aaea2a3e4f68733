"""The file mode of the 中心户 assignment (`gridmap centers`): household and previous-result files read and checked,
then the 中心户 pipeline (walk graph, snapping, the exact assignment, suggested new centers: gis.centers.run).

Households are Point features with ``id``, ``grid_id``, ``is_center`` and an optional ``capacity`` (default 10),
``building`` (same building ≈ 0 m) and ``is_party_member`` (who may be suggested as a new center; without it every
household may). File mode has only ids: no names, no phones.
"""

import json
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.centers import DEFAULT_CAPACITY, CentersRun, run
from gis.crs import reconcile_crs, to_wgs84
from gis.errors import CrsError, LayerError
from gis.io import (
    MAX_LISTED,
    check_geometries_present,
    check_geometry_types,
    check_in_china,
    coordinate_problem,
    feature_label,
)

GEOJSON_SUFFIXES = (".geojson", ".json")
TRUE_TEXT = {"true", "t", "yes", "y", "1"}
FALSE_TEXT = {"false", "f", "no", "n", "0"}


def _text(value: Any) -> str | None:
    """A property as text: None when missing or blank, whole numbers without '.0' (ids read as numbers)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, list | dict | tuple):
        return None
    text = str(value).strip()
    return text or None


def _flag(value: Any) -> bool | None:
    """true/false from a JSON boolean, 0/1 or text; None when it is neither (missing counts as false)."""
    text = _text(value)
    if text is None:
        return False
    return True if text.lower() in TRUE_TEXT else False if text.lower() in FALSE_TEXT else None


def _refuse(path: Path, frame: Any, bad: list[tuple[int, str]]) -> None:
    """Refuse the file naming each bad feature (number and id) and why, the first `MAX_LISTED` of them."""
    if bad:
        listed = "; ".join(f"{feature_label(frame, i, 'id')}: {why}" for i, why in bad[:MAX_LISTED])
        more = f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        raise LayerError(f"{path.name}: {listed}{more}")


def _geojson(path: Path, frame: Any) -> Any:
    """The CRS the file declares (None when it declares none: GDAL says WGS84 for every GeoJSON), and RFC 7946
    feature ids as the ``id`` column when the properties have none (GDAL hides integer ones as FIDs)."""
    if path.suffix.lower() not in GEOJSON_SUFFIXES:
        return frame.crs
    try:
        data = json.loads(path.read_bytes())
    except ValueError:
        return frame.crs
    features = (data.get("features") or []) if isinstance(data, dict) else []
    if "id" not in frame.columns and len(features) == len(frame) and all("id" in f for f in features):
        frame["id"] = [f["id"] for f in features]
    if len(features) == len(frame):  # GDAL read these geometries as missing: say why instead
        problems = [coordinate_problem(f.get("geometry") if isinstance(f, dict) else None) for f in features]
        _refuse(path, frame, [(i, why) for i, why in enumerate(problems) if why])
    return frame.crs if isinstance(data, dict) and data.get("crs") else None


def read_households(path: Path, *, crs: str | None = "EPSG:4326") -> Any:
    """The household file as a WGS84 GeoDataFrame: ``id``, ``grid_id`` (text), ``is_center`` (bool), ``capacity``
    (int, centers only; default 10), optional ``building`` and ``is_party_member``.

    Raises `gis.errors.LayerError` whose message starts with the file name, then names the feature and the problem
    (the CRS rule of gis.io.layers: a file that declares none is read in `crs`).
    """

    def fail(bad: list[tuple[int, str]]) -> None:
        _refuse(path, raw, bad)

    if not path.is_file():
        raise LayerError(f"{path.name}: file not found ({path})")
    try:
        with warnings.catch_warnings():  # GDAL warns of unreadable coordinates; _geojson names them instead
            warnings.simplefilter("ignore", RuntimeWarning)
            raw = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same thing to the user
        raise LayerError(f"{path.name}: cannot read the file ({type(exc).__name__}: {exc})") from exc
    if raw.empty:
        raise LayerError(f"{path.name}: the file has no features")
    raw = raw.reset_index(drop=True)
    declared = _geojson(path, raw)
    columns = [c for c in raw.columns if c != raw.geometry.name]
    missing = [c for c in ("id", "grid_id", "is_center") if c not in raw.columns]
    if missing:
        raise LayerError(f"{path.name}: no {', '.join(repr(c) for c in missing)} property; properties are {columns}")
    try:
        check_geometries_present(raw, id_field="id")
        values = np.asarray(raw.geometry.values).copy()  # a one-point MultiPoint is a Point
        single = (shapely.get_type_id(values) == 4) & (shapely.get_num_geometries(values) == 1)
        values[single] = shapely.get_geometry(values[single], 0)
        raw = raw.set_geometry(gpd.GeoSeries(values, index=raw.index, crs=raw.crs))
        check_geometry_types(raw, ("Point",), id_field="id", layer="a household file")
        used, _ = reconcile_crs(declared, crs)
        wgs = to_wgs84(raw, used)
        check_in_china(wgs, id_field="id")
    except (LayerError, CrsError) as exc:
        raise LayerError(f"{path.name}: {exc}") from exc

    ids = [_text(v) for v in raw["id"]]
    fail([(i, "id is missing") for i, v in enumerate(ids) if v is None])
    seen: dict[str | None, int] = {}
    fail([(i, f"id {v!r} is also on feature {seen[v] + 1}") for i, v in enumerate(ids) if seen.setdefault(v, i) != i])
    grids = [_text(v) for v in raw["grid_id"]]
    fail([(i, "grid_id is missing: every household belongs to one grid") for i, g in enumerate(grids) if g is None])

    def flags(column: str) -> np.ndarray:
        values = [_flag(v) for v in raw[column]]
        fail([(i, f"{column} {raw[column][i]!r} is not true/false") for i, v in enumerate(values) if v is None])
        return np.asarray(values, dtype=bool)

    centers = flags("is_center")
    capacity = np.zeros(len(raw), dtype=np.int64)
    bad = []
    for i, value in enumerate(raw["capacity"] if "capacity" in raw else [None] * len(raw)):
        if not centers[i]:
            continue
        text = _text(value)
        number = float(text) if text is not None and _is_number(text) else None
        if text is None:
            capacity[i] = DEFAULT_CAPACITY
        elif number is None or not number.is_integer() or number <= 0:
            bad.append((i, f"capacity {text!r} of a center household must be a whole number ≥ 1"))
        else:
            capacity[i] = int(number)
    fail(bad)
    out = gpd.GeoDataFrame(
        {"id": ids, "grid_id": grids, "is_center": centers, "capacity": capacity},
        geometry=wgs.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    if "building" in raw:
        out["building"] = [_text(v) for v in raw["building"]]
    if "is_party_member" in raw:
        out["is_party_member"] = flags("is_party_member")
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_previous(path: Path) -> Any:
    """An earlier RESULT.csv as ``household_id``, ``center_id`` (text; NA where it was uncovered)."""
    if not path.is_file():
        raise LayerError(f"{path.name}: file not found ({path})")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as exc:  # noqa: BLE001
        raise LayerError(f"{path.name}: cannot read the file as CSV ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in ("household_id", "center_id") if c not in table.columns]
    if missing:
        raise LayerError(f"{path.name}: no {', '.join(missing)} column; columns are {list(table.columns)}")
    table = table[["household_id", "center_id"]].apply(lambda s: s.str.strip())
    empty = table.index[table["household_id"] == ""]
    if len(empty):
        raise LayerError(f"{path.name}: row {int(empty[0]) + 2}: household_id is missing")
    dup = table["household_id"][table["household_id"].duplicated()]
    if len(dup):
        raise LayerError(f"{path.name}: household_id {dup.iloc[0]!r} is listed more than once")
    return table.assign(center_id=table["center_id"].replace("", pd.NA))


# --- the assignment ------------------------------------------------------------------------------------------------


def assign(extract: Any, frame: Any, previous: Any | None, *, max_snap_m: float) -> CentersRun:
    """The 中心户 pipeline (`gis.centers.run`) on the file's network, households walking from their own points,
    snapping capped at `max_snap_m` (GRIDMAP_MAX_SNAP_M) as in the stored path."""
    return run(frame, extract.nodes, extract.edges, previous=previous, max_snap_m=max_snap_m)


def result_table(result: Any) -> Any:
    """RESULT.csv: the contract columns first, then grid, status and reason (why uncovered or moved)."""
    table = result.households
    return table[["household_id", "center_id", "walk_m", "grid_id", "status", "reason"]]


def center_loads(result: Any, frame: Any) -> Any:
    """Per center household: households it looks after (itself not counted) and its capacity."""
    table = result.households
    others = table[table["center_id"].notna() & (table["status"] != "center")]
    centers = frame.loc[frame["is_center"], ["id", "grid_id", "capacity"]].set_index("id")
    load = others["center_id"].value_counts().reindex(centers.index).fillna(0).astype(int)
    return pd.DataFrame(centers.assign(load=load))
