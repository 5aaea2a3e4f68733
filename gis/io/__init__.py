"""Data in: OpenStreetMap files (`osm`), users' layer files (`layers`) and the checks every layer passes
(`validate`). Both readers have a `service_type`; import it from its module."""

from gis.io.layers import COLUMNS, KINDS, SERVICE_TYPES, LayerReport, coordinate_problem, read_layer
from gis.io.osm import OsmExtract, is_walkable, read_osm
from gis.io.validate import (
    MAX_LISTED,
    RepairReport,
    TilingReport,
    check_geometries_present,
    check_geometry_types,
    check_grid_tiling,
    check_in_china,
    feature_label,
    repair_geometries,
)

__all__ = [
    "COLUMNS",
    "KINDS",
    "MAX_LISTED",
    "SERVICE_TYPES",
    "LayerReport",
    "OsmExtract",
    "RepairReport",
    "TilingReport",
    "check_geometries_present",
    "check_geometry_types",
    "check_grid_tiling",
    "check_in_china",
    "coordinate_problem",
    "feature_label",
    "is_walkable",
    "read_layer",
    "read_osm",
    "repair_geometries",
]
