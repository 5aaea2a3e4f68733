"""党员中心户 assignment: every household to a center household of its own grid, exact, stable, with suggestions.

Rules (docs/design.md §5.4):

- A household is looked after by one center household (党员中心户) **of its own grid**; pairs across a grid line
  are never made.
- A center household looks after itself: it is assigned to itself at 0 m and does **not** use its capacity. The
  capacity (default 10, per-center override) counts the *other* households it looks after ("联系10户": ten
  neighbouring households besides its own).
- Within each grid the assignment covers as many households as the capacities allow, then minimises the total
  walking distance (network metres, `gis.centers._pairs.walk_pairs`; same building ≈ 0 m): a min-cost flow, solved
  exactly (`gis.centers._flow`). Households walk from their building's door (`gis.network.snap.household_doors`), so the
  households of a building share their walks: their search runs once and they are one node of the flow
  (`gis.centers._merge`). Distances are rounded to the millimetre for the solver; among assignments equally
  short to the millimetre, which one is returned is the solver's choice.
- Only each household's k nearest centers (default 15) are arcs of the flow. The result is then *proven* optimal for
  the whole grid by LP duality (`gis.centers._flow.certify`); a grid that fails the proof, or leaves households
  uncovered, is solved again with all its pairs (``all_pairs``, or every pair given for it).
- Households left uncovered are listed with the reason: ``grid X lacks N places`` when the grid's capacity is short,
  or no center reachable on the walk network.

Stable re-assignment (``previous``): keeping a household's previous center is worth a bonus B. In a grid with
previous pairs every household pays ``walk + B`` on every arc but its previous one, households without a previous
center included, so that pushing a kept household out to uncovered is never free. With the default
``keep_bonus_m=None`` B exceeds any possible saving in the grid, so the flow keeps the most previous pairs possible,
then minimises walking: a household moves only when its previous pair is gone (center removed, grid changed,
capacity reduced) or to make room along the shortest chain such a move needs. A finite ``keep_bonus_m`` also lets
households move when that saves more than B metres in total. `Assignment.moves` lists exactly who moved and why.

Suggestions (`gis.centers._suggest.suggest_centers`): which party-member households to make centers so that the
uncovered are covered, fewest first. Distances: `gis.centers._pairs.walk_pairs`; the stages' arcs and solves:
`gis.centers._stages`; solvers and the optimality proof: `gis.centers._flow`; the result tables:
`gis.centers.report.Assignment`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np
import pandas as pd
from scipy.sparse import csr_array, csr_matrix

from gis.centers._flow import Solver
from gis.centers._pairs import DEFAULT_K as DEFAULT_LISTED
from gis.centers._pairs import DEFAULT_LIMIT_M, Access, walk_pairs
from gis.centers._stages import Problem, bonus_mm_per_client, pair_walk, rank, solve_stage, sorted_arcs
from gis.centers.report import MM, Assignment, build_report
from gis.steps import Step, untimed

__all__ = [
    "DEFAULT_CAPACITY",
    "Assignment",
    "assign_centers",
    "assign_on_network",
    "households_from_layers",
    "prepare_households",
    "untimed",
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
    pairs : candidate pairs ``household_id``, ``center_id``, ``walk_m`` (e.g. `gis.centers._pairs.walk_pairs`). A
        center not listed for a household must be at least as far as the farthest one listed for it (its previous
        center apart), or unreachable. Pairs across grids or with non-centers are ignored.
    k : arcs per household in the first round (its k nearest pairs); None uses every pair.
    all_pairs : ``[grid_id, ...] -> pairs`` to every center of those grids (e.g. ``lambda grids: walk_pairs(...,
        k=None, grids=grids)``), called once for the grids where the k nearest are not enough; without it those
        grids use every pair given in `pairs`.
    previous : the previous assignment: a Series ``household_id -> center_id`` or a frame with those columns.
    keep_bonus_m : worth of keeping a previous pair in metres; None = keep whenever possible (strict).
    default_capacity : capacity of centers without one.
    solver : ``'auto'`` (OR-Tools when installed, else scipy), ``'ortools'`` or ``'scipy'``; both are exact.
    """
    needed = [col for col in ("id", "grid_id", "is_center", "capacity") if col in households.columns]
    hh = prepare_households(households[needed], default_capacity=default_capacity)
    n = len(hh)
    grid_code, grid_values = pd.factorize(hh["grid_id"], use_na_sentinel=True)
    grid_code = np.asarray(grid_code, dtype=np.int64)
    p = Problem.build(hh, grid_code)
    client, center, center_of = p.client, p.center, p.center_of
    capacity = hh["capacity"].to_numpy()[center]
    client_grid, center_grid = p.groups

    prev = np.full(len(client), -1, dtype=np.int64)
    prev_id = pd.Series(pd.NA, index=range(n), dtype=object)
    if previous is not None:
        series = previous if isinstance(previous, pd.Series) else previous.set_index("household_id")["center_id"]
        series = series[series.notna()]
        prev_id = hh["id"].map(series.astype(object))  # object: integer ids stay integers where some are missing
        pos = pd.Index(hh["id"]).get_indexer(prev_id.to_numpy()[client])
        ok = pos >= 0
        ci = np.where(ok, center_of[np.maximum(pos, 0)], -1)
        prev = np.where((ci >= 0) & (center_grid[np.maximum(ci, 0)] == client_grid), ci, -1)
    bonus_mm = None if keep_bonus_m is None else keep_bonus_m * _MM

    h, c, walk, mm = p.arcs(pairs)
    listed = np.bincount(h, minlength=len(client))
    n_grids = len(grid_values)
    centers_in_grid = np.bincount(center_grid, minlength=n_grids)
    room = np.bincount(center_grid, weights=capacity, minlength=n_grids)
    # lower bound of the walk to a center not listed for a household: inf when `pairs` is the whole problem
    floor = np.full(len(client), np.inf)
    if all_pairs is not None:
        some = listed > 0
        # each household's farthest listed arc (arcs sorted by household), its previous center left out: that one
        # may be listed beyond the nearest (walk_pairs' `include`), so it says nothing about the centers not listed
        far = walk if previous is None else np.where(prev[h] == c, 0.0, walk)
        farthest = np.maximum.reduceat(far, (np.cumsum(listed) - listed)[some]) if some.any() else np.zeros(0)
        partial = listed[some] < centers_in_grid[client_grid[some]]
        floor[np.flatnonzero(some)[partial]] = farthest[partial]
        floor[~some & (centers_in_grid[client_grid] > 0)] = 0.0
    bonus = bonus_mm_per_client(p, prev, bonus_mm, float(walk.max()) if len(walk) else 0.0)
    state = dict(floor=floor, prev=prev, bonus=bonus, capacity=capacity, solver=solver)
    everywhere = np.ones(n_grids, dtype=bool)
    # grids where a previous pair has no distance in `pairs`: straight to all_pairs
    direct = np.zeros(n_grids, dtype=bool)
    if all_pairs is not None and previous is not None:
        has_prev_arc = np.zeros(len(client), dtype=bool)
        has_prev_arc[h[prev[h] == c]] = True
        direct[np.unique(client_grid[(prev >= 0) & ~has_prev_arc])] = True

    # stage 1: each household's k nearest (and its previous center); the other listed pairs are checked exactly
    use = np.ones(len(h), dtype=bool) if k is None else rank(h, listed) < k
    if k is not None and (prev >= 0).any():
        use |= prev[h] == c
    first = solve_stage(p, everywhere & ~direct, h, c, mm, use, certify_it=True, **state)
    assigned = first.assigned
    stage = np.where(direct, 3, 1)
    short = np.zeros(n_grids, dtype=bool)
    short[np.unique(client_grid[(first.assigned < 0) & (listed > 0)])] = True
    restricted = np.zeros(n_grids, dtype=bool)  # grids whose stage 1 did not see the whole problem
    restricted[client_grid[listed > np.bincount(h[use], minlength=len(client))]] = True
    restricted[np.unique(client_grid[np.isfinite(floor)])] = True
    again = ~direct & restricted & (~first.proven | short)
    # stage 2: every listed pair of those grids
    if again.any():
        second = solve_stage(p, again, h, c, mm, np.ones(len(h), dtype=bool), certify_it=True, **state)
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
        assert all_pairs is not None  # a grid is marked direct only when all_pairs is given
        h2, c2, w2, _ = p.arcs(all_pairs([grid_values[g] for g in np.flatnonzero(direct)]))
        mine = direct[client_grid][h]
        h2, c2, w2, mm2 = sorted_arcs(np.r_[h2, h[mine]], np.r_[c2, c[mine]], np.r_[w2, walk[mine]])
        longest = float(max(w2.max() if len(w2) else 0.0, walk.max() if len(walk) else 0))
        bonus3 = bonus_mm_per_client(p, prev, bonus_mm, longest)
        third = solve_stage(
            p,
            direct,
            h2,
            c2,
            mm2,
            np.ones(len(h2), dtype=bool),
            certify_it=False,
            **{**state, "bonus": bonus3},
        )
        redo = direct[client_grid]
        assigned[redo] = third.assigned[redo]
        stage[direct] = 3
        listed[redo] = 0
        listed += np.bincount(h2, minlength=len(client)) * redo

    client_walk = pair_walk(h, c, walk, assigned)
    prev_walk = pair_walk(h, c, walk, prev)
    if direct.any():  # the walks of those grids' households come from all their pairs
        redo = direct[client_grid]
        client_walk[redo] = pair_walk(h2, c2, w2, assigned)[redo]
        prev_walk[redo] = pair_walk(h2, c2, w2, prev)[redo]
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
    step: Step = untimed,
) -> Assignment:
    """`walk_pairs` (the `listed` nearest centers of each household) + `assign_centers` with `all_pairs` on the
    same network: the assignment after snapping. `gis.centers.run` is the whole pipeline (graph, doors, snapping,
    this, suggestions); `step` wraps each named step (see `untimed`)."""
    hh = prepare_households(households, default_capacity=default_capacity)
    include = None
    if previous is not None:
        series = previous if isinstance(previous, pd.Series) else previous.set_index("household_id")["center_id"]
        series = series[series.notna()]
        include = pd.DataFrame({"household_id": series.index, "center_id": series.to_numpy()})

    def pairs(grids: list | None, many: int | None) -> pd.DataFrame:
        return walk_pairs(graph, hh, access, node_xy=node_xy, k=many, limit_m=limit_m, grids=grids, include=include)

    return step(
        "assign_centers (exact flow)",
        assign_centers,
        hh,
        pairs=step("walk_pairs (listed nearest)", pairs, None, listed),
        k=k,
        all_pairs=lambda grids: step("walk_pairs (all pairs of grids)", pairs, grids, None),
        previous=previous,
        keep_bonus_m=keep_bonus_m,
        default_capacity=default_capacity,
        solver=solver,
    )
