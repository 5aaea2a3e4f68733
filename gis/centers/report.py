"""The report of `gis.centers.assign_centers`: the `Assignment` tables, uncovered reasons and who moved why."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["MM", "Assignment", "build_report"]

MM = 1000.0  # solver cost unit: millimetres


@dataclass
class Assignment:
    """Result of `assign_centers`.

    Attributes
    ----------
    households : one row per household: ``household_id``, ``grid_id``, ``center_id`` (itself for a center, NA if
        uncovered), ``walk_m`` (NaN if uncovered), ``status`` (``center``, ``assigned``, ``kept``, ``moved``,
        ``new``, ``uncovered``), ``reason`` (why uncovered or moved), ``previous_center_id``.
    grids : per grid: ``grid_id``, ``households``, ``centers``, ``capacity``, ``assigned``, ``uncovered``,
        ``lacks`` (places missing), ``walk_m`` (total), ``arcs`` (``k-nearest`` proven optimal, or ``all``),
        ``moved``.
    notes : what was ignored in the input (e.g. pairs across grids).
    """

    households: pd.DataFrame
    grids: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def uncovered(self) -> pd.DataFrame:
        """Uncovered households with the reason: ``household_id``, ``grid_id``, ``reason``."""
        rows = self.households[self.households["status"] == "uncovered"]
        return rows[["household_id", "grid_id", "reason"]].reset_index(drop=True)

    @property
    def moves(self) -> pd.DataFrame:
        """Households whose center changed since `previous`: ids, old and new center, reason."""
        h = self.households
        moved = h["previous_center_id"].notna() & (h["center_id"].isna() | (h["center_id"] != h["previous_center_id"]))
        moved &= h["status"] != "center"
        cols = ["household_id", "grid_id", "previous_center_id", "center_id", "walk_m", "reason"]
        return h.loc[moved, cols].reset_index(drop=True)

    @property
    def total_walk_m(self) -> float:
        return float(self.households["walk_m"].sum())

    def result(self) -> pd.DataFrame:
        """The RESULT.csv table: ``household_id``, ``center_id`` (empty if uncovered), ``walk_m``."""
        return self.households[["household_id", "center_id", "walk_m"]].copy()


def build_report(
    p,
    grid_values,
    assigned,
    client_walk,
    listed,
    prev,
    prev_id,
    prev_walk,
    room,
    centers_in_grid,
    stage,
    *,
    stable,
    bonus_mm,
) -> Assignment:
    hh = p.hh
    ids = hh["id"].to_numpy(dtype=object)
    n = len(hh)
    center_id = np.full(n, None, dtype=object)
    walk_m = np.full(n, np.nan)
    status = np.full(n, "uncovered", dtype=object)
    reason = np.full(n, None, dtype=object)
    center_id[p.center], walk_m[p.center], status[p.center] = ids[p.center], 0.0, "center"
    covered = assigned >= 0
    cl = p.client
    center_id[cl[covered]] = ids[p.center[assigned[covered]]]
    walk_m[cl] = client_walk
    status[cl[covered]] = "assigned"
    reason[p.grid_code < 0] = "household has no grid"
    n_clients = np.bincount(p.grid_code[cl], minlength=len(grid_values))
    lacks = np.maximum(n_clients - room, 0).astype(np.int64)
    names = np.asarray(grid_values, dtype=object)
    # uncovered per grid beyond the places it lacks: their reachable centers are full (walk limit), not the grid
    short = np.bincount(p.grid_code[cl[~covered & (listed > 0)]], minlength=len(grid_values))
    beyond = np.maximum(short - lacks, 0)
    for i in np.flatnonzero(~covered):
        g = p.grid_code[cl[i]]
        name = names[g]
        if centers_in_grid[g] == 0:
            reason[cl[i]] = f"grid {name} has no center household (lacks {lacks[g]} places)"
        elif listed[i] == 0:
            reason[cl[i]] = f"no center of grid {name} within reach on the walk network"
        elif lacks[g] > 0:
            reason[cl[i]] = f"grid {name} lacks {lacks[g]} places ({n_clients[g]} households, capacity {int(room[g])})"
            if beyond[g]:
                reason[cl[i]] += f"; {beyond[g]} more uncovered: the centers within their reach are full"
        else:
            reason[cl[i]] = f"no center of grid {name} with room within reach on the walk network"
    previous_center = prev_id.to_numpy(dtype=object)
    previous_center = np.where(pd.isna(previous_center), None, previous_center)
    if stable:
        _moves(p, ids, assigned, prev, previous_center, prev_walk, status, reason, walk_m, bonus_mm)
    table = pd.DataFrame(
        {
            "household_id": hh["id"].to_numpy(),
            "grid_id": hh["grid_id"].to_numpy(),
            "center_id": center_id,
            "walk_m": walk_m,
            "status": status,
            "reason": reason,
            "previous_center_id": previous_center,
        }
    )
    grids = _grid_summary(p, grid_values, table, room, lacks, stage)
    return Assignment(table, grids, list(dict.fromkeys(p.notes)))


def _moves(p, ids, assigned, prev, previous_center, prev_walk, status, reason, walk_m, bonus_mm) -> None:
    """Mark kept / moved / new households and say why each one moved."""
    hh = p.hh
    cl = p.client
    old = previous_center[cl]
    has_old = np.array([o is not None for o in old], dtype=bool)
    kept = has_old & (assigned >= 0) & (prev >= 0) & (assigned == prev)
    status[cl[~has_old & (assigned >= 0)]] = "new"
    status[cl[kept]] = "kept"
    changed = has_old & ~kept
    status[cl[changed & (assigned >= 0)]] = "moved"
    if not changed.any():
        return
    old_pos = pd.Index(hh["id"]).get_indexer(old[changed])
    grid = hh["grid_id"].to_numpy(dtype=object)
    is_center = hh["is_center"].to_numpy()
    cap = hh["capacity"].to_numpy()
    valid_prev = np.bincount(prev[prev >= 0], minlength=len(p.center))
    for i, op in zip(np.flatnonzero(changed), old_pos, strict=True):
        hpos, o = cl[i], old[i]
        if op < 0:
            why = f"previous center {o} no longer exists"
        elif not is_center[op]:
            why = f"previous center {o} is no longer a center household"
        elif grid[op] != grid[hpos]:
            why = f"previous center {o} is in grid {grid[op]}, the household in grid {grid[hpos]}"
        elif prev[i] < 0 or np.isnan(prev_walk[i]):
            why = f"previous center {o} is out of reach on the walk network"
        elif valid_prev[prev[i]] > cap[op]:
            why = f"previous center {o} now has room for {cap[op]}, had {valid_prev[prev[i]]}"
        elif assigned[i] >= 0 and bonus_mm is not None and prev_walk[i] - walk_m[hpos] > bonus_mm / MM:
            why = f"shorter walk: {prev_walk[i]:.0f} m → {walk_m[hpos]:.0f} m"
        elif assigned[i] >= 0:
            why = "moved to make room for a household whose center changed"
        else:
            why = None
        if assigned[i] >= 0:
            reason[hpos] = why
        elif why is not None:
            reason[hpos] = f"{why}; {reason[hpos]}"


def _grid_summary(p, grid_values, table, room, lacks, stage) -> pd.DataFrame:
    t = table[p.grid_code >= 0]
    code = p.grid_code[p.grid_code >= 0]
    size = len(grid_values)
    count = lambda mask: np.bincount(code[mask], minlength=size)  # noqa: E731
    status = t["status"].to_numpy()
    arcs = np.array(["k-nearest", "k-nearest", "listed", "all"], dtype=object)[stage]
    return pd.DataFrame(
        {
            "grid_id": list(grid_values),
            "households": count(np.ones(len(t), dtype=bool)),
            "centers": count(status == "center"),
            "capacity": room.astype(np.int64),
            "assigned": count(~np.isin(status, ["center", "uncovered"])),
            "uncovered": count(status == "uncovered"),
            "lacks": lacks,
            "walk_m": np.bincount(code, weights=np.nan_to_num(t["walk_m"].to_numpy()), minlength=size),
            "arcs": arcs,
            "moved": count(status == "moved"),
        }
    )
