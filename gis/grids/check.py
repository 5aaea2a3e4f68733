"""Check imported grids (网格核查): tiling, household counts and codes, reported per grid.

Tiling (gaps, overlaps, grids reaching outside their community, unknown communities) is
`gis.io.validate.check_grid_tiling`; this module adds household counts against the target, code checks against the
profile (`gis.grids.codes.parse_grid_code`) and the stored parts, duplicate codes, and a community code that does not
match the grid's community, and puts every finding on the row of the grid it concerns. A gap belongs to no grid: it
is reported on the grid of the community nearest to it, or on a row without a grid when the community has none.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.crs import metric_crs
from gis.errors import GridCodeError
from gis.grids.codes import GridCode, parse_grid_code
from gis.io.validate import check_grid_tiling

__all__ = ["check_grids"]

_PARTS = ("district_code", "street_code", "community_code", "seq_code")


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _household_counts(grids: gpd.GeoDataFrame, households: gpd.GeoDataFrame, grid_id: str, key: str) -> pd.Series:
    """Households per grid: by ``households[key]`` when present, else by position (point in grid)."""
    ids = grids[grid_id].astype(str) if grid_id in grids else grids.index.astype(str)
    if key in households.columns:
        counts = households[key].dropna().astype(str).value_counts()
    else:
        joined = gpd.sjoin(
            households[[households.geometry.name]].to_crs(grids.crs),
            grids[[grids.geometry.name]],
            predicate="within",
            how="inner",
        )
        counts = joined["index_right"].map(dict(zip(grids.index, ids, strict=True))).value_counts()
    return counts.reindex(ids, fill_value=0).set_axis(grids.index)


def check_grids(
    grids: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    households: gpd.GeoDataFrame | None = None,
    profile: str | None = None,
    min_households: int = 300,
    max_households: int = 500,
    community_key: str = "community_ref",
    community_id: str = "source_id",
    grid_id: str = "source_id",
    household_key: str = "grid_ref",
    tolerance_m2: float = 10.0,
) -> pd.DataFrame:
    """Per-grid findings for an imported grids layer.

    Parameters
    ----------
    grids : grids layer (docs/layers.md): ``source_id``, ``community_ref``, ``code``, ``code_profile`` and the code
        parts; absent columns are not checked.
    communities : communities layer, ``source_id`` and (optional) the 3-digit ``code``.
    households : household points with ``grid_ref`` (or placed by position when the column is absent); None skips
        the count check.
    profile : code profile for every grid; default each grid's ``code_profile`` (``DB11_15`` when missing).
    min_households, max_households : household target of a grid.
    tolerance_m2 : slivers below this are ignored (as `check_grid_tiling`).

    Returns
    -------
    DataFrame, one row per grid (plus one per community gap with no grid to carry it): ``grid_id``,
    ``community``, ``code``, ``households`` (NA without households), ``area_m2``, ``problems`` (list of messages),
    ``ok``.
    """
    report = check_grid_tiling(
        grids,
        communities,
        community_key=community_key,
        community_id=community_id,
        grid_id=grid_id,
        tolerance_m2=tolerance_m2,
    )
    ids = (grids[grid_id] if grid_id in grids else grids.index.to_series()).astype(str).to_numpy()
    community = grids[community_key].map(_text).to_numpy() if community_key in grids else np.full(len(grids), None)
    codes = grids["code"].map(_text).to_numpy() if "code" in grids else np.full(len(grids), None)
    problems: list[list[str]] = [[] for _ in range(len(grids))]
    row_of = {gid: i for i, gid in enumerate(ids)}

    for u in report.unknown:
        problems[row_of[u.grid]].append(
            f"community {u.community!r} does not exist" if u.community else "grid has no community"
        )
    for o in report.overlaps:
        problems[row_of[o.grid_a]].append(f"overlaps grid {o.grid_b!r} by {o.area_m2:.1f} m²")
        problems[row_of[o.grid_b]].append(f"overlaps grid {o.grid_a!r} by {o.area_m2:.1f} m²")
    for out in report.outside:
        problems[row_of[out.grid]].append(f"reaches {out.area_m2:.1f} m² outside community {out.community!r}")
    extra_rows = []
    if report.gaps:
        metric = metric_crs(communities)
        grid_geoms = np.asarray(grids.geometry.to_crs(metric).values)
        to_metric = gpd.GeoSeries(shapely.points([g.location for g in report.gaps]), crs=4326).to_crs(metric).values
        for gap, where in zip(report.gaps, to_metric, strict=True):
            text = (
                f"community {gap.community!r} has {gap.area_m2:.1f} m² in {gap.n_parts} part(s) covered by no grid, "
                f"largest near ({gap.location[0]:.6f}, {gap.location[1]:.6f})"
            )
            mine = np.flatnonzero(community == gap.community)
            if len(mine):
                nearest = int(mine[np.argmin(shapely.distance(grid_geoms[mine], where))])
                problems[nearest].append(text)
            else:
                extra_rows.append({"grid_id": None, "community": gap.community, "problems": [text]})

    com_codes = {}
    if "code" in communities.columns and community_id in communities.columns:
        com_codes = {str(k): _text(v) for k, v in zip(communities[community_id], communities["code"], strict=True)}
    profiles = (
        grids["code_profile"].map(_text).to_numpy()
        if "code_profile" in grids and profile is None
        else np.full(len(grids), profile or "DB11_15")
    )
    parsed: list[GridCode | None] = []
    for i, code in enumerate(codes):
        prof = profiles[i] or "DB11_15"
        if code is None:
            problems[i].append("no code")
            parsed.append(None)
            continue
        try:
            parts = parse_grid_code(code, prof)
        except GridCodeError as exc:
            problems[i].append(f"invalid code: {exc}")
            parsed.append(None)
            continue
        parsed.append(parts)
        for column, value in zip(_PARTS, (parts.district, parts.street, parts.community, parts.seq), strict=True):
            stored = _text(grids[column].iloc[i]) if column in grids else None
            if stored is not None and stored != value:
                problems[i].append(f"{column} {stored!r} does not match the code ({value!r})")
        expected = com_codes.get(community[i]) if community[i] is not None else None
        if expected is not None and expected != parts.community:
            problems[i].append(
                f"code's community part {parts.community!r} is not community {community[i]!r}'s code {expected!r}"
            )
    dup = pd.Series(codes).duplicated(keep=False).to_numpy() & pd.notna(codes)
    for row in np.flatnonzero(dup):
        others = [ids[j] for j in np.flatnonzero(codes == codes[row]) if j != row]
        problems[row].append(f"code {codes[row]} is also used by grid(s) {', '.join(map(repr, others))}")

    counts = pd.Series(pd.NA, index=grids.index, dtype="Int64")
    if households is not None:
        counts = _household_counts(grids, households, grid_id, household_key).astype("Int64")
        for i, n in enumerate(counts.to_numpy()):
            if n < min_households:
                problems[i].append(f"{n} households, below the target {min_households}–{max_households}")
            elif n > max_households:
                problems[i].append(f"{n} households, above the target {min_households}–{max_households}")
    areas = grids.geometry.to_crs(metric_crs(grids)).area.to_numpy() if len(grids) else np.zeros(0)
    table = pd.DataFrame(
        {
            "grid_id": ids,
            "community": community,
            "code": codes,
            "households": counts.to_numpy(),
            "area_m2": areas,
            "problems": problems,
        }
    )
    if extra_rows:
        table = pd.concat([table, pd.DataFrame(extra_rows)], ignore_index=True)
    table["ok"] = table["problems"].map(len) == 0
    return table
