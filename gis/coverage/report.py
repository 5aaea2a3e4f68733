"""Gap reports on a coverage table (`gis.coverage.Coverage.table`): covered / not covered per group, uncovered
buildings, and the 完整社区 completeness check, weighted by households and residents (`population`)."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.coverage.core import COMPLETE_SHARE, COVERED_COLUMN, REQUIRED_TYPES

__all__ = ["completeness", "gap_report", "population", "uncovered_buildings"]


def population(buildings: gpd.GeoDataFrame, households: pd.DataFrame) -> gpd.GeoDataFrame:
    """`buildings` with ``households`` (counted from the household layer where the column is empty) and
    ``residents`` (sum of household ``size``; one per household where size is missing)."""
    out = buildings.copy()
    ref = households["building_ref"].astype(str)
    size = pd.to_numeric(households.get("size", pd.Series(1, index=households.index)), errors="coerce").fillna(1)
    counts, residents = ref.value_counts(), size.groupby(ref).sum()
    ids = out["source_id"].astype(str)
    given = pd.to_numeric(out["households"], errors="coerce") if "households" in out else pd.Series(np.nan, ids.index)
    out["households"] = given.fillna(ids.map(counts)).fillna(0).astype("int64")
    out["residents"] = ids.map(residents).fillna(0).astype("int64")
    return out


def _levels(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [(c, m["profile"], m["level"]) for c in table if (m := COVERED_COLUMN.match(c))]


def gap_report(
    table: pd.DataFrame,
    buildings: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = "grid_ref",
    weights: Sequence[str] = ("households", "residents"),
) -> pd.DataFrame:
    """Covered / not covered per group, service type, profile and level.

    Parameters
    ----------
    table : `Coverage.table` output.
    buildings : frame with ``source_id``, the `by` columns and the `weights` columns (missing ones are skipped).
    by : grouping column(s) of `buildings` (``grid_ref``, ``community_ref`` joined in by the caller, …); None: all.
    weights : numeric columns summed besides the building count (``households``, ``residents``).

    Returns
    -------
    DataFrame with the `by` columns, ``service_type``, ``profile``, ``level``, ``buildings``,
    ``buildings_covered``, ``buildings_uncovered`` and the same three for each weight, and ``share`` (covered
    share of the last weight present with a positive total, else of buildings).
    """
    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    weights = [w for w in weights if w in buildings]
    ids, rows = buildings["source_id"].astype(str).to_numpy(dtype=object), table["building_id"].to_numpy()
    n = len(ids)
    if n and len(rows) % n == 0 and (rows.reshape(-1, n) == ids).all():  # a Coverage.table of these buildings
        position = np.tile(np.arange(n), len(rows) // n)
    else:
        position = pd.Index(ids).get_indexer(rows)
    frame = buildings[keys + weights].iloc[np.maximum(position, 0)].reset_index(drop=True)
    if (position < 0).any():  # rows of buildings the frame does not have: no group, no weight
        frame.loc[position < 0, keys + weights] = None
    frame["service_type"] = table["service_type"].to_numpy()
    for w in weights:
        frame[w] = pd.to_numeric(frame[w], errors="coerce").fillna(0)
    frame["buildings"] = 1
    measures = ["buildings", *weights]
    grouper = frame.groupby(keys + ["service_type"], dropna=False, sort=True)
    codes = grouper.ngroup().to_numpy()
    groups = grouper.size().index.to_frame(index=False)
    values = {m: frame[m].to_numpy(dtype=float) for m in measures}
    totals = {m: np.bincount(codes, weights=values[m], minlength=len(groups)) for m in measures}
    pieces = []
    for column, profile, level in _levels(table):
        covered = table[column].to_numpy(dtype=bool)
        piece = groups.assign(profile=profile, level=float(level))
        for m in measures:
            piece[m] = totals[m]
            piece[f"{m}_covered"] = np.bincount(codes, weights=values[m] * covered, minlength=len(groups))
        pieces.append(piece)
    out = pd.concat(pieces, ignore_index=True)
    for m in measures:
        out[f"{m}_uncovered"] = out[m] - out[f"{m}_covered"]
    base = next((w for w in reversed(weights) if out[w].sum() > 0), "buildings")
    out["share"] = np.where(out[base] > 0, out[f"{base}_covered"] / out[base].where(out[base] > 0, 1), np.nan)
    columns = [*keys, "service_type", "profile", "level"]
    return out[columns + [f"{m}{s}" for m in measures for s in ("", "_covered", "_uncovered")] + ["share"]]


def uncovered_buildings(
    table: pd.DataFrame,
    buildings: gpd.GeoDataFrame,
    *,
    service_type: str,
    profile: str = "standard",
    level: float = 15,
) -> gpd.GeoDataFrame:
    """The buildings not covered for one type, profile and level, with their ``walk_m`` and nearest
    ``service_id`` (farthest first, unreachable buildings at the top)."""
    column = f"covered_{profile}_{level:g}"
    rows = table[(table["service_type"] == service_type) & ~table[column]]
    extra = rows.set_index("building_id")[["service_id", "walk_m", f"walk_min_{profile}"]]
    out = buildings[buildings["source_id"].astype(str).isin(extra.index)]
    out = out.join(extra, on=out["source_id"].astype(str))
    return out.sort_values("walk_m", ascending=False, na_position="first")


def completeness(
    table: pd.DataFrame,
    buildings: pd.DataFrame,
    *,
    by: str | Sequence[str] = "community_ref",
    required: Sequence[str] = REQUIRED_TYPES,
    profile: str = "standard",
    level: float = 15,
    min_share: float = COMPLETE_SHARE,
    weight: str = "residents",
) -> pd.DataFrame:
    """完整社区 check: per group, which required types are missing within the level.

    A type is present in a group when at least `min_share` of the group's `weight` (buildings if the column is
    absent or zero) is covered at `profile` / `level`; a type absent from the table has share 0.

    Returns
    -------
    DataFrame with the `by` columns, ``share_<type>`` per required type, ``missing`` (list of types) and
    ``complete``.
    """
    keys = [by] if isinstance(by, str) else list(by)
    report = gap_report(table, buildings, by=keys, weights=[weight] if weight in buildings else [])
    report = report[(report["profile"] == profile) & (report["level"] == float(level))]
    shares = report.pivot_table(index=keys, columns="service_type", values="share", dropna=False)
    groups = buildings[keys].drop_duplicates().set_index(keys).index
    shares = shares.reindex(groups).reindex(columns=list(required)).fillna(0.0)
    out = shares.add_prefix("share_").reset_index()
    out.columns.name = None
    missing = shares.to_numpy() < min_share
    out["missing"] = [[t for t, miss in zip(required, row, strict=True) if miss] for row in missing]
    out["complete"] = ~missing.any(axis=1)
    return out
