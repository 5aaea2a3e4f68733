"""The walk network: a sparse graph in metres (`graph`) and points snapped onto its segments (`snap`)."""

from gis.network.graph import (
    ZERO_M,
    WalkGraph,
    build_walk_graph,
    endpoint_distances,
    patch_distances,
    point_distances,
    with_virtual_sources,
)
from gis.network.snap import SNAP_COLUMNS, access_points, household_doors, snap_distinct, snap_metric, snap_points

__all__ = [
    "SNAP_COLUMNS",
    "ZERO_M",
    "WalkGraph",
    "access_points",
    "build_walk_graph",
    "endpoint_distances",
    "household_doors",
    "patch_distances",
    "point_distances",
    "snap_distinct",
    "snap_metric",
    "snap_points",
    "with_virtual_sources",
]
