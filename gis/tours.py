"""A walking order through the buildings a grid worker has to visit today (走访路线): an open path from where the
worker stands through every stop once, short along the walk network.

Pure: a distance matrix in, an order out (the caller builds the matrix from the walk graph, api.tour_graphs). The
path is open (the worker does not come back) and starts at row `start`; distances are taken as symmetric (the
mean of d[i, j] and d[j, i]), as walking distances are.

- Up to `exact_up_to` stops (default 12): **Held-Karp**, the exact optimum (O(2^n n^2), ~1.5 ms for 12).
- Beyond: **nearest neighbour**, then **2-opt** and **Or-opt** (segments of 1–3 stops moved, either way round) to
  a local optimum, then an **iterated local search**: a random double-bridge kick and local search again, kept when
  no longer (plateaus of equal length are walked along), a random restart after 10 kicks without gain, the best
  path kept; until the time cap, `max_kicks` (300) or `patience` (200) kicks without a shorter path.
  Deterministic for a given `seed` when the cap does not bite.

The inner loops (Held-Karp, 2-opt, Or-opt) are compiled with numba (``nogil``: a due list's tour no longer holds
the GIL, so it does not stall the server's other threads); the kicks' loop and the time cap stay in Python.
Compiled code is cached beside the module; `warm_up` loads it (a server calls it at start-up).

How close to optimal (tests/gis/test_tours.py, 2 × 100 random cases of 9–14 stops against Held-Karp, itself
checked against brute force; uniform points in a 1 km square, and street-grid distances with many ties): printed by
``pytest -s tests/gis/test_tours.py``; the figures and times are in docs/fieldwork.md.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["Tour", "held_karp", "local_search", "nearest_neighbour", "path_length", "plan_tour", "warm_up"]

EXACT_UP_TO = 12  # stops solved exactly by default (Held-Karp compiled: ~1.5 ms for 12, ~7 ms for 14)
RESTART_AFTER = 10  # kicks without improvement before a random restart
MAX_KICKS = 300  # iterated local search rounds at most (the time cap may end it first)
PATIENCE = 200  # kicks without a shorter best path before the search stops


def _compiled(func: Callable) -> Callable:
    """`func` compiled without the GIL, cached on disk where numba finds a writable folder (else compiled again in
    each process: numba refuses ``cache=True`` outright when it has nowhere to write)."""
    try:
        return njit(cache=True, nogil=True)(func)
    except RuntimeError:
        return njit(nogil=True)(func)


@dataclass(frozen=True)
class Tour:
    """An open path: `order` are the row indices of the stops in visiting order (the start not included), `legs`
    the distance of each step (start → first stop, …), `total` their sum, `method` "exact" or "heuristic"."""

    order: list[int]
    legs: list[float]
    total: float
    method: str


def _matrix(dist: np.ndarray) -> np.ndarray:
    d = np.asarray(dist, dtype=float)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"a square distance matrix is needed, got shape {d.shape}")
    if not np.isfinite(d).all() or (d < 0).any():
        raise ValueError("distances must be finite and non-negative (join detached points by another measure)")
    return (d + d.T) / 2.0


def path_length(dist: np.ndarray, path: list[int] | np.ndarray) -> float:
    """Length of the open path visiting `path` in order (start included as its first element)."""
    p = np.asarray(path, dtype=np.int64)
    return float(np.asarray(dist, dtype=float)[p[:-1], p[1:]].sum()) if len(p) > 1 else 0.0


def held_karp(dist: np.ndarray, start: int = 0) -> list[int]:
    """The shortest open path from `start` through every other row (exact, O(2^n n^2)): the full path, start
    first. For n up to ~12."""
    d = _matrix(dist)
    n = len(d)
    others = [i for i in range(n) if i != start]
    if not others:
        return [start]
    order = _held_karp(np.ascontiguousarray(d[np.ix_(others, others)]), np.ascontiguousarray(d[start, others]))
    return [start, *(others[j] for j in order)]


@_compiled
def _held_karp(sub: np.ndarray, from_start: np.ndarray) -> np.ndarray:  # pragma: no cover (compiled)
    """Held-Karp on the stops but the start: cost[mask, j] is the shortest path from the start through the stops
    of `mask`, ending at j. Returns the stops' order."""
    m = len(from_start)
    size = 1 << m
    cost = np.full((size, m), np.inf)
    parent = np.full((size, m), -1, dtype=np.int64)
    for j in range(m):
        cost[1 << j, j] = from_start[j]
    for mask in range(1, size):  # every mask after all its subsets
        for j in range(m):
            if not mask & (1 << j) or mask == 1 << j:
                continue
            before = mask ^ (1 << j)
            best, best_k = np.inf, -1
            for k in range(m):
                if before & (1 << k):
                    c = cost[before, k] + sub[k, j]
                    if c < best:
                        best, best_k = c, k
            cost[mask, j] = best
            parent[mask, j] = best_k
    mask, j = size - 1, int(np.argmin(cost[size - 1]))
    order = np.empty(m, dtype=np.int64)
    for slot in range(m - 1, -1, -1):
        order[slot] = j
        mask, j = mask ^ (1 << j), parent[mask, j]
    return order


