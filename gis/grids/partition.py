"""Partition a community (社区) into grids (网格) along its roads, by household count, numbered and coded.

1. **Blocks**: the community boundary and the roads inside it are noded and polygonized; the faces inside the
   community are the blocks (街坊). They tile the community exactly: roads are lines, not strips, so no area is lost
   and every grid edge follows a road centreline or the community boundary.
2. **Households per block**: household points (optionally with a ``households`` count) or building polygons with
   a ``households`` count, each counted in the block holding its representative point.
3. **Oversized blocks** (more than `max_households`) are cut across their longer axis (of the minimum rotated
   rectangle) between buildings, into ⌈n / max⌉ pieces of about equal households. A block whose households sit in
   one building cannot be cut and stays over the target: its grid says so in ``note``.
4. **Region growing** on the block adjacency graph (blocks sharing an edge): seeds in reading order (north→south
   bands, west→east), each grid takes the neighbouring block that keeps it most compact (Polsby–Popper
   4πA/P², from areas and shared edge lengths) while it stays ≤ `max_households`, until it reaches the middle of
   the target. Grids left under `min_households` join the neighbour they fit best, or else take border blocks
   from neighbours that stay within the target and connected; empty leftovers (parks, water) join the neighbour
   they share the longest edge with.
5. **Numbering** west→east, north→south: grids are ordered by northing band (bands one typical grid high, from the
   community's north edge), then by easting of a point inside each grid (north first on a tie); codes via
   `gis.grids.codes.format_grid_code` in the chosen profile.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from gis.crs import metric_crs
from gis.errors import GridCodeError
from gis.grids._blocks import adjacency, block_weights, community_blocks, split_big, to_metric
from gis.grids._regions import grow, reading_order
from gis.grids.codes import CodeProfile, format_grid_code, get_profile

__all__ = ["ROAD_CLASSES", "Partition", "partition_community"]

# roads that bound grids: public streets, not footways, service lanes or paths inside compounds
ROAD_CLASSES = frozenset(
    "motorway trunk primary secondary tertiary unclassified residential living_street pedestrian "
    "primary_link secondary_link tertiary_link road".split()
)


@dataclass
class Partition:
    """Result of `partition_community`.

    Attributes
    ----------
    grids : the grids layer (docs/layers.md columns: ``source``, ``source_id``, ``community_ref``, ``code``,
        ``code_profile``, ``district_code``, ``street_code``, ``community_code``, ``seq_code``, ``name``), EPSG:4326.
    stats : per grid, same order: ``code``, ``seq``, ``households``, ``area_m2``, ``blocks``, ``note`` (why it is
        outside the target, if it is).
    blocks : the blocks (EPSG:4326) with ``households`` and the ``code`` of their grid.
    crs : the metric CRS used.
    band_m, north_m : numbering bands: band i holds the grids whose inner point lies between ``north_m - i·band_m``
        and ``north_m - (i+1)·band_m`` (northings in `crs`).
    """

    grids: gpd.GeoDataFrame
    stats: pd.DataFrame
    blocks: gpd.GeoDataFrame
    crs: CRS
    band_m: float
    north_m: float


def _union(blocks: np.ndarray) -> shapely.Geometry:
    """Union of adjacent blocks: the fast coverage union, or the general one when cuts left them not exactly noded
    (a block split between buildings shares an edge with its neighbour only up to floating-point noise)."""
    try:
        return shapely.coverage_union_all(blocks)
    except shapely.errors.GEOSException:
        return shapely.union_all(blocks)


def _check_numbering(grids: int, prof: CodeProfile, min_households: int, max_households: int) -> None:
    """Raise `GridCodeError` when the grids outnumber what the profile's sequence part can number (999 or 99)."""
    most = 10**prof.seq - 1
    if grids > most:
        raise GridCodeError(
            f"{grids} grids of {min_households}–{max_households} households would be needed, but {prof.name} "
            f"numbers at most {most} grids per community ({prof.seq}-digit sequence): raise the household targets"
        )


