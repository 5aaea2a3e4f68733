"""Exact capacitated assignment (a min-cost flow) of households to centers, and its optimality certificate.

The problem, per grid: households h (supply 1), centers c (capacity u_c), arcs (h, c) with an integer cost.
Maximise the number of households assigned, then minimise the total cost. Grids never share arcs: `solve_flow`
takes all grids at once and solves each grid (``groups``) or else each connected component on its own.

Two exact back ends:

- ``ortools``: OR-Tools ``SimpleMinCostFlow.solve_max_flow_with_min_cost`` (cost scaling, C++), source → households
  → centers → sink, per grid: cost scaling slows down on one graph of all grids (400k households: 52 s as one graph,
  ~4 s as 987 graphs of a grid; batching even 4 grids per graph is slower). ~1.7× faster than scipy per grid.
  Households with identical arcs (one building's door, same previous center) are one node whose supply is their
  number (`gis.centers._merge`): 4.3 → 1.1 s on the district.
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
The prices are found on the moves between centers condensed to the cheapest per center pair of a grid (≤ m² per
grid instead of one per arc), and ``min λ_c`` is looked up only for the households that need it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from gis.centers._merge import merge_identical

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
    groups: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Assign households to centers: max coverage, then min total cost (exact).

    Parameters
    ----------
    arc_h, arc_c : household index (0..n_households-1) and center index (0..len(capacity)-1) of each arc. Arcs
        must not join different grids' households and centers unless the grids are meant as one problem.
    cost : int64 cost of each arc (≥ 0).
    capacity : int capacity of each center (≥ 0).
    solver : ``'ortools'``, ``'scipy'`` or ``'auto'`` (OR-Tools when installed).
    groups : (household group, center group), e.g. the grids: each group is solved on its own (arcs must stay within
        a group). By default the connected components.

    Returns
    -------
    (n_households,) center index of each household, -1 where uncovered.
    """
    arc_h, arc_c = _index(arc_h), _index(arc_c)
    cost, capacity = np.asarray(cost, dtype=np.int64), np.asarray(capacity, dtype=np.int64)
    if (cost < 0).any() or (capacity < 0).any():
        raise ValueError("arc costs and capacities must be non-negative")
    if solver == "auto":
        solver = "ortools" if have_ortools() else "scipy"
    if len(arc_h) == 0:
        return np.full(n_households, -1, dtype=np.int64)
    if groups is None:
        groups = _components(arc_h, arc_c, n_households, len(capacity))
    if solver == "ortools":
        return _solve_ortools(arc_h, arc_c, cost, capacity, n_households, groups)
    if solver == "scipy":
        return _solve_scipy(arc_h, arc_c, cost, capacity, n_households, groups)
    raise ValueError(f"unknown solver {solver!r}: use 'auto', 'ortools' or 'scipy'")


def _index(a) -> np.ndarray:
    """An integer index array as it is (int32 stays int32: half the memory of the 10⁷ arcs of a district)."""
    a = np.asarray(a)
    return a if a.dtype.kind in "iu" else a.astype(np.int64)