def nearest_neighbour(dist: np.ndarray, start: int = 0) -> list[int]:
    """The greedy path: always on to the nearest stop not yet visited (ties: the lower row)."""
    d = _matrix(dist)
    n = len(d)
    seen = np.zeros(n, dtype=bool)
    path, here = [start], start
    seen[start] = True
    for _ in range(n - 1):
        row = np.where(seen, np.inf, d[here])
        here = int(np.argmin(row))
        seen[here] = True
        path.append(here)
    return path


@_compiled
def _two_opt(d: np.ndarray, p: np.ndarray) -> bool:  # pragma: no cover (compiled)
    """Improving 2-opt moves (reverse p[i..j]; j may be the open end) until none is left; whether one was made."""
    n, improved, again = len(p), False, True
    while again:
        again = False
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                a, b, c = p[i - 1], p[i], p[j]
                if j + 1 < n:
                    delta = d[a, c] + d[b, p[j + 1]] - d[a, b] - d[c, p[j + 1]]
                else:
                    delta = d[a, c] - d[a, b]
                if delta < -1e-9:
                    p[i : j + 1] = p[i : j + 1][::-1].copy()
                    improved = again = True
    return improved


@_compiled
def _or_opt(d: np.ndarray, p: np.ndarray, max_segment: int) -> bool:  # pragma: no cover (compiled)
    """One improving Or-opt move (a segment of 1–3 stops moved between two others or to the open end, possibly
    reversed), made in place; whether one was found. The places tried are the path's edges that do not touch the
    segment, in path order, then the end."""
    n = len(p)
    for length in range(1, min(max_segment, n - 1) + 1):
        for i in range(1, n - length + 1):
            first, last, prev = p[i], p[i + length - 1], p[i - 1]
            has_next = i + length < n
            gain_out = d[prev, first] + (d[last, p[i + length]] - d[prev, p[i + length]] if has_next else 0.0)
            for k in range(n):  # insert between p[k] and p[k + 1] (k = n - 1: after the last stop)
                if i - 1 <= k <= i + length - 1:
                    continue  # where it was, or inside it
                left = p[k]
                at_end = k == n - 1
                right = p[k + 1] if not at_end else -1
                cut = d[left, right] if not at_end else 0.0
                forward = d[left, first] + (d[last, right] if not at_end else 0.0) - cut
                backward = d[left, last] + (d[first, right] if not at_end else 0.0) - cut
                better_forward = gain_out - forward > 1e-9
                if better_forward or (length > 1 and gain_out - backward > 1e-9):
                    piece = p[i : i + length].copy()
                    if not better_forward:
                        piece = piece[::-1].copy()
                    rest = np.concatenate((p[:i], p[i + length :]))
                    at = k + 1 if k < i else k + 1 - length  # the slot in `rest` after `left`
                    p[:] = np.concatenate((rest[:at], piece, rest[at:]))
                    return True
    return False


