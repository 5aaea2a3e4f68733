"""The inputs of the planner map (maps.coverage): ids, flag columns that came through CSV, the rows of one service
type from the coverage table in either of its forms, and the walking speed read back from them."""

import re
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from maps.base import to_wgs84

__all__ = ["PROFILE_COLUMN", "_drop_empty", "_ids", "_speed", "_type_rows"]

PROFILE_COLUMN = "walk_min_{profile}"
_COVERED_COLUMN = re.compile(r"^covered_(?:(?P<profile>.+)_)?(?P<level>\d+(?:\.\d+)?)$")


def _ids(frame: pd.DataFrame) -> pd.Series:
    """The frame's ids as strings: ``source_id``, else ``id``, else the index."""
    column = "source_id" if "source_id" in frame else "id" if "id" in frame else None
    values = frame[column] if column else pd.Series(frame.index, index=frame.index)
    return values.astype(str)


def _as_bool(values: pd.Series) -> np.ndarray:
    """Booleans from a flag column that may have come through CSV ('True'/'False', 1/0) or have gaps."""
    if values.dtype == bool:
        return values.to_numpy()
    return values.astype(str).str.strip().str.lower().isin(("true", "1", "t", "yes")).to_numpy()


def _type_rows(table: pd.DataFrame, service_type: str, profile: str, levels: Sequence[float]) -> pd.DataFrame:
    """Rows of `service_type`, one per building (the shortest walk if repeated), with columns building_id,
    service_id, walk_m, minutes and ``covered_<i>`` per level when the table has the flags for every level."""
    walk_column = PROFILE_COLUMN.format(profile=profile)
    if walk_column not in table:
        if "walk_min" not in table:
            raise KeyError(f"the coverage table has neither {walk_column!r} nor 'walk_min'")
        walk_column = "walk_min"  # the one-profile table of the CLI (gis.coverage.profile_table)
    rows = table[table["service_type"].astype(str) == str(service_type)] if "service_type" in table else table
    out = pd.DataFrame(
        {
            "building_id": rows["building_id"].astype(str),
            "service_id": rows["service_id"] if "service_id" in rows else None,
            "walk_m": pd.to_numeric(rows["walk_m"], errors="coerce") if "walk_m" in rows else np.nan,
            "minutes": pd.to_numeric(rows[walk_column], errors="coerce"),
        }
    )
    own: dict[float, str] = {}  # covered_<profile>_<level>
    plain: dict[float, str] = {}  # covered_<level> of the one-profile table
    for column in rows.columns:
        match = _COVERED_COLUMN.match(str(column))
        if match and match["profile"] == profile:
            own[float(match["level"])] = column
        elif match and match["profile"] is None:
            plain[float(match["level"])] = column
    flags = plain if walk_column == "walk_min" else own
    if all(float(level) in flags for level in levels):
        for i, level in enumerate(levels):
            out[f"covered_{i}"] = _as_bool(rows[flags[float(level)]])
    out = out.sort_values("minutes", na_position="last", kind="stable")
    return out.drop_duplicates("building_id").set_index("building_id")


def _speed(rows: pd.DataFrame, circles: gpd.GeoDataFrame | None, profile: str) -> float | None:
    """The profile's walking speed (m/s), read back from the table (walk_m / minutes) or the circles' budgets."""
    ok = np.isfinite(rows["walk_m"]) & np.isfinite(rows["minutes"]) & (rows["minutes"] > 0)
    if ok.any():
        return float(np.median(rows.loc[ok, "walk_m"] / (rows.loc[ok, "minutes"] * 60.0)))
    if circles is not None and {"budget_m", "level"} <= set(circles.columns) and len(circles):
        same = circles[circles["profile"] == profile] if "profile" in circles else circles
        same = same[pd.to_numeric(same["level"], errors="coerce") > 0]
        if len(same):
            return float(np.median(same["budget_m"].astype(float) / (same["level"].astype(float) * 60.0)))
    return None


def _drop_empty(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf = to_wgs84(gdf)
    return gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
