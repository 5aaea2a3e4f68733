"""Walking coverage (15-minute life circle): who reaches which service on foot, the gaps, what-if scenarios,
service circles and where new service points would help most.

- `core`: coverage of buildings by service points, profiles and levels;
- `report`: gap reports per group; `scenario`: add, move or remove a service point;
- `circles`: service-circle polygons; `siting`: maximal-coverage siting of new points;
- `pipeline`: `run`, walk graph → coverage, the one pipeline every caller uses.
"""

from gis.coverage.circles import BUFFER_M, SIMPLIFY_M, drawn_edges, reached_lines, service_circle, service_circles
from gis.coverage.core import (
    COMPLETE_SHARE,
    LEVELS,
    MAX_SNAP_M,
    PROFILES,
    REQUIRED_TYPES,
    Coverage,
    ServiceField,
    coverage,
    coverage_table,
    field_of,
    no_points,
    profile_table,
)
from gis.coverage.pipeline import run
from gis.coverage.report import completeness, gap_report, population, uncovered_buildings
from gis.coverage.scenario import add_service, move_service, remove_service, updated_report
from gis.coverage.siting import exact_sites, greedy_sites, reach_matrix, suggest_sites

__all__ = [
    "BUFFER_M",
    "COMPLETE_SHARE",
    "LEVELS",
    "MAX_SNAP_M",
    "PROFILES",
    "REQUIRED_TYPES",
    "SIMPLIFY_M",
    "Coverage",
    "ServiceField",
    "add_service",
    "completeness",
    "coverage",
    "coverage_table",
    "drawn_edges",
    "exact_sites",
    "field_of",
    "gap_report",
    "greedy_sites",
    "move_service",
    "no_points",
    "population",
    "profile_table",
    "reach_matrix",
    "reached_lines",
    "remove_service",
    "run",
    "service_circle",
    "service_circles",
    "suggest_sites",
    "uncovered_buildings",
    "updated_report",
]
