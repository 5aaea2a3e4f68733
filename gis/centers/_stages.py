"""The arcs and solve stages behind `gis.centers.assign_centers`: index maps, costs in millimetres, one exact solve
of many grids with its optimality proof.

Households and centers are numbered grid by grid (row order within a grid), so the arcs of every grid are one
contiguous run: `gis.centers._flow.solve_flow` takes each grid as its own problem without sorting or searching for
components, and every step here is a vectorised pass over all grids at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gis.centers._flow import certify, solve_flow
from gis.centers._pairs import DEFAULT_LIMIT_M
from gis.centers.report import MM

__all__ = ["Problem", "Stage", "bonus_mm_per_client", "pair_walk", "rank", "solve_stage", "sorted_arcs"]


def rank(h: np.ndarray, listed: np.ndarray | None = None) -> np.ndarray:
    """Rank of each arc within its household, for arcs sorted by household then walk (0 = nearest); `listed`: the
    number of arcs of each household, if known."""
    if len(h) == 0:
        return np.zeros(0, dtype=np.int64)
    if listed is None:
        start = np.searchsorted(h, np.arange(int(h[-1]) + 1))
    else:
        start = np.cumsum(listed) - listed
    out = np.arange(len(h), dtype=h.dtype)
    out -= start.astype(h.dtype)[h]
    return out


@dataclass
class Problem:
    """Index maps shared by the stages of `assign_centers`."""

    hh: pd.DataFrame
    grid_code: np.ndarray  # per household, -1 without grid
    client: np.ndarray  # household positions of clients (non-centers with a grid), grid by grid
    center: np.ndarray  # household positions of centers with a grid, grid by grid
    client_of: np.ndarray  # household position → client index or -1
    center_of: np.ndarray  # household position → center index or -1
    notes: list[str]

    @classmethod
    def build(cls, hh: pd.DataFrame, grid_code: np.ndarray) -> Problem:
        n = len(hh)
        has_grid = grid_code >= 0
        is_center = hh["is_center"].to_numpy()
        client, center = np.flatnonzero(~is_center & has_grid), np.flatnonzero(is_center & has_grid)
        client = client[np.argsort(grid_code[client], kind="stable")]
        center = center[np.argsort(grid_code[center], kind="stable")]
        index = np.int32 if n < 2**31 - 1 else np.int64  # arcs are indexed in int32: half the memory
        client_of, center_of = np.full(n, -1, index), np.full(n, -1, index)
        client_of[client], center_of[center] = np.arange(len(client)), np.arange(len(center))
        return cls(hh, grid_code, client, center, client_of, center_of, [])

    @property
    def groups(self) -> tuple[np.ndarray, np.ndarray]:
        return self.grid_code[self.client], self.grid_code[self.center]

    def positions(self, ids: pd.Series) -> np.ndarray:
        """Household row of each id (-1 if unknown); a categorical looks up its categories only."""
        index = pd.Index(self.hh["id"])
        if isinstance(ids.dtype, pd.CategoricalDtype):
            codes, cats = ids.array.codes, ids.array.categories
            if len(cats) == len(index) and cats.equals(index):
                return codes  # the categories are the households themselves (as from `walk_pairs`)
            if 4 * len(cats) < len(index):  # a few households (e.g. `all_pairs` of some grids): hash the few
                at = cats.get_indexer(index)
                found = np.full(len(cats) + 1, -1, dtype=np.int64)
                found[at[at >= 0]] = np.flatnonzero(at >= 0)
                return found[codes]
            return np.r_[index.get_indexer(cats), -1][codes]
        return index.get_indexer(ids.to_numpy())

    def arcs(self, pairs: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Valid (client, center, walk m, walk mm) arcs of `pairs`, by client then walk; others counted in notes."""
        if pairs is None or len(pairs) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
        hp, cp = self.positions(pairs["household_id"]), self.positions(pairs["center_id"])
        walk = pairs["walk_m"]
        walk = walk.to_numpy() if walk.dtype == float else pd.to_numeric(walk, errors="coerce").to_numpy(dtype=float)
        unknown = int(((hp < 0) | (cp < 0)).sum())
        grid = self.grid_code.astype(self.client_of.dtype)  # int32: half the memory traffic of the 10⁷ lookups
        if unknown:  # index -1 (unknown id) reads the sentinel appended at the end: -1
            client_of, center_of, grid = np.r_[self.client_of, -1], np.r_[self.center_of, -1], np.r_[grid, -2]
        else:
            client_of, center_of = self.client_of, self.center_of
        same = grid[hp] == grid[cp]
        hi, ci = client_of[hp], center_of[cp]
        del hp, cp
        ok = (hi >= 0) & (ci >= 0)
        cross = int((ok & ~same).sum())
        ok &= same
        ok &= walk >= 0
        ok &= walk < np.inf
        if cross:
            self.notes.append(f"{cross} pairs across grid lines ignored")
        if unknown:
            self.notes.append(f"{unknown} pairs naming unknown households ignored")
        if not ok.all():
            hi, ci, walk = hi[ok], ci[ok], walk[ok]
        return sorted_arcs(hi, ci, walk)