@_compiled
def _search(d: np.ndarray, p: np.ndarray) -> np.ndarray:  # pragma: no cover (compiled)
    p = p.copy()
    while True:
        _two_opt(d, p)
        if not _or_opt(d, p, 3):
            break
    return p


@_compiled
def _path_length(d: np.ndarray, p: np.ndarray) -> float:  # pragma: no cover (compiled)
    total = 0.0
    for i in range(len(p) - 1):
        total += d[p[i], p[i + 1]]
    return total


def local_search(dist: np.ndarray, path: list[int]) -> list[int]:
    """`path` (start first, kept first) improved by 2-opt and Or-opt moves until neither helps (compiled: a few
    hundred stops take milliseconds, so it is always finished; the time cap acts between kicks)."""
    return [int(i) for i in _search(_matrix(dist), np.asarray(path, dtype=np.int64))]


def _double_bridge(path: np.ndarray, rng: random.Random) -> np.ndarray:
    """Cut the path after the start into four pieces A B C D and join them A C B D (a kick 2-opt cannot undo)."""
    i, j, k = sorted(rng.sample(range(1, len(path)), 3))  # the stdlib's sample: a tenth of numpy's choice per call
    return np.concatenate((path[:i], path[j:k], path[i:j], path[k:]))


def plan_tour(
    dist: np.ndarray,
    *,
    start: int = 0,
    time_limit_s: float = 0.02,
    exact_up_to: int = EXACT_UP_TO,
    max_kicks: int = MAX_KICKS,
    patience: int = PATIENCE,
    seed: int = 0,
) -> Tour:
    """The walking order from `start` through every other row of `dist` (metres, or any symmetric measure).

    Exact for up to `exact_up_to` stops; else the heuristic of the module docstring, stopped after
    `time_limit_s` seconds (the first local optimum is always finished), `max_kicks` kicks, or `patience` kicks
    in a row that found no shorter path."""
    d = _matrix(dist)
    n = len(d)
    if not 0 <= start < max(n, 1):
        raise ValueError(f"start {start} is not a row of the {n}×{n} matrix")
    if n - 1 <= exact_up_to:
        path, method = held_karp(d, start), "exact"
    else:
        deadline = time.perf_counter() + time_limit_s
        best_path = _search(d, np.asarray(nearest_neighbour(d, start), dtype=np.int64))
        best = _path_length(d, best_path)
        rng = random.Random(seed)
        current, current_length, stale, since_best = best_path, best, 0, 0
        others = [i for i in range(n) if i != start]
        if n >= 4:  # a double bridge needs three cut points after the start
            for _ in range(max_kicks):
                if time.perf_counter() >= deadline:
                    break
                if stale >= RESTART_AFTER:  # stuck in a deep valley: start again from a random order
                    rng.shuffle(others)
                    current = _search(d, np.array([start, *others], dtype=np.int64))
                    current_length, stale = _path_length(d, current), 0
                candidate = _search(d, _double_bridge(current, rng))
                length = _path_length(d, candidate)
                stale = 0 if length < current_length - 1e-9 else stale + 1
                if length <= current_length + 1e-9:  # equal too: drifts along the plateaus that ties make
                    current, current_length = candidate, length
                if length < best - 1e-9:
                    best_path, best, since_best = candidate, length, 0
                else:
                    since_best += 1
                    if since_best >= patience:
                        break
        path = [int(i) for i in best_path]
        method = "heuristic"
    legs = [float(d[a, b]) for a, b in zip(path[:-1], path[1:], strict=True)]
    return Tour(order=path[1:], legs=legs, total=float(sum(legs)), method=method)


def warm_up() -> None:
    """Compile (first run after an install: seconds) or load from numba's cache (~0.3 s) the compiled loops, so that
    the first due list of a server process does not pay it."""
    rows = np.arange(6, dtype=float)
    dist = np.abs(rows[:, None] - rows[None, :])
    plan_tour(dist, exact_up_to=0, max_kicks=1)
    plan_tour(dist)
