"""党员中心户 assignment: every household to a center household of its own grid, exact, stable, with suggestions.

Rules (issue 4, ../shared/domain.md §1–2):

- A household is looked after by one center household (党员中心户) **of its own grid**; pairs across a grid line
  are never made.
- A center household looks after itself: it is assigned to itself at 0 m and does **not** use its capacity. The
  capacity (default 10, per-center override) counts the *other* households it looks after ("联系10户": ten
  neighbouring households besides its own).
- Within each grid the assignment covers as many households as the capacities allow, then minimises the total
  walking distance (network metres, `gis.center_pairs.walk_pairs`; same building ≈ 0 m): a min-cost flow, solved
  exactly (`gis.center_flow`). Distances are rounded to the millimetre for the solver.
- Only each household's k nearest centers (default 15) are arcs of the flow. The result is then *proven* optimal for
  the whole grid by LP duality (`gis.center_flow.certify`); a grid that fails the proof, or leaves households
  uncovered, is solved again with all its pairs (``all_pairs``, or every pair given for it).
- Households left uncovered are listed with the reason: ``grid X lacks N places`` when the grid's capacity is short,
  or no center reachable on the walk network.

Stable re-assignment (``previous``): keeping a household's previous center is worth a bonus B (the flow pays
``walk + B`` on every other arc). With the default ``keep_bonus_m=None`` B exceeds any possible saving in the grid,
so the flow keeps the most previous pairs possible, then minimises walking: a household moves only when its
previous pair is gone (center removed, grid changed, capacity reduced) or to make room along the shortest chain
such a move needs. A finite ``keep_bonus_m`` also lets households move when that saves more than B metres in
total. `Assignment.moves` lists exactly who moved and why.

Suggestions (`gis.center_suggest.suggest_centers`): which party-member households to make centers so that the
uncovered are covered, fewest first. Distances: `gis.center_pairs.walk_pairs`; solvers and the optimality proof:
`gis.center_flow`; the result tables: `gis.center_report.Assignment`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_array, csr_matrix

from gis.center_flow import Solver, certify, solve_flow
from gis.center_pairs import DEFAULT_K as DEFAULT_LISTED
from gis.center_pairs import DEFAULT_LIMIT_M, Access, walk_pairs
from gis.center_report import MM, Assignment, build_report

__all__ = [
    "DEFAULT_CAPACITY",
    "Assignment",
    "assign_centers",
    "assign_on_network",
    "households_from_layers",
    "prepare_households",
]

DEFAULT_CAPACITY = 10
DEFAULT_K = 15  # arcs per household in the first stage
PairSource = Callable[[list[Hashable]], pd.DataFrame]
_MM = MM  # solver cost unit: millimetres
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0", ""}


def _as_bool(values: pd.Series, name: str) -> np.ndarray:
    if values.dtype == bool:
        return values.to_numpy()
    out = []
    for v in values:
        if isinstance(v, bool | np.bool_) or (isinstance(v, int | np.integer) and v in (0, 1)):
            out.append(bool(v))
        elif v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(False)
        elif str(v).strip().lower() in _TRUE | _FALSE:
            out.append(str(v).strip().lower() in _TRUE)
        else:
            raise ValueError(f"{name} must be true/false, got {v!r}")
    return np.asarray(out, dtype=bool)


def prepare_households(households: pd.DataFrame, *, default_capacity: int = DEFAULT_CAPACITY) -> pd.DataFrame:
    """Check and normalise the households table used by this module.

    Columns: ``id`` (unique), ``grid_id`` (missing: the household cannot be assigned), ``is_center`` (bool),
    optional ``capacity`` (centers only; missing → `default_capacity`), ``building``, ``is_party_member``.
    Returns a copy with ``capacity`` as int (0 for non-centers) and the booleans as bool.
    """
    missing = {"id", "grid_id", "is_center"} - set(households.columns)
    if missing:
        raise ValueError(f"households need columns id, grid_id, is_center; missing {sorted(missing)}")
    out = households.reset_index(drop=True).copy()
    if out["id"].isna().any() or out["id"].duplicated().any():
        dup = out["id"][out["id"].duplicated()].tolist()[:5]
        raise ValueError(f"household ids must be present and unique (duplicates: {dup})")
    out["is_center"] = _as_bool(out["is_center"], "is_center")
    if "is_party_member" in out.columns:
        out["is_party_member"] = _as_bool(out["is_party_member"], "is_party_member")
    cap = pd.to_numeric(out["capacity"], errors="coerce") if "capacity" in out else pd.Series(np.nan, out.index)
    cap = cap.where(cap.notna(), float(default_capacity))
    if (cap < 0).any() or (cap != np.floor(cap)).any():
        bad = out["id"][(cap < 0) | (cap != np.floor(cap))].tolist()[:5]
        raise ValueError(f"capacity must be a whole number ≥ 0 (households {bad})")
    out["capacity"] = np.where(out["is_center"], cap, 0).astype(np.int64)
    return out


def households_from_layers(
    households: pd.DataFrame, center_households: pd.DataFrame, *, default_capacity: int = DEFAULT_CAPACITY
) -> pd.DataFrame:
    """This module's households table from the layers of docs/layers.md.

    ``households`` (``source_id``, ``grid_ref``, optional ``building_ref``, ``is_party_member``) and
    ``center_households`` (``household_ref``, ``capacity``) become ``id``, ``grid_id``, ``building``,
    ``is_party_member``, ``is_center``, ``capacity``; other columns (e.g. geometry) are kept.
    """
    out = households.rename(columns={"source_id": "id", "grid_ref": "grid_id", "building_ref": "building"})
    caps = center_households.drop_duplicates("household_ref").set_index("household_ref")["capacity"]
    out["is_center"] = out["id"].isin(caps.index)
    out["capacity"] = out["id"].map(caps)
    return prepare_households(out, default_capacity=default_capacity)


def _rank(h: np.ndarray) -> np.ndarray:
    """Rank of each arc within its household, for arcs sorted by household then walk (0 = nearest)."""
    if len(h) == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.r_[True, h[1:] != h[:-1]]
    return np.arange(len(h)) - np.maximum.accumulate(np.where(first, np.arange(len(h)), 0))


@dataclass
class _Problem:
    """Index maps shared by the rounds of `assign_centers`."""

    hh: pd.DataFrame
    grid_code: np.ndarray  # per household, -1 without grid
    client: np.ndarray  # household positions of clients (non-centers with a grid)
    center: np.ndarray  # household positions of centers with a grid
    client_of: np.ndarray  # household position → client index or -1
    center_of: np.ndarray  # household position → center index or -1
    notes: list[str]

    def arcs(self, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Valid (client, center, walk) arcs of `pairs`; others are counted in `notes`."""
        if pairs is None or len(pairs) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        pos = pd.Index(self.hh["id"])
        hp = pos.get_indexer(pairs["household_id"].to_numpy())
        cp = pos.get_indexer(pairs["center_id"].to_numpy())
        walk = pd.to_numeric(pairs["walk_m"], errors="coerce").to_numpy(dtype=float)
        # index -1 (unknown id) reads the sentinel appended at the end: -1
        hi, ci = np.r_[self.client_of, -1][hp], np.r_[self.center_of, -1][cp]
        ok = (hi >= 0) & (ci >= 0)
        grid = np.r_[self.grid_code, -2]
        same = grid[hp] == grid[cp]
        cross = int((ok & ~same).sum())
        ok &= same & (walk >= 0) & (walk < np.inf)
        if cross:
            self.notes.append(f"{cross} pairs across grid lines ignored")
        unknown = int(((hp < 0) | (cp < 0)).sum())
        if unknown:
            self.notes.append(f"{unknown} pairs naming unknown households ignored")
        h, c, w = hi[ok], ci[ok], walk[ok]
        return _sorted_arcs(h, c, w, len(self.center))


