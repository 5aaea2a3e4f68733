"""The coverage pipeline, one for every caller (file CLI, stored refresh, benchmarks): walk graph → coverage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import geopandas as gpd

from gis.coverage.core import Coverage, coverage
from gis.defaults import LEVELS, MAX_SNAP_M, PROFILES
from gis.network import build_walk_graph
from gis.steps import Step, untimed

__all__ = ["run"]


def run(
    walk_nodes: gpd.GeoDataFrame,
    walk_edges: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    services: gpd.GeoDataFrame,
    *,
    service_types: Sequence[str] | None = None,
    profiles: Mapping[str, float] = PROFILES,
    levels: Sequence[float] = LEVELS,
    max_snap_m: float | None = MAX_SNAP_M,
    step: Step = untimed,
) -> Coverage:
    """Nearest service point and walking metres for every building and service type, on the network built from
    `walk_nodes` and `walk_edges` (the graph is ``result.graph``).

    `service_types` default to the types in `services`; a type listed without points gets rows with no walk.
    `profiles`, `levels` and `max_snap_m` default to `gis.defaults`; the service passes its settings. `step` wraps
    each named step (`gis.steps.untimed`), e.g. to time them."""
    graph = step("build_walk_graph", build_walk_graph, walk_nodes, walk_edges)
    return step(
        "coverage (snapping included)",
        coverage,
        graph,
        buildings,
        services,
        service_types=service_types,
        profiles=profiles,
        levels=levels,
        max_snap_m=max_snap_m,
    )
