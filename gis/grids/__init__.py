"""Grids (网格): codes, generating them for a community along its roads, or checking imported ones.

- `codes`: parse, check and format unit grid codes against a named profile;
- `partition`: blocks from the road network, merged by household count into grids of 300–500 households, tiling
  the community exactly, numbered west→east, north→south, coded in a profile;
- `check`: gaps, overlaps, grids crossing community lines, household counts off target, invalid or duplicate codes,
  reported per grid.
"""

from gis.grids.check import check_grids
from gis.grids.codes import (
    CJT213_14,
    DB11_15,
    PROFILES,
    PROVINCE_CODES,
    CodeProfile,
    GridCode,
    check_district_code,
    format_grid_code,
    get_profile,
    parse_grid_code,
)
from gis.grids.partition import ROAD_CLASSES, Partition, partition_community

__all__ = [
    "CJT213_14",
    "DB11_15",
    "PROFILES",
    "PROVINCE_CODES",
    "ROAD_CLASSES",
    "CodeProfile",
    "GridCode",
    "Partition",
    "check_district_code",
    "check_grids",
    "format_grid_code",
    "get_profile",
    "parse_grid_code",
    "partition_community",
]
