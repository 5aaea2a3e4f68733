"""Where new service points would help most (补点选址): maximal coverage of the uncovered demand.

Demand is the buildings a service type does not cover at a profile and level (gis.coverage.core), weighted by residents
(or households, or 1); existing points are thereby fixed. Candidate sites are any points (building access points,
road nodes, a supplied layer), snapped like service points.

`reach_matrix` says which demand each candidate would cover within the budget. It runs bounded Dijkstra searches
on *local* subgraphs: a walk of at most ``max_m`` never leaves the disc of radius ``max_m`` around its start, so
the candidates of one tile only need the nodes within ``max_m`` of that tile. That removes the O(nodes) cost per
search that makes whole-graph searches slow (1.8 ms each at 200k nodes; docs/design.md §5.3).

`greedy_sites` is the interactive answer (greedy on a sparse matrix: milliseconds, usually optimal);
`exact_sites` solves the maximal covering location problem exactly as a MILP with scipy's HiGHS
(`scipy.optimize.milp`), after merging demand units covered by the same candidate set. `suggest_sites` does it all
from a `Coverage`.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array, csr_array, hstack, identity
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from gis.coverage.core import Coverage
from gis.network import WalkGraph, snap_points, with_virtual_sources

__all__ = ["exact_sites", "greedy_sites", "reach_matrix", "suggest_sites"]

_CELLS = 4_000_000  # floats per dense block (sources × local nodes): ~32 MB


def _local_graph(graph: WalkGraph, nodes: np.ndarray, lookup: np.ndarray) -> csr_array:
    """The subgraph induced by `nodes` (sorted global indices; `lookup` maps global → local, -1 elsewhere), plus
    an isolated last node."""
    csr = graph.csr
    starts, ends = csr.indptr[nodes].astype(np.int64), csr.indptr[nodes + 1].astype(np.int64)
    counts = ends - starts
    flat = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts) + np.arange(counts.sum())
    cols = lookup[csr.indices[flat]]
    rows = np.repeat(np.arange(len(nodes)), counts)
    keep = cols >= 0
    indptr = np.r_[0, np.cumsum(np.bincount(rows[keep], minlength=len(nodes))), keep.sum()]
    size = len(nodes) + 1  # plus one isolated node: the stand-in for "outside", always at distance inf
    return csr_array((csr.data[flat][keep], cols[keep], indptr), shape=(size, size))


def _search_nodes(graph: WalkGraph) -> tuple[np.ndarray, np.ndarray]:
    """Node indices sorted by x, and the nodes the local searches need (cached on the graph).

    A dead end — a node with exactly one edge, not a loop — is never passed through, and a point on its edge
    reaches everything else through the other end (the dead-end side is only longer): it can be left out of the
    search, which halves the work on networks with a footpath stub to every door. Points on such an edge still
    reach each other along it (the same-edge pairs).
    """
    if "search_nodes" not in graph.cache:
        plain = graph.edge_u != graph.edge_v
        edges_at = np.bincount(np.r_[graph.edge_u[plain], graph.edge_v[plain]], minlength=graph.n_nodes)
        loops = np.bincount(graph.edge_u[~plain], minlength=graph.n_nodes) > 0
        order = np.argsort(graph.node_xy[:, 0], kind="stable")
        graph.cache["search_nodes"] = order, ~((edges_at == 1) & ~loops)
    return graph.cache["search_nodes"]


def reach_matrix(
    graph: WalkGraph,
    sources: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    max_m: float,
    n_units: int | None = None,
    tile_m: float | None = None,
) -> csr_array:
    """Which targets each source reaches within `max_m` walking metres (snap distances of both included).

    Parameters
    ----------
    graph : the walk graph.
    sources : snapped points (`gis.network.snap.snap_points` columns) — the candidate sites.
    targets : snapped points with an extra ``unit`` column (int, e.g. the building position); several targets may
        share a unit (a building's entrances), a unit is reached when any of them is.
    max_m : the walking budget in metres.
    n_units : number of units (columns); default ``max(unit) + 1``.
    tile_m : side of the square tiles the sources are grouped in; default `max_m`.

    Returns
    -------
    Boolean CSR matrix, sources × units.
    """
    n_units = int(targets["unit"].max()) + 1 if n_units is None and len(targets) else int(n_units or 0)
    reach = max_m * 1.02 + 10.0  # margin: edge lengths are geodesic metres, node coordinates projected ones
    s_ok = np.flatnonzero((sources["edge"].to_numpy() >= 0) & (sources["snap_m"].to_numpy() <= max_m))
    t_ok = np.flatnonzero((targets["edge"].to_numpy() >= 0) & (targets["snap_m"].to_numpy() <= max_m))
    if len(s_ok) and len(t_ok):  # a source with no target within max_m in a straight line reaches none
        tree = cKDTree(np.c_[targets["x"].to_numpy()[t_ok], targets["y"].to_numpy()[t_ok]])
        gap, _ = tree.query(np.c_[sources["x"].to_numpy()[s_ok], sources["y"].to_numpy()[s_ok]], k=1)
        s_ok = s_ok[gap <= reach - sources["snap_m"].to_numpy()[s_ok]]
    if len(s_ok) == 0 or len(t_ok) == 0:
        return csr_array((len(sources), n_units), dtype=bool)
    col = {c: sources[c].to_numpy()[s_ok] for c in ("edge", "snap_m", "to_u", "to_v", "x", "y")}
    tgt = {c: targets[c].to_numpy()[t_ok] for c in ("edge", "snap_m", "to_u", "to_v", "unit")}
    t_u, t_v = graph.edge_u[tgt["edge"]], graph.edge_v[tgt["edge"]]
    order, searched = _search_nodes(graph)
    xs = graph.node_xy[order, 0]
    tile = float(tile_m or max_m) or 1.0
    cell = np.floor(col["x"] / tile).astype(np.int64) * 1_000_003 + np.floor(col["y"] / tile).astype(np.int64)
    lookup = np.full(graph.n_nodes, -1, dtype=np.int64)
    rows_out, cols_out = [], []
    for group in np.split(np.argsort(cell, kind="stable"), np.flatnonzero(np.diff(np.sort(cell))) + 1):
        x0, x1 = col["x"][group].min() - reach, col["x"][group].max() + reach
        y0, y1 = col["y"][group].min() - reach, col["y"][group].max() + reach
        near = order[np.searchsorted(xs, x0) : np.searchsorted(xs, x1, side="right")]
        nodes = np.sort(near[(graph.node_xy[near, 1] >= y0) & (graph.node_xy[near, 1] <= y1) & searched[near]])
        if len(nodes) == 0:
            continue
        lookup[nodes] = np.arange(len(nodes))
        sub = _local_graph(graph, nodes, lookup)
        m = len(nodes)
        lu, lv = lookup[t_u], lookup[t_v]
        here = np.flatnonzero((lu >= 0) | (lv >= 0))
        if len(here) == 0:
            lookup[nodes] = -1
            continue
        lu, lv = np.where(lu[here] >= 0, lu[here], m), np.where(lv[here] >= 0, lv[here], m)
        step = max(1, _CELLS // max(m, len(here), 1) // 2)
        for chunk in np.array_split(group, max(1, -(-len(group) // step))):
            # one virtual node per source, linked to its edge's ends (or to the isolated stand-in if outside)
            a, b = lookup[graph.edge_u[col["edge"][chunk]]], lookup[graph.edge_v[col["edge"][chunk]]]
            heads = np.c_[np.where(a >= 0, a, m), np.where(b >= 0, b, m)]
            snap = col["snap_m"][chunk]
            weights = np.c_[snap + col["to_u"][chunk], snap + col["to_v"][chunk]]
            weights[heads == m] = np.inf  # the stand-in must stay unreached
            matrix = with_virtual_sources(sub, heads, weights)
            dist = dijkstra(matrix, directed=True, indices=np.arange(m + 1, m + 1 + len(chunk)), limit=max_m)
            walk = tgt["snap_m"][here] + np.minimum(tgt["to_u"][here] + dist[:, lu], tgt["to_v"][here] + dist[:, lv])
            hit_s, hit_t = np.nonzero(walk <= max_m)
            rows_out.append(s_ok[chunk][hit_s])
            cols_out.append(tgt["unit"][here][hit_t])
        lookup[nodes] = -1
    # a source and a target on the same edge may also walk straight along it
    pairs = pd.DataFrame({"edge": col["edge"], "s": np.arange(len(s_ok))}).merge(
        pd.DataFrame({"edge": tgt["edge"], "t": np.arange(len(t_ok))}), on="edge"
    )
    si, ti = pairs["s"].to_numpy(), pairs["t"].to_numpy()
    direct = col["snap_m"][si] + np.abs(col["to_u"][si] - tgt["to_u"][ti]) + tgt["snap_m"][ti]
    rows_out.append(s_ok[si[direct <= max_m]])
    cols_out.append(tgt["unit"][ti[direct <= max_m]])
    none = np.zeros(0, dtype=np.int64)
    r, c = np.concatenate(rows_out or [none]).astype(np.int64), np.concatenate(cols_out or [none]).astype(np.int64)
    matrix = coo_array((np.ones(len(r), dtype=bool), (r, c)), shape=(len(sources), n_units)).tocsr()
    matrix.sum_duplicates()
    matrix.data[:] = True
    return matrix


def _greedy(matrix: csr_array, weights: np.ndarray, k: int) -> list[tuple[int, float, int]]:
    matrix = csr_array(matrix, dtype=bool)
    by_unit = matrix.tocsc()
    w = np.asarray(weights, dtype=float)
    gain = matrix.astype(float) @ w
    covered = np.zeros(matrix.shape[1], dtype=bool)
    picks = []
    for _ in range(min(k, matrix.shape[0])):
        i = int(np.argmax(gain)) if len(gain) else 0
        if not len(gain) or gain[i] <= 0:
            break
        units = matrix.indices[matrix.indptr[i] : matrix.indptr[i + 1]]
        new = units[~covered[units]]
        covered[new] = True
        picks.append((i, float(w[new].sum()), len(new)))
        gain -= by_unit[:, new].astype(float) @ w[new]
        gain[i] = -np.inf
    return picks


def _frame(picks: list[tuple[int, float, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(picks, columns=["candidate", "gain", "units"])
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    frame["cumulative"] = frame["gain"].cumsum()
    return frame


def greedy_sites(matrix: csr_array, weights: np.ndarray, *, k: int = 10) -> pd.DataFrame:
    """Greedy maximal coverage: repeatedly the candidate that newly covers the most weight.

    Returns a DataFrame with ``rank``, ``candidate`` (row of `matrix`), ``gain`` (weight newly covered),
    ``units`` (units newly covered) and ``cumulative``; fewer than `k` rows when nothing more can be covered.
    """
    return _frame(_greedy(matrix, weights, k))


def exact_sites(
    matrix: csr_array, weights: np.ndarray, *, k: int = 10, time_limit: float | None = 60.0
) -> pd.DataFrame:
    """Exact maximal covering location (choose ≤ `k` candidates covering the most weight) as a MILP (HiGHS).

    Demand units covered by no candidate are dropped, units covered by the same candidate set merged (their
    weights added), and candidates covering nothing or the same set as another left out: the model stays small.
    Rows are reported in greedy order within the chosen set, so ``gain`` is each site's marginal weight.
    ``DataFrame.attrs`` holds ``objective``, ``status`` (0 = optimal, 1 = time or iteration limit: the best
    solution found; if HiGHS found none, the greedy solution is returned and ``message`` says so) and ``message``.
    """
    matrix = csr_array(matrix, dtype=bool)
    w = np.asarray(weights, dtype=float)
    useful = np.flatnonzero((np.asarray(matrix.sum(axis=0)).ravel() > 0) & (w > 0))
    sub = matrix[:, useful].tocsc()
    rng = np.random.default_rng(0)
    keys = sub.T.astype(float) @ rng.random((matrix.shape[0], 2))  # same candidate set ⇒ same key
    _, first, group = np.unique(np.round(keys, 9), axis=0, return_index=True, return_inverse=True)
    group = group.ravel()
    reps = sub[:, first].T.tocsc()  # groups × candidates
    group_w = np.bincount(group, weights=w[useful], minlength=len(first))
    # candidates that cover nothing, or exactly what an earlier candidate covers, can be left out
    row_keys = reps.T.astype(float) @ rng.random((len(first), 2))
    has = np.diff(reps.indptr) > 0
    _, distinct = np.unique(np.round(row_keys, 9), axis=0, return_index=True)
    kept = np.sort(distinct[has[distinct]])
    reps = reps[:, kept].astype(float)
    n_c, n_g = len(kept), len(first)
    if n_g == 0:
        frame = _frame([])
        frame.attrs.update(objective=0.0, status=0, message="nothing to cover")
        return frame
    constraints = [
        LinearConstraint(hstack([-reps, identity(n_g, format="csr")], format="csr"), -np.inf, 0.0),
        LinearConstraint(csr_array(np.r_[np.ones(n_c), np.zeros(n_g)][None, :]), 0.0, float(k)),
    ]
    result = milp(
        np.r_[np.zeros(n_c), -group_w],
        constraints=constraints,
        integrality=np.r_[np.ones(n_c), np.zeros(n_g)],
        bounds=Bounds(0.0, 1.0),
        options={} if time_limit is None else {"time_limit": float(time_limit)},
    )
    if result.x is None:  # no integer solution within the time limit: say so, and give the greedy answer
        frame = _frame(_greedy(matrix, w, k))
        message = f"{result.message}; no MILP solution in time, greedy solution returned"
        frame.attrs.update(objective=float(frame["gain"].sum()), status=int(result.status), message=message)
        return frame
    chosen = kept[result.x[:n_c] > 0.5]
    picks = _greedy(matrix[chosen], w, len(chosen))
    frame = _frame([(int(chosen[i]), gain, units) for i, gain, units in picks])
    frame.attrs.update(objective=float(-result.fun), status=int(result.status), message=str(result.message))
    return frame


def suggest_sites(
    cov: Coverage,
    candidates: gpd.GeoDataFrame,
    *,
    service_type: str,
    buildings: pd.DataFrame | None = None,
    weight: str = "residents",
    profile: str = "standard",
    level: float = 15,
    k: int = 10,
    method: str = "greedy",
    time_limit: float | None = 60.0,
) -> gpd.GeoDataFrame:
    """Top-`k` new sites for `service_type` that cover the most uncovered `weight` at `profile` / `level`.

    Parameters
    ----------
    cov : the current coverage (`gis.coverage.coverage`); its points of `service_type` stay where they are.
    candidates : candidate sites (Points, any CRS), with ``source_id`` or ``id`` (else the index names them).
    buildings : frame with ``source_id`` and the `weight` column; without it (or the column) every building
        counts 1.
    method : ``greedy`` (fast, interactive) or ``exact`` (MILP, `exact_sites`).

    Returns
    -------
    GeoDataFrame (EPSG:4326, the candidate points) with ``rank``, ``candidate_id``, ``gain`` (weight newly
    covered), ``buildings`` (buildings newly covered) and ``cumulative``; ``attrs`` has ``budget_m`` (and the MILP
    status for ``exact``).
    """
    budget = float(level) * 60.0 * cov.profiles[profile]
    walk, _ = cov.walk(service_type)
    uncovered = ~(walk <= budget)
    weights = np.ones(len(cov.building_ids))
    if buildings is not None and weight in buildings:
        values = buildings.set_index(buildings["source_id"].astype(str))[weight]
        weights = pd.to_numeric(values.reindex(cov.building_ids), errors="coerce").fillna(0).to_numpy(float)
    acc = cov.access[uncovered[cov.access["building"].to_numpy()]]
    targets = acc.assign(unit=acc["building"].to_numpy())
    snapped = snap_points(cov.graph, candidates, largest_only=cov.largest_only, max_snap_m=cov.max_snap_m)
    matrix = reach_matrix(cov.graph, snapped, targets, max_m=budget, n_units=len(cov.building_ids))
    demand = np.where(uncovered, weights, 0.0)
    if method == "greedy":
        picks = greedy_sites(matrix, demand, k=k)
    elif method == "exact":
        picks = exact_sites(matrix, demand, k=k, time_limit=time_limit)
    else:
        raise ValueError(f"method must be 'greedy' or 'exact', not {method!r}")
    column = "source_id" if "source_id" in candidates else "id" if "id" in candidates else None
    ids = (candidates[column] if column else pd.Series(candidates.index)).astype(str).to_numpy()
    geometry = candidates.geometry.to_crs("EPSG:4326") if candidates.crs else candidates.geometry.set_crs(4326)
    out = gpd.GeoDataFrame(
        {
            "rank": picks["rank"],
            "candidate_id": ids[picks["candidate"].to_numpy(int)],
            "gain": picks["gain"],
            "buildings": picks["units"],
            "cumulative": picks["cumulative"],
        },
        geometry=geometry.to_numpy()[picks["candidate"].to_numpy(int)],
        crs="EPSG:4326",
    )
    out.attrs.update(picks.attrs, budget_m=budget)
    return out