def partition_community(
    community: shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame,
    *,
    roads: gpd.GeoDataFrame,
    households: gpd.GeoDataFrame,
    district_code: str | int,
    street_code: str | int,
    community_code: str | int,
    profile: str = "DB11_15",
    community_ref: str | None = None,
    name_prefix: str = "",
    min_households: int = 300,
    max_households: int = 500,
    road_classes: Iterable[str] | None = ROAD_CLASSES,
    source: str = "gridmap:partition",
) -> Partition:
    """Split one community polygon into grids of `min_households`–`max_households` households along its roads.

    Parameters
    ----------
    community : (Multi)Polygon in lon/lat, or a one-row GeoSeries/GeoDataFrame in any CRS.
    roads : road lines (any CRS); with a ``highway`` column only `road_classes` bound grids (None: all lines).
    households : household points, each counting ``households`` (column, default 1), or building polygons with a
        ``households`` count; counted at a point inside each.
    district_code, street_code, community_code : code parts (GB/T 2260 district, street, community).
    profile : grid code profile, ``DB11_15`` (3-digit sequence) or ``CJT213_14`` (2-digit).
    community_ref : the community's source id for ``community_ref`` (default: the community code).
    name_prefix : grid names are ``f"{name_prefix}第{seq}网格"``.

    Raises `GridCodeError` when the targets make more grids than the profile's sequence numbers (999 or 99).
    """
    prof = get_profile(profile)
    if isinstance(community, gpd.GeoDataFrame | gpd.GeoSeries):
        crs = metric_crs(community)
        area = shapely.union_all(to_metric(community, crs))
    else:
        crs = metric_crs(gpd.GeoSeries([community], crs=4326))
        area = to_metric(community, crs)[0]
    area = shapely.make_valid(area)
    if roads is not None and len(roads):
        keep = roads["highway"].isin(list(road_classes)) if road_classes and "highway" in roads else slice(None)
        road_geoms = to_metric(roads[keep], crs)
    else:
        road_geoms = np.empty(0, dtype=object)
    blocks = community_blocks(area, road_geoms)
    hh_geoms = to_metric(households, crs) if len(households) else np.empty(0, dtype=object)
    points = shapely.point_on_surface(hh_geoms) if len(hh_geoms) else hh_geoms
    counts = (
        pd.to_numeric(households["households"], errors="coerce").fillna(0).to_numpy(dtype=float)
        if "households" in households
        else np.ones(len(points))
    )
    where, _ = block_weights(points, counts, blocks)
    xy = shapely.get_coordinates(points) if len(points) else np.zeros((0, 2))
    block_list, where, notes = split_big(blocks, where, xy, counts, max_households)
    blocks = np.asarray(block_list, dtype=object)
    inside = where >= 0
    weights = np.bincount(where[inside], weights=counts[inside], minlength=len(blocks))
    total = weights.sum()
    per_grid_area = shapely.area(area) * (((min_households + max_households) / 2) / total if total else 1.0)
    band_m = max(math.sqrt(min(per_grid_area, shapely.area(area))), 1.0)
    north = shapely.bounds(area)[3]
    order = reading_order(shapely.point_on_surface(blocks), band_m, north)
    label = grow(
        shapely.area(blocks),
        shapely.length(blocks),
        weights,
        adjacency(blocks),
        order,
        min_households,
        max_households,
    )
    n = int(label.max()) + 1 if len(label) else 0
    _check_numbering(n, prof, min_households, max_households)
    geoms = np.array([_union(blocks[label == r]) for r in range(n)], dtype=object)
    seq_order = reading_order(shapely.point_on_surface(geoms), band_m, north)
    rank = np.empty(n, dtype=np.int64)
    rank[seq_order] = np.arange(1, n + 1)
    codes = [format_grid_code(district_code, street_code, community_code, int(s), prof) for s in rank]
    hh_per_grid = np.bincount(label, weights=weights, minlength=n)
    grid_notes = []
    for r in range(n):
        held = hh_per_grid[r]
        why = "; ".join(sorted({notes[b] for b in np.flatnonzero(label == r) if notes[b]}))
        if not why and held < min_households:
            why = (
                f"only {int(total)} households in the community"
                if n == 1
                else f"{int(held)} households: no neighbour to join or borrow blocks from "
                f"within {min_households}–{max_households}"
            )
        grid_notes.append(why)
    parts = [code[prof.district :] for code in codes]
    ref = community_ref if community_ref is not None else str(community_code)
    multi = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in geoms]
    grids = gpd.GeoDataFrame(
        {
            "source": source,
            "source_id": codes,
            "community_ref": ref,
            "code": codes,
            "code_profile": prof.name,
            "district_code": [c[: prof.district] for c in codes],
            "street_code": [p[: prof.street] for p in parts],
            "community_code": [p[prof.street : prof.street + prof.community] for p in parts],
            "seq_code": [c[-prof.seq :] for c in codes],
            "name": [f"{name_prefix}第{int(s)}网格" for s in rank],
        },
        geometry=gpd.GeoSeries(multi, crs=crs).to_crs(4326),
        crs=4326,
    )
    by_seq = np.argsort(rank)
    grids = grids.iloc[by_seq].reset_index(drop=True)
    stats = pd.DataFrame(
        {
            "code": np.asarray(codes)[by_seq],
            "seq": rank[by_seq],
            "households": hh_per_grid[by_seq].astype(np.int64),
            "area_m2": shapely.area(geoms)[by_seq],
            "blocks": np.bincount(label, minlength=n)[by_seq],
            "note": np.asarray(grid_notes, dtype=object)[by_seq],
        }
    )
    block_frame = gpd.GeoDataFrame(
        {"households": weights.astype(np.int64), "code": np.asarray(codes, dtype=object)[label]},
        geometry=gpd.GeoSeries(blocks, crs=crs).to_crs(4326),
        crs=4326,
    )
    return Partition(grids, stats, block_frame, crs, band_m, north)