def sorted_arcs(h: np.ndarray, c: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arcs sorted by household then walk (free when they come so, as from `walk_pairs`), with the walk in mm.

    A repeated (household, center) pair is harmless here: its shorter copy ranks first, and the solvers take the
    cheaper of parallel arcs."""
    mm = np.multiply(w, MM)
    mm = np.rint(mm, out=mm).astype(np.int64)
    if len(h) > 1:
        down = np.diff(mm) < 0  # walk falls: fine only where a new household starts
        if down.any() and not (h[1:][down] > h[:-1][down]).all() or (np.diff(h) < 0).any():
            order = np.lexsort((mm, h))
            h, c, w, mm = h[order], c[order], w[order], mm[order]
    return h, c, w, mm


def bonus_mm_per_client(p: Problem, prev: np.ndarray, bonus_mm: float | None, longest_m: float) -> np.ndarray:
    """Per client, the cost (mm) added to every arc but its previous one.

    Every client of a grid that has previous pairs pays it, those without a previous center too: the number covered
    is fixed first (max flow), so the flow then pays B × (covered − kept) and keeps the most pairs possible. Were
    only clients with a previous center to pay, pushing a kept household out to "uncovered" would cost nothing and
    a household without a previous center could take its place for a shorter walk. Grids without previous pairs
    pay nothing (the plain minimum walk)."""
    grid_of_client = p.grid_code[p.client]
    n_grids = int(grid_of_client.max()) + 1 if len(p.client) else 0
    if bonus_mm is None:  # strict: above any saving in the grid: 1 + (n + 1) · longest walk
        n_per_grid = np.bincount(grid_of_client, minlength=n_grids)
        bonus = 1 + (n_per_grid[grid_of_client] + 1) * int(np.ceil(max(longest_m, DEFAULT_LIMIT_M) * MM))
    else:
        bonus = np.full(len(p.client), int(round(bonus_mm)), dtype=np.int64)
    stable_grid = np.zeros(n_grids, dtype=bool)
    stable_grid[grid_of_client[prev >= 0]] = True
    return np.where(stable_grid[grid_of_client], bonus, 0).astype(np.int64)


def _costs(h: np.ndarray, c: np.ndarray, mm: np.ndarray, prev: np.ndarray, bonus: np.ndarray) -> np.ndarray:
    if not (prev >= 0).any():
        return mm
    return mm + np.where(prev[h] == c, 0, bonus[h])


@dataclass
class Stage:
    """One solve of the grids in `grids` on arcs ``use`` of (h, c, mm), the other listed arcs being known."""

    assigned: np.ndarray
    proven: np.ndarray  # per grid


def solve_stage(p, grids, h, c, mm, use, *, floor, prev, bonus, capacity, solver, certify_it) -> Stage:
    """Solve the grids `grids` exactly on the arcs `use`; with `certify_it`, which grids are proven optimal against
    all their pairs (the listed arcs not used, and `floor` for the unlisted ones)."""
    client_grid, center_grid = p.groups
    every = bool(grids[client_grid].all())  # stage 1: no grid left out, no mask to apply
    mine = None if every else grids[client_grid][h]
    arc = use if every else mine & use
    ah, ac, cost = (h, c, mm) if arc.all() else (h[arc], c[arc], mm[arc])
    cost = _costs(ah, ac, cost, prev, bonus)
    assigned = solve_flow(
        arc_h=ah,
        arc_c=ac,
        cost=cost,
        capacity=capacity,
        n_households=len(p.client),
        solver=solver,
        groups=(client_grid, center_grid),
    )
    del arc
    proven = grids.copy()
    if certify_it:
        extra = ~use if every else mine & ~use
        del mine
        floor_cost = np.where(np.isfinite(floor), np.rint(floor * MM) + bonus, np.inf)
        ok = certify(
            arc_h=ah,
            arc_c=ac,
            cost=cost,
            capacity=capacity,
            assigned=assigned,
            floor=floor_cost,
            center_group=center_grid,
            household_group=client_grid,
            extra_h=h[extra],
            extra_c=c[extra],
            extra_cost=_costs(h[extra], c[extra], mm[extra], prev, bonus),
        )
        in_grids = grids[client_grid]
        proven[np.unique(client_grid[in_grids & ~ok])] = False
    return Stage(assigned, proven)


def pair_walk(h: np.ndarray, c: np.ndarray, walk: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Walk of the arc (i, want[i]) for every client i (its first such arc), NaN where absent; arcs sorted by `h`."""
    out = np.full(len(want), np.nan)
    hit = np.flatnonzero(c == want[h])
    if len(hit):
        first = np.r_[True, h[hit][1:] != h[hit][:-1]]
        out[h[hit[first]]] = walk[hit[first]]
    return out