def _sorted_arcs(h: np.ndarray, c: np.ndarray, w: np.ndarray, n_c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arcs sorted by household then walk (free when they come so, as from `walk_pairs`).

    A repeated (household, center) pair is harmless here: its shorter copy ranks first, and the solvers take the
    cheaper of parallel arcs."""
    if len(h) == 0:
        return h, c, w
    key = h * (int(np.rint(w.max() * _MM)) + 2) + np.rint(w * _MM).astype(np.int64)
    if (np.diff(key) < 0).any():
        order = np.argsort(key, kind="stable")
        h, c, w = h[order], c[order], w[order]
    return h, c, w


def _bonus(p: _Problem, prev: np.ndarray, bonus_mm: float | None, longest_m: float) -> np.ndarray:
    """Per client, the cost (mm) added to every arc but its previous one (0 without a previous center)."""
    grid_of_client = p.grid_code[p.client]
    if bonus_mm is None:  # strict: above any saving in the grid: 1 + (n + 1) · longest walk
        n_per_grid = np.bincount(grid_of_client, minlength=int(grid_of_client.max()) + 1 if len(p.client) else 0)
        bonus = 1 + (n_per_grid[grid_of_client] + 1) * int(np.ceil(max(longest_m, DEFAULT_LIMIT_M) * _MM))
    else:
        bonus = np.full(len(p.client), int(round(bonus_mm)), dtype=np.int64)
    return np.where(prev >= 0, bonus, 0).astype(np.int64)


def _costs(h: np.ndarray, c: np.ndarray, walk: np.ndarray, prev: np.ndarray, bonus: np.ndarray) -> np.ndarray:
    return np.rint(walk * _MM).astype(np.int64) + np.where(prev[h] == c, 0, bonus[h])


@dataclass
class _Stage:
    """One solve of the grids in `grids` on arcs ``use`` of (h, c, walk), the other listed arcs being known."""

    assigned: np.ndarray
    proven: np.ndarray  # per grid


def _stage(p, grids, h, c, walk, use, *, floor, prev, bonus, capacity, solver, certify_it) -> _Stage:
    client_grid = p.grid_code[p.client]
    center_grid = p.grid_code[p.center]
    mine = grids[client_grid[h]]
    arc = mine & use
    cost = _costs(h[arc], c[arc], walk[arc], prev, bonus)
    assigned = solve_flow(
        arc_h=h[arc], arc_c=c[arc], cost=cost, capacity=capacity, n_households=len(p.client), solver=solver
    )
    proven = grids.copy()
    if certify_it:
        extra = mine & ~use
        floor_cost = np.where(np.isfinite(floor), np.rint(floor * _MM) + bonus, np.inf)
        ok = certify(
            arc_h=h[arc],
            arc_c=c[arc],
            cost=cost,
            capacity=capacity,
            assigned=assigned,
            floor=floor_cost,
            center_group=center_grid,
            household_group=client_grid,
            extra_h=h[extra],
            extra_c=c[extra],
            extra_cost=_costs(h[extra], c[extra], walk[extra], prev, bonus),
        )
        in_grids = grids[client_grid]
        proven[np.unique(client_grid[in_grids & ~ok])] = False
    return _Stage(assigned, proven)


def assign_centers(
    households: pd.DataFrame,
    *,
    pairs: pd.DataFrame,
    k: int | None = DEFAULT_K,
    all_pairs: PairSource | None = None,
    previous: pd.DataFrame | pd.Series | None = None,
    keep_bonus_m: float | None = None,
    default_capacity: int = DEFAULT_CAPACITY,
    solver: Solver = "auto",
) -> Assignment:
    """Assign every household to a center household of its grid (module docstring for the rules).

    Parameters
    ----------
    households : ``id``, ``grid_id``, ``is_center``, optional ``capacity`` (see `prepare_households`).
    pairs : candidate pairs ``household_id``, ``center_id``, ``walk_m`` (e.g. `gis.center_pairs.walk_pairs`). A
        center not listed for a household must be at least as far as the farthest one listed for it, or
        unreachable. Pairs across grids or with non-centers are ignored.
    k : arcs per household in the first round (its k nearest pairs); None uses every pair.
    all_pairs : ``[grid_id, ...] -> pairs`` to every center of those grids (e.g. ``lambda grids: walk_pairs(...,
        k=None, grids=grids)``), called once for the grids where the k nearest are not enough; without it those
        grids use every pair given in `pairs`.
    previous : the previous assignment: a Series ``household_id -> center_id`` or a frame with those columns.
    keep_bonus_m : worth of keeping a previous pair in metres; None = keep whenever possible (strict).
    default_capacity : capacity of centers without one.
    solver : ``'auto'`` (OR-Tools when installed, else scipy), ``'ortools'`` or ``'scipy'``; both are exact.
    """
    hh = prepare_households(households, default_capacity=default_capacity)
    n = len(hh)
    grid_code, grid_values = pd.factorize(hh["grid_id"], use_na_sentinel=True)
    grid_code = np.asarray(grid_code, dtype=np.int64)
    has_grid = grid_code >= 0
    is_center = hh["is_center"].to_numpy()
    client, center = np.flatnonzero(~is_center & has_grid), np.flatnonzero(is_center & has_grid)
    client_of, center_of = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    client_of[client], center_of[center] = np.arange(len(client)), np.arange(len(center))
    p = _Problem(hh, grid_code, client, center, client_of, center_of, [])
    capacity = hh["capacity"].to_numpy()[center]
    center_grid, client_grid = grid_code[center], grid_code[client]

    prev = np.full(len(client), -1, dtype=np.int64)
    prev_id = pd.Series(pd.NA, index=range(n), dtype=object)
    if previous is not None:
        series = previous if isinstance(previous, pd.Series) else previous.set_index("household_id")["center_id"]
        series = series[series.notna()]
        prev_id = hh["id"].map(series).astype(object)
        pos = pd.Index(hh["id"]).get_indexer(prev_id.to_numpy()[client])
        ok = pos >= 0
        ci = np.where(ok, center_of[np.maximum(pos, 0)], -1)
        prev = np.where((ci >= 0) & (center_grid[np.maximum(ci, 0)] == client_grid), ci, -1)
    bonus_mm = None if keep_bonus_m is None else keep_bonus_m * _MM

    h, c, walk = p.arcs(pairs)
    rank = _rank(h)
    listed = np.bincount(h, minlength=len(client))
    n_grids = len(grid_values)
    centers_in_grid = np.bincount(center_grid, minlength=n_grids)
    room = np.bincount(center_grid, weights=capacity, minlength=n_grids)
    # lower bound of the walk to a center not listed for a household: inf when `pairs` is the whole problem
    floor = np.full(len(client), np.inf)
    if all_pairs is not None:
        last = rank == listed[h] - 1
        partial = listed[h[last]] < centers_in_grid[client_grid[h[last]]]
        floor[h[last][partial]] = walk[last][partial]
        floor[(listed == 0) & (centers_in_grid[client_grid] > 0)] = 0.0
    bonus = _bonus(p, prev, bonus_mm, float(walk.max()) if len(walk) else 0.0)
    state = dict(floor=floor, prev=prev, bonus=bonus, capacity=capacity, solver=solver)
    everywhere = np.ones(n_grids, dtype=bool)
    # grids where a previous pair has no distance in `pairs`: straight to all_pairs
    direct = np.zeros(n_grids, dtype=bool)
    if all_pairs is not None and previous is not None:
        has_prev_arc = np.zeros(len(client), dtype=bool)
        has_prev_arc[h[prev[h] == c]] = True
        direct[np.unique(client_grid[(prev >= 0) & ~has_prev_arc])] = True

    # stage 1: each household's k nearest (and its previous center); the other listed pairs are checked exactly
    use = np.ones(len(h), dtype=bool) if k is None else (rank < k) | (prev[h] == c)
    first = _stage(p, everywhere & ~direct, h, c, walk, use, certify_it=True, **state)
    assigned = first.assigned
    stage = np.where(direct, 3, 1)
    short = np.zeros(n_grids, dtype=bool)
    short[np.unique(client_grid[(first.assigned < 0) & (listed > 0)])] = True
    restricted = np.zeros(n_grids, dtype=bool)  # grids whose stage 1 did not see the whole problem
    restricted[np.unique(client_grid[h[~use]])] = True
    restricted[np.unique(client_grid[np.isfinite(floor)])] = True
    again = ~direct & restricted & (~first.proven | short)
    # stage 2: every listed pair of those grids
    if again.any():
        second = _stage(p, again, h, c, walk, np.ones(len(h), dtype=bool), certify_it=True, **state)
        redo = again[client_grid]
        assigned[redo] = second.assigned[redo]
        stage[again] = 2
        short2 = np.zeros(n_grids, dtype=bool)
        short2[np.unique(client_grid[redo & (assigned < 0) & (listed > 0)])] = True
        unlisted = np.zeros(n_grids, dtype=bool)  # grids with centers not listed for some household
        unlisted[np.unique(client_grid[np.isfinite(floor)])] = True
        if all_pairs is not None:
            direct |= again & unlisted & (~second.proven | short2)
    # stage 3: every pair of those grids from all_pairs
    if direct.any():
        h2, c2, w2 = p.arcs(all_pairs([grid_values[g] for g in np.flatnonzero(direct)]))
        mine = direct[client_grid[h]]
        h2, c2, w2 = _sorted_arcs(np.r_[h2, h[mine]], np.r_[c2, c[mine]], np.r_[w2, walk[mine]], len(center))
        bonus3 = _bonus(p, prev, bonus_mm, float(max(w2.max() if len(w2) else 0.0, walk.max() if len(walk) else 0)))
        third = _stage(
            p,
            direct,
            h2,
            c2,
            w2,
            np.ones(len(h2), dtype=bool),
            certify_it=False,
            **{**state, "bonus": bonus3},
        )
        redo = direct[client_grid]
        assigned[redo] = third.assigned[redo]
        stage[direct] = 3
        listed[redo] = 0
        listed += np.bincount(h2, minlength=len(client)) * redo
        h, c, walk = np.r_[h2, h[~mine]], np.r_[c2, c[~mine]], np.r_[w2, walk[~mine]]
        order = np.argsort(h, kind="stable")
        h, c, walk = h[order], c[order], walk[order]

    client_walk = _pair_walk(h, c, walk, assigned)
    prev_walk = _pair_walk(h, c, walk, prev)
    return build_report(
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
        stable=previous is not None,
        bonus_mm=bonus_mm,
    )


def _pair_walk(h: np.ndarray, c: np.ndarray, walk: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Walk of the arc (i, want[i]) for every client i, NaN where absent; arcs sorted by household `h`."""
    out = np.full(len(want), np.nan)
    starts = np.searchsorted(h, np.arange(len(want)))
    counts = np.searchsorted(h, np.arange(len(want)), side="right") - starts
    for j in range(int(counts.max()) if len(counts) else 0):
        i = np.flatnonzero((counts > j) & (want >= 0) & np.isnan(out))
        hit = c[starts[i] + j] == want[i]
        out[i[hit]] = walk[starts[i[hit]] + j]
    return out


def assign_on_network(
    households: pd.DataFrame,
    *,
    graph: csr_array | csr_matrix,
    access: Access,
    node_xy: np.ndarray | None = None,
    listed: int = DEFAULT_LISTED,
    k: int = DEFAULT_K,
    limit_m: float | None = DEFAULT_LIMIT_M,
    previous: pd.DataFrame | pd.Series | None = None,
    keep_bonus_m: float | None = None,
    default_capacity: int = DEFAULT_CAPACITY,
    solver: Solver = "auto",
) -> Assignment:
    """`walk_pairs` (the `listed` nearest centers of each household) + `assign_centers` with `all_pairs` on the
    same network: the whole file-mode pipeline after snapping (``gridmap centers --osm … --households …``)::

        graph = build_walk_graph(osm.nodes, osm.edges)
        access = Access.from_snap(graph, snap_points(graph, households))
        result = assign_on_network(households, graph=graph.csr, node_xy=graph.node_xy, access=access)
        result.result().to_csv("RESULT.csv", index=False)
    """
    hh = prepare_households(households, default_capacity=default_capacity)
    include = None
    if previous is not None:
        series = previous if isinstance(previous, pd.Series) else previous.set_index("household_id")["center_id"]
        series = series[series.notna()]
        include = pd.DataFrame({"household_id": series.index, "center_id": series.to_numpy()})

    def pairs(grids: list | None, many: int | None) -> pd.DataFrame:
        return walk_pairs(graph, hh, access, node_xy=node_xy, k=many, limit_m=limit_m, grids=grids, include=include)

    return assign_centers(
        hh,
        pairs=pairs(None, listed),
        k=k,
        all_pairs=lambda grids: pairs(grids, None),
        previous=previous,
        keep_bonus_m=keep_bonus_m,
        default_capacity=default_capacity,
        solver=solver,
    )
