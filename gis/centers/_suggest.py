"""Which party-member households to make centers (党员中心户) so that the uncovered households are covered."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gis.centers.assign import DEFAULT_CAPACITY, prepare_households
from gis.centers.report import Assignment

__all__ = ["Suggestions", "suggest_centers"]


@dataclass
class Suggestions:
    """Result of `suggest_centers`.

    Attributes
    ----------
    centers : suggested new centers in order of choice: ``grid_id``, ``rank`` (1 = first in its grid),
        ``household_id``, ``covers`` (uncovered households it takes, itself included), ``covered_ids``, ``walk_m``.
    unresolved : uncovered households no suggestion covers, with the reason.
    """

    centers: pd.DataFrame
    unresolved: pd.DataFrame


def suggest_centers(
    households: pd.DataFrame,
    *,
    uncovered: Iterable[Hashable] | Assignment,
    pairs: pd.DataFrame,
    capacity: int = DEFAULT_CAPACITY,
) -> Suggestions:
    """Party-member households to make centers so that the uncovered households are covered, fewest first.

    Greedy set cover within each grid: repeatedly take the candidate (party member, not yet a center) that covers
    the most remaining uncovered households (its nearest ones, up to `capacity`, plus itself if uncovered), ties
    going to the shortest total walk. Greedy is within a factor ln(capacity)+1 of the fewest centers.

    Parameters
    ----------
    households : as `prepare_households`, with ``is_party_member``.
    uncovered : household ids, or an `Assignment` (its uncovered households).
    pairs : ``household_id`` (uncovered household), ``center_id`` (candidate), ``walk_m``, e.g.
        ``walk_pairs(..., centers=party_members & ~is_center, clients=uncovered, k=None)``.
    capacity : capacity of a new center.
    """
    hh = prepare_households(households)
    todo = pd.Index(list(uncovered.uncovered["household_id"] if isinstance(uncovered, Assignment) else uncovered))
    party = hh["is_party_member"].to_numpy() if "is_party_member" in hh else np.ones(len(hh), dtype=bool)
    candidate = set(hh["id"][party & ~hh["is_center"].to_numpy()])
    grid = dict(zip(hh["id"], hh["grid_id"], strict=True))
    reach: dict[Hashable, list[tuple[float, Hashable]]] = {}
    for hid, cid, w in pairs[["household_id", "center_id", "walk_m"]].itertuples(index=False):
        if hid in todo and cid in candidate and grid.get(hid) == grid.get(cid) and np.isfinite(w):
            reach.setdefault(cid, []).append((float(w), hid))
    for cid in candidate & set(todo):
        reach.setdefault(cid, [])
    rows: list[dict] = []
    remaining = set(todo)
    by_grid: dict[Hashable, list[Hashable]] = {}
    for cid in reach:
        by_grid.setdefault(grid[cid], []).append(cid)
    order = {hid: i for i, hid in enumerate(hh["id"])}
    for g, cands in by_grid.items():
        for cid in cands:
            reach[cid].sort(key=lambda t: (t[0], order[t[1]]))
        rank = 0
        while True:
            best = None
            for cid in cands:
                take = [(w, hid) for w, hid in reach[cid] if hid in remaining and hid != cid][:capacity]
                gain = len(take) + (cid in remaining)
                if gain:
                    key = (-gain, sum(w for w, _ in take), order[cid])
                    if best is None or key < best[0]:
                        best = (key, cid, take)
            if best is None:
                break
            _, cid, take = best
            covered = ([cid] if cid in remaining else []) + [hid for _, hid in take]
            remaining.difference_update(covered)
            cands.remove(cid)
            rank += 1
            rows.append(
                {
                    "grid_id": g,
                    "rank": rank,
                    "household_id": cid,
                    "covers": len(covered),
                    "covered_ids": covered,
                    "walk_m": float(sum(w for w, _ in take)),
                }
            )
    left = [hid for hid in todo if hid in remaining]
    unresolved = pd.DataFrame(
        {
            "household_id": left,
            "grid_id": [grid.get(hid) for hid in left],
            "reason": [f"no party-member household of grid {grid.get(hid)} within reach" for hid in left],
        }
    )
    columns = ["grid_id", "rank", "household_id", "covers", "covered_ids", "walk_m"]
    return Suggestions(pd.DataFrame(rows, columns=columns), unresolved)
