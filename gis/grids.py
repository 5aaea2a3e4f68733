"""Grids (网格): generate them for a community along its roads, or check imported ones.

- `partition_community` (gis.grid_partition): blocks from the road network, merged by household count into grids of
  300–500 households, tiling the community exactly, numbered west→east, north→south, coded in a profile.
- `check_grids` (gis.grid_check): gaps, overlaps, grids crossing community lines, household counts off target,
  invalid or duplicate codes, reported per grid.
"""

from gis.grid_check import check_grids
from gis.grid_partition import ROAD_CLASSES, Partition, partition_community

__all__ = ["ROAD_CLASSES", "Partition", "check_grids", "partition_community"]
