"""Exact capacitated assignment (a min-cost flow) of households to centers, and its optimality certificate.

The problem, per grid: households h (supply 1), centers c (capacity u_c), arcs (h, c) with an integer cost.
Maximise the number of households assigned, then minimise the total cost. Grids never share arcs: `solve_flow`
takes all grids at once and solves each connected component (at most a grid) on its own.

Two exact back ends:

- ``ortools``: OR-Tools ``SimpleMinCostFlow.solve_max_flow_with_min_cost`` (cost scaling, C++), source → households
  → centers → sink, per component (one graph of 400k households takes 25 s, 1024 graphs of a grid 2 s). Needs the
  optional ``ortools`` package; 1.2–1.8× faster than scipy at 400k.
- ``scipy``: ``scipy.sparse.csgraph.min_weight_full_bipartite_matching`` (LAPJVsp) per grid, each center expanded
  into u_c identical slot columns. When neither side can be matched in full (households out of reach *and* free
  capacity), every household gets a private "uncovered" column of cost M > n·max cost, which makes coverage
  lexicographically first.

`certify` checks a solution computed on a *subset* of the arcs (each household's k nearest centers) against the
whole problem, without knowing the missing arcs: it computes the smallest LP prices λ_c ≥ 0 of the centers that
support the solution (a center with room must get λ_c = 0, else the solution itself is not optimal), then a
household h assigned to a is optimal against every arc it was not given if ``cost(h, a) + λ_a <= cost(h, c) + λ_c``
for the arcs whose cost is known but were left out of the flow, and ``<= floor_h + min λ_c`` over the centers not
listed for it, where ``floor_h`` is a lower bound of their cost. If every household passes, the LP dual is feasible
for the whole problem and the solution is optimal for it (LP duality; the transport LP has integral optima).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

__all__ = ["Solver", "certify", "have_ortools", "solve_flow"]

Solver = Literal["auto", "ortools", "scipy"]


def have_ortools() -> bool:
    """Whether the optional OR-Tools back end can be imported."""
    try:
        from ortools.graph.python import min_cost_flow  # noqa: F401
    except ImportError:
        return False
    return True


def solve_flow(
    *,
    arc_h: np.ndarray,
    arc_c: np.ndarray,
    cost: np.ndarray,
    capacity: np.ndarray,
    n_households: int,
    solver: Solver = "auto",
) -> np.ndarray:
    """Assign households to centers: max coverage, then min total cost (exact).

    Parameters
    ----------
    arc_h, arc_c : household index (0..n_households-1) and center index (0..len(capacity)-1) of each arc. Arcs
        must not join different grids' households and centers unless the grids are meant as one problem.
    cost : int64 cost of each arc (≥ 0).
    capacity : int capacity of each center (≥ 0).
    solver : ``'ortools'``, ``'scipy'`` or ``'auto'`` (OR-Tools when installed).

    Returns
    -------
    (n_households,) center index of each household, -1 where uncovered.
    """
    arc_h, arc_c = np.asarray(arc_h, dtype=np.int64), np.asarray(arc_c, dtype=np.int64)
    cost, capacity = np.asarray(cost, dtype=np.int64), np.asarray(capacity, dtype=np.int64)
    if (cost < 0).any() or (capacity < 0).any():
        raise ValueError("arc costs and capacities must be non-negative")
    if solver == "auto":
        solver = "ortools" if have_ortools() else "scipy"
    if len(arc_h) == 0:
        return np.full(n_households, -1, dtype=np.int64)
    if solver == "ortools":
        return _solve_ortools(arc_h, arc_c, cost, capacity, n_households)
    if solver == "scipy":
        return _solve_scipy(arc_h, arc_c, cost, capacity, n_households)
    raise ValueError(f"unknown solver {solver!r}: use 'auto', 'ortools' or 'scipy'")


def _solve_ortools(arc_h, arc_c, cost, capacity, n_households) -> np.ndarray:
    """OR-Tools per component: cost scaling slows down on one graph of all grids (25 s vs 2 s for 400k)."""
    from ortools.graph.python import min_cost_flow

    def one(h: np.ndarray, c: np.ndarray, cost: np.ndarray, cap: np.ndarray, n_h: int) -> np.ndarray:
        n_c = len(cap)
        source, sink = n_h + n_c, n_h + n_c + 1
        flow = min_cost_flow.SimpleMinCostFlow()
        tails = np.concatenate([np.full(n_h, source), h, n_h + np.arange(n_c)])
        heads = np.concatenate([np.arange(n_h), n_h + c, np.full(n_c, sink)])
        caps = np.concatenate([np.ones(n_h + len(h), dtype=np.int64), cap])
        costs = np.concatenate([np.zeros(n_h, np.int64), cost, np.zeros(n_c, np.int64)])
        flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
        flow.set_nodes_supplies(np.array([source, sink]), np.array([n_h, -n_h]))
        status = flow.solve_max_flow_with_min_cost()
        if status != flow.OPTIMAL:
            raise RuntimeError(f"OR-Tools min-cost flow failed with status {status}")
        used = flow.flows(np.arange(n_h, n_h + len(h))) > 0
        out = np.full(n_h, -1, dtype=np.int64)
        out[h[used]] = c[used]
        return out

    return _per_component(one, arc_h, arc_c, cost, capacity, n_households)


def _components(arc_h: np.ndarray, arc_c: np.ndarray, n_households: int, n_c: int) -> tuple[np.ndarray, int]:
    """Component label of every arc (households and centers joined by arcs), so each grid is solved alone."""
    from scipy.sparse.csgraph import connected_components

    n = n_households + n_c
    graph = csr_array((np.ones(len(arc_h)), (arc_h, n_households + arc_c)), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    return labels[arc_h], count


def _per_component(solve, arc_h, arc_c, cost, capacity, n_households) -> np.ndarray:
    """Run ``solve(h, c, cost, capacity, n_h)`` on each connected component with local indices."""
    out = np.full(n_households, -1, dtype=np.int64)
    label, _ = _components(arc_h, arc_c, n_households, len(capacity))
    order = np.argsort(label, kind="stable")
    cuts = np.flatnonzero(np.diff(label[order])) + 1
    for part in np.split(order, cuts):
        hs, h_local = np.unique(arc_h[part], return_inverse=True)
        cs, c_local = np.unique(arc_c[part], return_inverse=True)
        chosen = solve(h_local, c_local, cost[part], capacity[cs], len(hs))
        ok = chosen >= 0
        out[hs[ok]] = cs[chosen[ok]]
    return out


def _solve_scipy(arc_h, arc_c, cost, capacity, n_households) -> np.ndarray:
    return _per_component(_match, arc_h, arc_c, cost, capacity, n_households)


def _match(h: np.ndarray, c: np.ndarray, cost: np.ndarray, capacity: np.ndarray, n_h: int) -> np.ndarray:
    """One component by LAPJVsp on capacity-expanded columns; local center index per household or -1."""
    slots = np.concatenate([[0], np.cumsum(capacity)])
    n_slots = int(slots[-1])
    if n_slots == 0:
        return np.full(n_h, -1, dtype=np.int64)
    key = h * len(capacity) + c
    order = np.lexsort((cost, key))
    first = np.r_[True, key[order][1:] != key[order][:-1]]
    h, c, cost = h[order][first], c[order][first], cost[order][first]  # parallel arcs: keep the cheapest
    reps = capacity[c]
    rows = np.repeat(h, reps)
    start = np.cumsum(reps) - reps
    cols = np.repeat(slots[c], reps) + np.arange(reps.sum()) - np.repeat(start, reps)
    weight = np.repeat(cost, reps).astype(float) + 1.0  # LAPJVsp needs non-zero weights; a constant per household
    slot_center = np.repeat(np.arange(len(capacity)), capacity)
    try:
        graph = csr_array((weight, (rows, cols)), shape=(n_h, n_slots))
        r, s = min_weight_full_bipartite_matching(graph)
    except ValueError:  # neither side matches in full: add a private "uncovered" column per household
        big = float(n_h + 1) * (float(cost.max()) + 2.0)
        graph = csr_array(
            (np.r_[weight, np.full(n_h, big)], (np.r_[rows, np.arange(n_h)], np.r_[cols, n_slots + np.arange(n_h)])),
            shape=(n_h, n_slots + n_h),
        )
        r, s = min_weight_full_bipartite_matching(graph)
        keep = s < n_slots
        r, s = r[keep], s[keep]
    out = np.full(n_h, -1, dtype=np.int64)
    out[r] = slot_center[s]
    return out


def certify(
    *,
    arc_h: np.ndarray,
    arc_c: np.ndarray,
    cost: np.ndarray,
    capacity: np.ndarray,
    assigned: np.ndarray,
    floor: np.ndarray,
    center_group: np.ndarray,
    household_group: np.ndarray,
    extra_h: np.ndarray | None = None,
    extra_c: np.ndarray | None = None,
    extra_cost: np.ndarray | None = None,
) -> np.ndarray:
    """Which households' assignments are proven optimal against the arcs they were not given.

    Parameters
    ----------
    arc_h, arc_c, cost, capacity : the restricted problem that was solved (as `solve_flow`).
    assigned : its solution (center index per household, -1 uncovered).
    floor : per household, a lower bound of the cost of every arc of its group that is neither an arc nor an
        extra arc (inf if there is none).
    center_group, household_group : group (grid) of every center and household.
    extra_h, extra_c, extra_cost : arcs left out of the flow whose cost is known: checked exactly.

    Returns
    -------
    (n_households,) bool: True where the household passes (uncovered households pass only with an infinite floor;
    a group is optimal when all its households pass). A group whose own solution is not optimal (a price cycle, or
    a center with room and a positive price) fails as a whole.
    """
    arc_h, arc_c, cost = np.asarray(arc_h), np.asarray(arc_c), np.asarray(cost, dtype=float)
    own = assigned[arc_h]
    covered = own >= 0
    own_cost = np.full(len(assigned), np.nan)
    mine = covered & (arc_c == own)
    own_cost[arc_h[mine]] = cost[mine]
    # price constraints λ_c ≥ λ_a - w(a, c): moving a household of a to c costs w
    other = covered & (arc_c != own)
    a, c = own[other], arc_c[other]
    w = cost[other] - own_cost[arc_h[other]]
    price, cycle = _prices(a, c, w, center_group)
    if extra_h is None:
        extra_h, extra_c, extra_cost = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    extra_h, extra_c = np.asarray(extra_h, dtype=np.int64), np.asarray(extra_c, dtype=np.int64)
    known_h, known_c = np.r_[arc_h, extra_h].astype(np.int64), np.r_[arc_c, extra_c].astype(np.int64)
    min_price = _min_price_excluded(known_h, known_c, price, center_group, household_group, len(assigned))
    alpha = np.where(assigned >= 0, own_cost + price[np.maximum(assigned, 0)], np.inf)
    ok = np.where(assigned >= 0, alpha <= floor + min_price + 1e-9, ~np.isfinite(floor))
    if len(extra_h):
        slack = np.asarray(extra_cost, dtype=float) + price[extra_c] + 1e-9 - alpha[extra_h]
        ok &= np.bincount(extra_h[slack < 0], minlength=len(assigned)) == 0
    # complementary slackness: a center with room must cost nothing, or some household could move there
    load = np.bincount(assigned[assigned >= 0], minlength=len(capacity))
    bad = np.unique(np.r_[cycle, center_group[(load < capacity) & (price > 1e-9)]])
    if len(bad):  # a price cycle or a priced center with room: the solution is not optimal
        ok &= ~np.isin(household_group, bad)
    return ok


def _prices(a: np.ndarray, c: np.ndarray, w: np.ndarray, center_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Smallest prices λ ≥ 0 with λ_c ≥ λ_a - w for every arc a → c (Bellman-Ford for longest paths).

    Only arcs with w below the largest price of their grid can bind, so the search starts with the negative arcs
    and takes in more as prices rise. Returns the prices and the groups left with a positive cycle (no solution).
    """
    n_c = len(center_group)
    price = np.zeros(n_c)
    if not (w < 0).any():
        return price, np.zeros(0, dtype=center_group.dtype)
    group_a = center_group[a]
    n_groups = int(center_group.max()) + 1
    active = w < 0
    for _ in range(n_c + 2):
        aa, cc, ww = a[active], c[active], w[active]
        for _ in range(n_c + 1):
            new = price.copy()
            np.maximum.at(new, cc, price[aa] - ww)
            rise = new > price + 1e-9
            if not rise.any():
                break
            price = new
        else:
            return price, np.unique(center_group[rise])
        top = np.zeros(n_groups)
        np.maximum.at(top, center_group, price)
        wider = w < top[group_a]
        if not (wider & ~active).any():
            return price, np.zeros(0, dtype=center_group.dtype)
        active |= wider
    return price, np.zeros(0, dtype=center_group.dtype)


