"""Steps 1–3 of the grid partition (gis.grids.partition): the blocks (街坊) of a community between its roads,
the households in each, oversized blocks cut between buildings, and which blocks share an edge."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

NODING_TOLERANCE_M = 0.01  # metres
SLIVER_M2 = 1.0  # faces smaller than this are noise of the noding, not blocks
SHARED_EDGE_M = 0.5  # blocks touching along less than this are not neighbours


def to_metric(data, crs: CRS) -> np.ndarray:
    if isinstance(data, gpd.GeoDataFrame | gpd.GeoSeries):
        series = data.geometry if data.crs is not None else data.geometry.set_crs(4326)
        return np.asarray(series.to_crs(crs).values)
    return np.asarray(gpd.GeoSeries(list(np.atleast_1d(data)), crs=4326).to_crs(crs).values)


def community_blocks(community: shapely.Geometry, roads: np.ndarray) -> np.ndarray:
    """Faces of the community boundary noded with the roads inside it."""
    lines = shapely.intersection(roads, community) if len(roads) else np.empty(0, dtype=object)
    lines = [g for g in lines if not g.is_empty and g.length > 0]
    noded = shapely.union_all([shapely.boundary(community), *lines])
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.contains(community, shapely.point_on_surface(faces))]
    sliver = shapely.area(faces) < SLIVER_M2
    if sliver.any() and (~sliver).any():
        # polygonize leaves needle faces where a road nearly meets the boundary: give each to its nearest block
        kept = faces[~sliver].copy()
        nearest = shapely.STRtree(kept).query_nearest(faces[sliver], return_distance=False, all_matches=False)
        for piece, block in zip(faces[sliver], nearest[1], strict=True):
            kept[block] = shapely.union(kept[block], piece)
        faces = kept
    return faces


def block_weights(points: np.ndarray, counts: np.ndarray, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block index of every point (-1 outside) and households per block."""
    tree = shapely.STRtree(blocks)
    pt, blk = tree.query(points, predicate="intersects")
    where = np.full(len(points), -1, dtype=np.int64)
    where[pt[::-1]] = blk[::-1]  # a point on a shared edge goes to the first block
    inside = where >= 0
    return where, np.bincount(where[inside], weights=counts[inside], minlength=len(blocks))


def _cut(block: shapely.Geometry, xy: np.ndarray, counts: np.ndarray, most: float) -> list[tuple]:
    """Cut `block` across its longer axis, between points, until no part holds more than `most` households:
    ⌈n / most⌉ parts of about equal households where the points allow.

    Returns (geometry, point mask) per part; a part whose points cannot be separated stays over `most`."""
    pieces = math.ceil(counts.sum() / most) if counts.sum() > most else 1
    if pieces <= 1 or len(xy) < 2:
        return [(block, np.ones(len(xy), dtype=bool))]
    ring = np.asarray(shapely.get_coordinates(shapely.oriented_envelope(block)))[:4]
    sides = np.diff(ring, axis=0)
    axis = sides[np.argmax(np.hypot(*sides.T))]
    axis = axis / np.hypot(*axis)
    pos = xy @ axis
    order = np.argsort(pos, kind="stable")
    cum = np.cumsum(counts[order])
    first = pieces // 2
    share = cum[-1] * first / pieces
    gaps = np.flatnonzero(np.diff(pos[order]) > 1e-6)  # cut only between distinct positions
    if len(gaps) == 0:
        return [(block, np.ones(len(xy), dtype=bool))]
    at = gaps[np.argmin(np.abs(cum[gaps] - share))]
    cut = (pos[order][at] + pos[order][at + 1]) / 2
    normal = np.array([-axis[1], axis[0]])
    size = 4 * (shapely.length(shapely.boundary(block)) + 1)
    center = np.asarray(shapely.get_coordinates(shapely.centroid(block)))[0]
    origin = center + axis * (cut - center @ axis)
    half = shapely.Polygon(
        [
            origin + normal * size,
            origin + normal * size - axis * size,
            origin - normal * size - axis * size,
            origin - normal * size,
        ]
    )
    low, high = shapely.intersection(block, half), shapely.difference(block, half)
    mask = pos < cut
    if low.is_empty or high.is_empty:
        return [(block, np.ones(len(xy), dtype=bool))]
    parts = []
    for geom, m in ((low, mask), (high, ~mask)):
        for sub, sub_mask in _cut(geom, xy[m], counts[m], most):
            full = np.zeros(len(xy), dtype=bool)
            full[np.flatnonzero(m)[sub_mask]] = True
            parts.append((sub, full))
    return parts


def split_big(blocks, where, xy, counts, max_households) -> tuple[list, np.ndarray, list[str]]:
    """Blocks over `max_households` cut between buildings; returns blocks, point → block, note per block."""
    out: list = []
    notes: list[str] = []
    new_where = np.full(len(where), -1, dtype=np.int64)
    for b, geom in enumerate(blocks):
        mine = np.flatnonzero(where == b)
        parts = _cut(geom, xy[mine], counts[mine], max_households)
        for part, mask in parts:
            new_where[mine[mask]] = len(out)
            out.append(part)
            held = counts[mine[mask]]
            big = held.sum() > max_households
            notes.append(
                f"{int(held.sum())} households between roads that cannot be cut between buildings "
                f"(largest building {int(held.max())})"
                if big
                else ""
            )
    return out, new_where, notes


def adjacency(blocks: np.ndarray) -> dict[tuple[int, int], float]:
    """Shared edge length (m) of every pair of blocks that share an edge, to within `NODING_TOLERANCE_M`: a block
    cut between buildings meets its neighbour only up to floating-point noise."""
    tree = shapely.STRtree(blocks)
    a, b = tree.query(blocks, predicate="dwithin", distance=NODING_TOLERANCE_M)
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(blocks[a]), shapely.boundary(blocks[b])))
    loose = shared < SHARED_EDGE_M  # measure these again with the tolerance (the band adds 2 × tolerance)
    if loose.any():
        near_b = shapely.buffer(shapely.boundary(blocks[b[loose]]), NODING_TOLERANCE_M, quad_segs=1)
        again = shapely.length(shapely.intersection(shapely.boundary(blocks[a[loose]]), near_b))
        shared[loose] = np.maximum(again - 2 * NODING_TOLERANCE_M, 0.0)
    return {(int(i), int(j)): float(s) for i, j, s in zip(a, b, shared, strict=True) if s >= SHARED_EDGE_M}
