"""Households with identical arcs merged into one supply node of the 中心户 flow.

Households of one building reach the walk network through the building's door (design.md, building access), so
they have the same walk to every center, and unless their previous centers differ, the same arc costs. The flow
does not need to tell them apart: one node with supply n (the number of such households) replaces n nodes, and its
flow to each center is handed out to them in their order. A district has ~4 households per building: the solver
sees a quarter of the nodes and arcs. The result is exactly as optimal (the same LP with identical rows summed).

Identical means the same centers at the same costs in the same order (arcs sorted by household, as
`gis.centers._stages.sorted_arcs` gives them). Rows are grouped by a 64-bit key (the sum of a hash of each arc, and
the row's length), then every member is compared arc by arc with its group's first household; a member that differs
(a collision, or the same arcs in another order) is a node of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Merged", "merge_identical"]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads every input bit over the 64-bit word (wrapping uint64 arithmetic)."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def _arc_words(arc_c: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """A 64-bit word per arc from its center and cost (one multiply-xorshift round: collisions are checked)."""
    with np.errstate(over="ignore"):
        word = np.asarray(arc_c).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        word ^= np.asarray(cost).astype(np.uint64) * np.uint64(0xD6E8FEB86659FD93)
        word ^= word >> np.uint64(31)
        word *= np.uint64(0x94D049BB133111EB)
    return word


@dataclass(frozen=True)
class Merged:
    """The merged problem: nodes (groups of identical households) with their arcs and supplies.

    Attributes
    ----------
    node_of : (n_households,) node of each household, -1 for a household without arcs.
    supply : (n_nodes,) households per node.
    arcs : positions (into the arcs given) of the arcs of each node's first household, in node order.
    arc_node : (len(arcs),) node of each of those arcs.
    """

    node_of: np.ndarray
    supply: np.ndarray
    arcs: np.ndarray
    arc_node: np.ndarray

    @property
    def n_nodes(self) -> int:
        return len(self.supply)

    def expand(self, arc_c: np.ndarray, flow: np.ndarray) -> np.ndarray:
        """Center of each household from the flow on the merged arcs (`arc_c`, `flow` aligned with `arcs`): the
        members of a node take its flowing arcs in order; the members left over stay uncovered (-1)."""
        n = len(self.node_of)
        out = np.full(n, -1, dtype=np.int64)
        flowing = flow > 0
        units_node = np.repeat(self.arc_node[flowing], flow[flowing])
        if not len(units_node):
            return out
        units_center = np.repeat(np.asarray(arc_c)[flowing], flow[flowing])
        served = np.bincount(units_node, minlength=self.n_nodes)
        if (served > self.supply).any():
            raise RuntimeError("flow out of a merged node exceeds its supply")
        members = np.flatnonzero(self.node_of >= 0)
        members = members[np.argsort(self.node_of[members], kind="stable")]
        first = np.cumsum(self.supply) - self.supply
        within = np.arange(len(units_node)) - (np.cumsum(served) - served)[units_node]
        out[members[first[units_node] + within]] = units_center
        return out


def merge_identical(arc_h: np.ndarray, arc_c: np.ndarray, cost: np.ndarray, n_households: int) -> Merged:
    """Group households whose arcs (center, cost, in order) are identical; arcs must be sorted by household."""
    arc_h = np.asarray(arc_h)
    if len(arc_h) > 1 and (np.diff(arc_h) < 0).any():
        raise ValueError("merge_identical needs the arcs sorted by household")
    if len(arc_h) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Merged(node_of=np.full(n_households, -1, dtype=np.int64), supply=empty, arcs=empty, arc_node=empty)
    count = np.bincount(arc_h, minlength=n_households)
    start = np.cumsum(count) - count
    word = _arc_words(arc_c, cost)  # a row's key: the sum of its arcs' words, and its length
    has = np.flatnonzero(count > 0)
    key = np.zeros(n_households, dtype=np.uint64)
    if len(has):
        with np.errstate(over="ignore"):
            key[has] = np.add.reduceat(word, start[has]) ^ _mix(count[has].astype(np.uint64))
    del word
    node = np.full(n_households, -1, dtype=np.int64)
    node[has] = pd.factorize(key[has])[0]  # numbered in order of their first household
    first = np.full(int(node.max(initial=-1)) + 1, n_households, dtype=np.int64)
    np.minimum.at(first, node[has], has)  # first household of each node: increasing with the node number
    # check every member against its node's first household, arc by arc: arc i of household h sits `shift[h]`
    # places before the same arc of its first household
    mate = np.where(node >= 0, first[np.maximum(node, 0)], np.arange(n_households))
    odd_count = count[mate] != count  # a collision between rows of different lengths
    shift = np.where(odd_count, 0, start[mate] - start)
    at = np.arange(len(arc_h), dtype=np.int64)
    at += np.repeat(shift, count)
    same = arc_c[at] == arc_c
    same &= cost[at] == cost
    odd = np.flatnonzero(odd_count | (np.bincount(arc_h[~same], minlength=n_households) > 0))
    reps = first
    if len(odd):  # hash collisions: each such household is a node of its own
        node[odd] = len(first) + np.arange(len(odd))
        reps = np.r_[first, odd]
    supply = np.bincount(node[node >= 0], minlength=len(reps))
    take = np.zeros(n_households, dtype=bool)
    take[reps] = True
    arcs = np.flatnonzero(np.repeat(take, count))
    arc_node = node[arc_h[arcs]]
    if len(odd):
        order = np.argsort(arc_node, kind="stable")
        arcs, arc_node = arcs[order], arc_node[order]
    return Merged(node_of=node, supply=supply, arcs=arcs, arc_node=arc_node)
