"""党员中心户 (center household) assignment: every household to a center household of its own grid, exact and
stable, with the walks, the report and suggestions of new centers for the uncovered.

Public: `pipeline` (`run`: graph → doors → snapping → assignment → suggestions, the one pipeline every caller
uses), `assign` (the assignment) and `report` (its tables). The `_modules` are the assignment's internals: walking
pairs (`_pairs`, `_search`, `_graph`), the min-cost flow (`_flow`, `_merge`, `_stages`) and suggestions
(`_suggest`); use them through the names below.
"""

from gis.centers._flow import have_ortools
from gis.centers._pairs import DEFAULT_K as DEFAULT_LISTED
from gis.centers._pairs import DEFAULT_LIMIT_M, Access, walk_pairs
from gis.centers._suggest import Suggestions, suggest_centers
from gis.centers.assign import (
    DEFAULT_CAPACITY,
    DEFAULT_K,
    assign_centers,
    assign_on_network,
    households_from_layers,
    prepare_households,
    untimed,
)
from gis.centers.pipeline import CentersRun, run
from gis.centers.report import Assignment, build_report

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_K",
    "DEFAULT_LIMIT_M",
    "DEFAULT_LISTED",
    "Access",
    "Assignment",
    "CentersRun",
    "Suggestions",
    "assign_centers",
    "assign_on_network",
    "build_report",
    "have_ortools",
    "households_from_layers",
    "prepare_households",
    "run",
    "suggest_centers",
    "untimed",
    "walk_pairs",
]