def _min_price_excluded(
    arc_h: np.ndarray,
    arc_c: np.ndarray,
    price: np.ndarray,
    center_group: np.ndarray,
    household_group: np.ndarray,
    n_households: int,
) -> np.ndarray:
    """Per household, the lowest price among the centers of its group it has no arc to (inf if none)."""
    n_c = len(price)
    out = np.full(n_households, np.inf)
    if n_c == 0 or n_households == 0:
        return out
    per_h = np.bincount(arc_h, minlength=n_households)
    m = int(per_h.max()) + 1 if len(arc_h) else 1
    order = np.lexsort((price, center_group))
    groups = center_group[order]
    starts = np.searchsorted(groups, groups, side="left")
    rank = np.arange(n_c) - starts
    n_groups = int(max(center_group.max(), household_group.max())) + 1
    cheapest = np.full((n_groups, m), -1, dtype=np.int64)  # per group: its m cheapest centers, by price
    top = rank < m
    cheapest[groups[top], rank[top]] = order[top]
    keys = np.sort(arc_h.astype(np.int64) * n_c + arc_c, kind="stable")  # runs sorted by household: cheap
    todo = np.flatnonzero(household_group >= 0)
    for j in range(m):
        if len(todo) == 0:
            break
        cand = cheapest[household_group[todo], j]
        none_left = cand < 0
        want = todo * n_c + np.maximum(cand, 0)
        at = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        has_arc = (keys[at] == want) if len(keys) else np.zeros(len(todo), dtype=bool)
        found = ~none_left & ~has_arc
        out[todo[found]] = price[cand[found]]
        todo = todo[~found & ~none_left]
    return out
