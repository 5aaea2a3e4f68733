"""Workload per grid and per grid worker (网格员): households, special-care households, center households.

Special care (重点关爱) means a household carrying at least one of `CARE_TAGS` (docs/layers.md tag codes): elderly
living alone, 80+, disabled, hardship, infants, left-behind children, in hospital, unemployed, released / under
correction, petitioners. ``floating`` and ``rented`` are population registers, not care, and are only counted per
tag. A grid's **load** is ``households + care_weight × special-care households`` (default weight 1: a special-care
household counts double); a grid is flagged when its load is above ``factor × the median load of the grids of its
community`` (default 1.5).

A grid shared by several workers counts for each of them in equal shares (two workers on a grid of 400 households
carry 200 each); a worker is flagged against the median of all workers in the table.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["ALL_TAGS", "CARE_TAGS", "grid_workload", "worker_workload"]

ALL_TAGS = (
    "elderly_alone",
    "aged_80",
    "disabled",
    "hardship",
    "infant",
    "left_behind_child",
    "floating",
    "rented",
    "hospitalized",
    "unemployed",
    "released",
    "petitioner",
)
CARE_TAGS = tuple(t for t in ALL_TAGS if t not in ("floating", "rented"))


def _tags(value: object) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):  # a JSON-ish or comma-separated list from a file
        return [t.strip(" '\"[]") for t in value.split(",") if t.strip(" '\"[]")]
    if not isinstance(value, Iterable):
        raise TypeError(f"tags must be a list or a comma-separated text, not {type(value).__name__}")
    return [str(t) for t in value]


def grid_workload(
    households: pd.DataFrame,
    *,
    grids: pd.DataFrame | None = None,
    center_households: pd.DataFrame | None = None,
    care_tags: Iterable[str] = CARE_TAGS,
    care_weight: float = 1.0,
    factor: float = 1.5,
) -> pd.DataFrame:
    """Workload of every grid.

    Parameters
    ----------
    households : ``source_id``, ``grid_ref``, ``tags`` (list of tag codes) — the households layer.
    grids : ``source_id``, ``community_ref`` (optional ``code``, ``name``); grids without households get zeros.
        Without it every grid is compared with the median of all grids.
    center_households : ``household_ref`` (center households layer); or a boolean ``is_center`` column in
        `households`.
    care_tags : tags that make a household special-care.
    care_weight : extra load of a special-care household.
    factor : flag grids whose load is above factor × their community's median.

    Returns
    -------
    DataFrame per grid: ``grid_ref``, ``community_ref``, ``households``, ``special_care``, one ``tag_<code>``
    column per tag, ``centers``, ``households_per_center``, ``load``, ``community_median``, ``load_ratio``,
    ``flagged``, ``reason``.
    """
    care = set(care_tags)
    hh = households.reset_index(drop=True)
    tags = hh["tags"].map(_tags) if "tags" in hh else pd.Series([[]] * len(hh))
    grid = hh["grid_ref"].astype(object)
    frame = pd.DataFrame({"grid_ref": grid, "special_care": tags.map(lambda t: bool(care.intersection(t)))})
    for tag in ALL_TAGS:
        frame[f"tag_{tag}"] = tags.map(lambda t, tag=tag: tag in t)
    if center_households is not None:
        frame["centers"] = hh["source_id"].isin(center_households["household_ref"])
    elif "is_center" in hh:
        frame["centers"] = hh["is_center"].fillna(False).astype(bool)
    else:
        frame["centers"] = False
    frame["households"] = 1
    columns = ["households", "special_care", *[f"tag_{t}" for t in ALL_TAGS], "centers"]
    table = frame[frame["grid_ref"].notna()].groupby("grid_ref")[columns].sum().astype(np.int64)
    if grids is not None:
        table = table.reindex(pd.Index(grids["source_id"], name="grid_ref"), fill_value=0)
        community = dict(zip(grids["source_id"], grids.get("community_ref", pd.Series(None, grids.index)), strict=True))
    else:
        community = {}
    table = table.reset_index()
    table.insert(1, "community_ref", table["grid_ref"].map(community))
    table["households_per_center"] = table["households"] / table["centers"].where(table["centers"] > 0)
    table["load"] = table["households"] + care_weight * table["special_care"]
    key = table["community_ref"].astype(object).fillna("")
    table["community_median"] = table.groupby(key)["load"].transform("median")
    table["load_ratio"] = table["load"] / table["community_median"].where(table["community_median"] > 0)
    table["flagged"] = table["load"] > factor * table["community_median"]
    table["reason"] = [
        f"load {load:g} is {ratio:.2f} × the community median {median:g} (> {factor:g} ×)" if flag else None
        for load, ratio, median, flag in zip(
            table["load"], table["load_ratio"], table["community_median"], table["flagged"], strict=True
        )
    ]
    return table


def worker_workload(grid_load: pd.DataFrame, workers: pd.DataFrame, *, factor: float = 1.5) -> pd.DataFrame:
    """Workload of every grid worker from `grid_workload` and the grid workers layer.

    Parameters
    ----------
    grid_load : the result of `grid_workload`.
    workers : ``source_id``, ``name``, ``grid_refs`` (list of grid source ids).
    factor : flag workers whose load is above factor × the median of all workers.

    Returns
    -------
    DataFrame per worker: ``worker_ref``, ``name``, ``grids``, ``shared_grids``, ``households``,
    ``special_care``, ``centers``, ``load`` (each grid divided among its workers), ``median``, ``load_ratio``,
    ``flagged``, ``reason``, ``unknown_grids`` (refs with no grid).
    """
    refs = workers["grid_refs"].map(lambda r: [] if r is None or (isinstance(r, float) and np.isnan(r)) else list(r))
    pairs = pd.DataFrame(
        {
            "worker_ref": np.repeat(workers["source_id"].to_numpy(), refs.map(len)),
            "grid_ref": np.concatenate([np.asarray(r, dtype=object) for r in refs] or [np.zeros(0, dtype=object)]),
        }
    )
    pairs = pairs.drop_duplicates()
    share = pairs.groupby("grid_ref")["worker_ref"].transform("size")
    pairs["share"] = 1.0 / share
    pairs["shared"] = share > 1
    known = pairs.merge(grid_load, on="grid_ref", how="left", indicator=True)
    missing = known[known["_merge"] == "left_only"].groupby("worker_ref")["grid_ref"].agg(list)
    known = known[known["_merge"] == "both"]
    for col in ("households", "special_care", "centers", "load"):
        known[col] = known[col] * known["share"]
    table = known.groupby("worker_ref").agg(
        grids=("grid_ref", "size"),
        shared_grids=("shared", "sum"),
        households=("households", "sum"),
        special_care=("special_care", "sum"),
        centers=("centers", "sum"),
        load=("load", "sum"),
    )
    table = table.reindex(pd.Index(workers["source_id"], name="worker_ref"), fill_value=0).reset_index()
    table.insert(1, "name", workers["name"].to_numpy() if "name" in workers else None)
    table["median"] = float(table["load"].median()) if len(table) else np.nan
    table["load_ratio"] = table["load"] / table["median"] if len(table) and table["median"].iloc[0] > 0 else np.nan
    table["flagged"] = table["load"] > factor * table["median"]
    table["reason"] = [
        f"load {load:g} is {ratio:.2f} × the median {median:g} (> {factor:g} ×)" if flag else None
        for load, ratio, median, flag in zip(
            table["load"], table["load_ratio"], table["median"], table["flagged"], strict=True
        )
    ]
    table["unknown_grids"] = table["worker_ref"].map(missing).map(lambda v: v if isinstance(v, list) else [])
    return table