def _solve_ortools(arc_h, arc_c, cost, capacity, n_households, groups) -> np.ndarray:
    """OR-Tools per group (module docstring: one graph of all grids is ~13× slower), on the merged problem
    (`gis.centers._merge`: households with identical arcs are one node with their number as supply)."""
    from ortools.graph.python import min_cost_flow

    order = None if len(arc_h) < 2 or (np.diff(arc_h) >= 0).all() else np.argsort(arc_h, kind="stable")
    if order is not None:
        arc_h, arc_c, cost = arc_h[order], arc_c[order], cost[order]
    merged = merge_identical(arc_h, arc_c, cost, n_households)
    m_c, m_cost, m_node = arc_c[merged.arcs], cost[merged.arcs], merged.arc_node
    hg, cg = groups
    has = merged.node_of >= 0
    node_group = np.empty(merged.n_nodes, dtype=np.int64)
    node_group[merged.node_of[has]] = np.asarray(hg)[has]
    flow = np.zeros(len(m_node), dtype=np.int64)

    def one(arcs: np.ndarray, h: np.ndarray, c: np.ndarray, cap: np.ndarray, n_h: int, supply: np.ndarray) -> None:
        n_c = len(cap)
        source, sink = n_h + n_c, n_h + n_c + 1
        solver = min_cost_flow.SimpleMinCostFlow()
        tails = np.concatenate([np.full(n_h, source), h, n_h + np.arange(n_c)])
        heads = np.concatenate([np.arange(n_h), n_h + c, np.full(n_c, sink)])
        caps = np.concatenate([supply, np.minimum(supply[h], cap[c]), cap])
        costs = np.concatenate([np.zeros(n_h, np.int64), m_cost[arcs], np.zeros(n_c, np.int64)])
        solver.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
        total = int(supply.sum())
        solver.set_nodes_supplies(np.array([source, sink]), np.array([total, -total]))
        status = solver.solve_max_flow_with_min_cost()
        if status != solver.OPTIMAL:
            raise RuntimeError(f"OR-Tools min-cost flow failed with status {status}")
        flow[arcs] = solver.flows(np.arange(n_h, n_h + len(h)))

    for arcs, nodes, centers, h_local, c_local in _group_slices(m_node, m_c, node_group, np.asarray(cg)):
        one(arcs, h_local, c_local, capacity[centers], len(nodes), merged.supply[nodes])
    return merged.expand(m_c, flow)


