"""The 中心户 pipeline, one for every caller (file CLI, stored run, benchmarks): walk graph → each household's
door → snapping → access → assignment (walking pairs, exact flow) → suggested new centers for the uncovered."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from gis.centers._flow import Solver
from gis.centers._pairs import DEFAULT_K as DEFAULT_LISTED
from gis.centers._pairs import Access, walk_pairs
from gis.centers._suggest import Suggestions, suggest_centers
from gis.centers.assign import DEFAULT_K, Step, assign_on_network, prepare_households, untimed
from gis.centers.report import Assignment
from gis.defaults import MAX_SNAP_M
from gis.network import WalkGraph, build_walk_graph, household_doors, snap_distinct

__all__ = ["CentersRun", "run"]


@dataclass(eq=False)
class CentersRun:
    """One run: the assignment, the suggestions (None when not asked or nobody is uncovered) and what it ran on."""

    assignment: Assignment
    suggestions: Suggestions | None
    households: pd.DataFrame  # as `prepare_households`, in the order of `snapped`
    snapped: pd.DataFrame  # per household: the snap of the point it walks from (``edge`` -1: off the network)
    graph: WalkGraph
    access: Access
    max_snap_m: float | None

    @property
    def off_network(self) -> int:
        """Households farther than `max_snap_m` from every road: on no walk, so uncovered."""
        return int((self.snapped["edge"] < 0).sum())


def run(
    households: gpd.GeoDataFrame,
    walk_nodes: gpd.GeoDataFrame,
    walk_edges: gpd.GeoDataFrame,
    *,
    buildings: gpd.GeoDataFrame | None = None,
    doors: gpd.GeoDataFrame | None = None,
    previous: pd.DataFrame | None = None,
    max_snap_m: float | None = MAX_SNAP_M,
    suggest: bool = True,
    listed: int = DEFAULT_LISTED,
    k: int = DEFAULT_K,
    solver: Solver = "auto",
    step: Step = untimed,
) -> CentersRun:
    """Assign every household to a center household of its grid and suggest new centers for the uncovered.

    households : Points with ``id``, ``grid_id``, ``is_center``, optional ``capacity``, ``building``,
        ``is_party_member`` (who may be suggested; without it every household may).
    buildings, doors : where households walk from: the access point of their ``building`` (footprints with
        ``source_id``, or ready ``building_id`` + Point `doors`); without either, each household's own point.
    previous : the last run's ``household_id``, ``center_id``: kept where still feasible (stable runs).
    max_snap_m : a walking start farther than this from every road is off the network (default `gis.defaults`;
        the service passes its settings); None: no limit.
    step : wraps each named step, ``step(name, fn, *args, **kwargs)``; a benchmark times them with it.
    """
    graph = step("build_walk_graph", build_walk_graph, walk_nodes, walk_edges)
    table = prepare_households(households.drop(columns=households.geometry.name))
    walk_from = households.geometry.reset_index(drop=True)
    if (buildings is not None or doors is not None) and "building" in table:
        walk_from = step("household_doors", household_doors, walk_from, table["building"], buildings, doors=doors)
    snapped = step("snap (each point once)", snap_distinct, graph, walk_from, max_snap_m=max_snap_m)
    access = step("Access.from_snap", Access.from_snap, graph, snapped)
    if previous is not None and not len(previous):
        previous = None
    result = assign_on_network(
        table,
        graph=graph.csr,
        node_xy=graph.node_xy,
        access=access,
        previous=previous,
        listed=listed,
        k=k,
        solver=solver,
        step=step,
    )
    suggestions = None
    todo = result.uncovered["household_id"]
    if suggest and len(todo):
        suggestions = step("suggest_centers", _suggest, graph, table, access, result)
    return CentersRun(result, suggestions, table, snapped, graph, access, max_snap_m)


def _suggest(graph: WalkGraph, table: pd.DataFrame, access: Access, result: Assignment) -> Suggestions:
    """New centers for the uncovered, fewest first: party members when the table says who is one."""
    party = table["is_party_member"].to_numpy() if "is_party_member" in table else True
    candidates = party & ~table["is_center"].to_numpy()
    todo = result.uncovered
    pairs = walk_pairs(
        graph.csr,
        table,
        access,
        node_xy=graph.node_xy,
        centers=candidates,
        clients=table["id"].isin(todo["household_id"]).to_numpy(),
        k=None,
        grids=sorted(set(todo["grid_id"].dropna())),
    )
    return suggest_centers(table, uncovered=result, pairs=pairs)