def _components(arc_h: np.ndarray, arc_c: np.ndarray, n_households: int, n_c: int) -> tuple[np.ndarray, np.ndarray]:
    """Component label of every household and center (joined by arcs), so each grid is solved alone."""
    from scipy.sparse.csgraph import connected_components

    n = n_households + n_c
    graph = csr_array((np.ones(len(arc_h)), (arc_h, n_households + arc_c)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return labels[:n_households], labels[n_households:]


def _local(group: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Members sorted by group (stable), each group's start in that order, and each member's index in its group."""
    order = np.argsort(group, kind="stable")
    start = np.searchsorted(group[order], np.arange(int(group.max()) + 2 if len(group) else 1))
    local = np.empty(len(group), dtype=np.int64)
    local[order] = np.arange(len(group)) - start[group[order]]
    return order, start, local


def _group_slices(arc_h, arc_c, h_group, c_group):
    """Each group's arcs (positions), households and centers (in their order), and the arcs' local indices.

    Only households and centers with arcs are nodes: the others cannot change the solution."""
    arc_h, arc_c = _index(arc_h), _index(arc_c)
    hg, cg = _index(h_group), _index(c_group)
    n_groups = int(max(hg.max(initial=-1), cg.max(initial=-1))) + 1
    hg = np.where(np.bincount(arc_h, minlength=len(hg)) > 0, hg, n_groups)
    cg = np.where(np.bincount(arc_c, minlength=len(cg)) > 0, cg, n_groups)
    h_order, h_start, h_local = _local(np.r_[hg, n_groups])  # a sentinel keeps every group's start defined
    c_order, c_start, c_local = _local(np.r_[cg, n_groups])
    arc_group = hg[arc_h]
    order = np.arange(len(arc_h)) if (np.diff(arc_group) >= 0).all() else np.argsort(arc_group, kind="stable")
    bounds = np.searchsorted(arc_group[order], np.arange(n_groups + 1))
    for g in np.flatnonzero(np.diff(bounds) > 0):
        arcs = order[bounds[g] : bounds[g + 1]]
        hs, cs = h_order[h_start[g] : h_start[g + 1]], c_order[c_start[g] : c_start[g + 1]]
        yield arcs, hs, cs, h_local[arc_h[arcs]], c_local[arc_c[arcs]]


def _solve_scipy(arc_h, arc_c, cost, capacity, n_households, groups) -> np.ndarray:
    """LAPJVsp per group."""
    out = np.full(n_households, -1, dtype=np.int64)
    for arcs, hs, cs, h_local, c_local in _group_slices(arc_h, arc_c, *groups):
        chosen = _match(h_local, c_local, cost[arcs], capacity[cs], len(hs))
        ok = chosen >= 0
        out[hs[ok]] = cs[chosen[ok]]
    return out


def _match(h: np.ndarray, c: np.ndarray, cost: np.ndarray, capacity: np.ndarray, n_h: int) -> np.ndarray:
    """One group by LAPJVsp on capacity-expanded columns; local center index per household or -1."""
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
    used = np.unique(h)  # households without arcs stay uncovered (and would make the matching fail)
    row_of = np.full(n_h, -1, dtype=np.int64)
    row_of[used] = np.arange(len(used))
    rows, n_rows = row_of[rows], len(used)
    try:
        graph = csr_array((weight, (rows, cols)), shape=(n_rows, n_slots))
        r, s = min_weight_full_bipartite_matching(graph)
    except ValueError:  # neither side matches in full: add a private "uncovered" column per household
        big = float(n_rows + 1) * (float(cost.max()) + 2.0)
        graph = csr_array(
            (
                np.r_[weight, np.full(n_rows, big)],
                (np.r_[rows, np.arange(n_rows)], np.r_[cols, n_slots + np.arange(n_rows)]),
            ),
            shape=(n_rows, n_slots + n_rows),
        )
        r, s = min_weight_full_bipartite_matching(graph)
        keep = s < n_slots
        r, s = r[keep], s[keep]
    out = np.full(n_h, -1, dtype=np.int64)
    out[used[r]] = slot_center[s]
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
    if len(capacity) == 0:  # no center anywhere: nobody is assigned, and only an infinite floor proves that
        return ~np.isfinite(np.asarray(floor, dtype=float))
    arc_h, arc_c, cost = _index(arc_h), _index(arc_c), np.asarray(cost)
    center_group, household_group = np.asarray(center_group), np.asarray(household_group)
    assigned = np.asarray(assigned)
    own = assigned.astype(np.int32 if len(capacity) < 2**31 - 1 else np.int64)[arc_h]
    covered = own >= 0
    own_cost = np.full(len(assigned), np.inf)
    mine = covered & (arc_c == own)
    np.minimum.at(own_cost, arc_h[mine], cost[mine])  # parallel arcs: the solver used the cheapest
    # price constraints λ_c ≥ λ_a - w(a, c): moving a household of a to c costs w (inf: not a move)
    move = own_cost[arc_h]
    np.subtract(cost, move, out=move)
    move[~covered | mine] = np.inf
    del covered, mine
    groups = _Groups(center_group)
    price, cycle = _prices(own, arc_c, move, groups)
    del own, move
    if extra_h is None:
        extra_h, extra_c, extra_cost = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    extra_h, extra_c = _index(extra_h), _index(extra_c)
    alpha = np.where(assigned >= 0, own_cost + price[np.maximum(assigned, 0)], np.inf)
    ok = np.where(assigned >= 0, alpha <= floor + 1e-9, ~np.isfinite(floor))  # prices are >= 0
    needy = np.flatnonzero((assigned >= 0) & ~ok)  # these need the cheapest center they have no arc to
    if len(needy):
        min_price = groups.min_price_excluded((arc_h, extra_h), (arc_c, extra_c), price, household_group, needy)
        ok[needy] = alpha[needy] <= floor[needy] + min_price + 1e-9
    if len(extra_h):
        slack = price[extra_c]
        slack += extra_cost
        slack -= alpha[extra_h]
        ok &= np.bincount(extra_h[slack < -1e-9], minlength=len(assigned)) == 0
    # complementary slackness: a center with room must cost nothing, or some household could move there
    load = np.bincount(assigned[assigned >= 0], minlength=len(capacity))
    bad = np.unique(np.r_[cycle, center_group[(load < capacity) & (price > 1e-9)]])
    if len(bad):  # a price cycle or a priced center with room: the solution is not optimal
        ok &= ~np.isin(household_group, bad)
    return ok


class _Groups:
    """Centers numbered within their group (grid), for per-group dense tables of centers."""

    def __init__(self, center_group: np.ndarray) -> None:
        self.group = np.asarray(center_group, dtype=np.int64)
        self.n_groups = int(self.group.max()) + 1 if len(self.group) else 0
        self.order, self.start, self.local = _local(np.r_[self.group, self.n_groups])
        self.size = np.diff(self.start)[: self.n_groups]
        square = self.size.astype(np.int64) ** 2
        self.offset = np.cumsum(square) - square
        self.table = np.full(int(square.sum()), np.inf)  # per group, (a, c) → cheapest w of a move a → c

    def condense(self, a: np.ndarray, c: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Add moves a → c of cost w to the table; all its moves (the cheapest of each center pair)."""
        if len(a):
            g = self.group[a]
            np.minimum.at(self.table, self.offset[g] + self.local[a] * self.size[g] + self.local[c], w)
        at = np.flatnonzero(np.isfinite(self.table))
        g = np.searchsorted(self.offset, at, side="right") - 1
        a_loc, c_loc = np.divmod(at - self.offset[g], self.size[g])
        return self.order[self.start[g] + a_loc], self.order[self.start[g] + c_loc], self.table[at]

    def min_price_excluded(
        self, hs: tuple, cs: tuple, price: np.ndarray, household_group: np.ndarray, which: np.ndarray
    ) -> np.ndarray:
        """For households `which`, the lowest price among the centers of their group they have no arc to (inf if
        none)."""
        hg = np.asarray(household_group, dtype=np.int64)
        width = np.r_[self.size, 0][np.where((hg >= 0) & (hg < self.n_groups), hg, self.n_groups)]
        slot = np.full(len(hg), -1, dtype=np.int32)
        slot[which] = np.arange(len(which))
        offset = np.cumsum(width[which]) - width[which]
        has = np.zeros(int(width[which].sum()) + 1, dtype=bool)
        for h, c in zip(hs, cs, strict=True):
            arc = np.flatnonzero(slot[h] >= 0)  # the arcs of those households
            h, c = h[arc], c[arc]
            mine = hg[h] == self.group[c]
            has[offset[slot[h[mine]]] + self.local[c[mine]]] = True
        ranked = np.lexsort((price, self.group))  # each group's centers, cheapest first
        out = np.full(len(which), np.inf)
        todo = np.flatnonzero(width[which] > 0)
        for j in range(int(width[which].max(initial=0))):
            todo = todo[width[which[todo]] > j]
            if not len(todo):
                break
            cand = ranked[self.start[hg[which[todo]]] + j]
            free = ~has[offset[todo] + self.local[cand]]
            out[todo[free]] = price[cand[free]]
            todo = todo[~free]
        return out


def _prices(a: np.ndarray, c: np.ndarray, w: np.ndarray, groups: _Groups) -> tuple[np.ndarray, np.ndarray]:
    """Smallest prices λ ≥ 0 with λ_c ≥ λ_a - w for every move a → c (Bellman-Ford for longest paths).

    Only a move with w below the price of its center a can bind (λ_c ≥ 0), so the search starts with the negative
    ones and takes in more as prices rise; parallel moves are condensed to the cheapest per center pair first.
    Returns the prices and the groups left with a positive cycle (no solution).
    """
    center_group = groups.group
    n_c = len(center_group)
    price = np.zeros(n_c)
    if not (w < 0).any():
        return price, np.zeros(0, dtype=center_group.dtype)
    taken = np.zeros(len(a), dtype=bool)
    wider = w < 0
    for _ in range(n_c + 2):
        fresh = wider & ~taken
        taken |= fresh
        aa, cc, ww = groups.condense(a[fresh], c[fresh], w[fresh])
        for _ in range(n_c + 1):
            new = price.copy()
            np.maximum.at(new, cc, price[aa] - ww)
            rise = new > price + 1e-9
            if not rise.any():
                break
            price = new
        else:
            return price, np.unique(center_group[rise])
        wider = w < np.r_[price, 0.0][a]  # a = -1 (no center) reads 0
        if not (wider & ~taken).any():
            return price, np.zeros(0, dtype=center_group.dtype)
    return price, np.zeros(0, dtype=center_group.dtype)
