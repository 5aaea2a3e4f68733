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
from gis.grids.codes import CodeProfile, format_grid_code, get_profile

__all__ = ["ROAD_CLASSES", "Partition", "partition_community"]

# roads that bound grids: public streets, not footways, service lanes or paths inside compounds
ROAD_CLASSES = frozenset(
    "motorway trunk primary secondary tertiary unclassified residential living_street pedestrian "
    "primary_link secondary_link tertiary_link road".split()
)
NODING_TOLERANCE_M = 0.01  # metres
SLIVER_M2 = 1.0  # faces smaller than this are noise of the noding, not blocks
SHARED_EDGE_M = 0.5  # blocks touching along less than this are not neighbours


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


def _to_metric(data, crs: CRS) -> np.ndarray:
    if isinstance(data, gpd.GeoDataFrame | gpd.GeoSeries):
        series = data.geometry if data.crs is not None else data.geometry.set_crs(4326)
        return np.asarray(series.to_crs(crs).values)
    return np.asarray(gpd.GeoSeries(list(np.atleast_1d(data)), crs=4326).to_crs(crs).values)


def _blocks(community: shapely.Geometry, roads: np.ndarray) -> np.ndarray:
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


def _weights(points: np.ndarray, counts: np.ndarray, blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _split_big(blocks, where, xy, counts, max_households) -> tuple[list, np.ndarray, list[str]]:
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


def _adjacency(blocks: np.ndarray) -> dict[tuple[int, int], float]:
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


def _reading_order(points: np.ndarray, band_m: float, north: float) -> np.ndarray:
    """Indices in reading order: north→south bands of `band_m`, west→east within a band (to the decimetre),
    north first where two share an easting."""
    x, y = shapely.get_x(points), shapely.get_y(points)
    band = np.floor((north - y) / band_m)
    return np.lexsort((-y, np.round(x, 1), band))


def _grow(areas, perims, weights, edges, order, lo, hi) -> np.ndarray:
    """Region growing: region label per block."""
    n = len(areas)
    nbrs: list[dict[int, float]] = [{} for _ in range(n)]
    for (i, j), s in edges.items():
        nbrs[i][j] = s
        nbrs[j][i] = s
    label = np.full(n, -1, dtype=np.int64)
    target = (lo + hi) / 2
    regions: list[dict] = []
    for seed in order:
        if label[seed] >= 0:
            continue
        r = len(regions)
        label[seed] = r
        reg = {"area": areas[seed], "perim": perims[seed], "w": weights[seed], "blocks": [seed]}
        regions.append(reg)
        while reg["w"] < target:
            border: dict[int, float] = {}
            for b in reg["blocks"]:
                for nb, s in nbrs[b].items():
                    if label[nb] < 0:
                        border[nb] = border.get(nb, 0.0) + s
            best = None
            for nb, s in border.items():
                if reg["w"] + weights[nb] > hi:
                    continue
                area, perim = reg["area"] + areas[nb], reg["perim"] + perims[nb] - 2 * s
                score = 4 * math.pi * area / perim**2
                if best is None or score > best[0]:
                    best = (score, nb, area, perim)
            if best is None:
                break
            _, nb, reg["area"], reg["perim"] = best
            reg["w"] += weights[nb]
            reg["blocks"].append(nb)
            label[nb] = r
    _merge_small(label, len(regions), nbrs, weights, lo, hi)
    _rebalance(label, len(regions), nbrs, weights, lo, hi)
    _merge_small(label, len(regions), nbrs, weights, lo, hi)
    return np.unique(label, return_inverse=True)[1]


def _connected(blocks: set[int], nbrs: list[dict[int, float]]) -> bool:
    if not blocks:
        return False
    start = next(iter(blocks))
    seen, todo = {start}, [start]
    while todo:
        for nb in nbrs[todo.pop()]:
            if nb in blocks and nb not in seen:
                seen.add(nb)
                todo.append(nb)
    return len(seen) == len(blocks)


def _rebalance(label, n_regions, nbrs, weights, lo, hi) -> None:
    """Regions under `lo` take border blocks from neighbours that stay ≥ `lo` and connected, longest shared edge
    first, until they reach `lo` (without passing `hi`)."""
    sizes = np.bincount(label, weights=weights, minlength=n_regions)
    members = {r: set(np.flatnonzero(label == r).tolist()) for r in range(n_regions)}
    for r in np.argsort(sizes):
        if not members[r] or sizes[r] >= lo:
            continue
        while sizes[r] < lo:
            offers: dict[int, float] = {}
            for b in members[r]:
                for nb, shared in nbrs[b].items():
                    o = label[nb]
                    if o != r and weights[nb] > 0 and sizes[o] - weights[nb] >= lo and sizes[r] + weights[nb] <= hi:
                        offers[nb] = offers.get(nb, 0.0) + shared
            moved = False
            for nb in sorted(offers, key=lambda b: (-offers[b], -weights[b], b)):
                o = label[nb]
                if _connected(members[o] - {nb}, nbrs):
                    members[o].discard(nb)
                    members[r].add(nb)
                    label[nb] = r
                    sizes[o] -= weights[nb]
                    sizes[r] += weights[nb]
                    moved = True
                    break
            if not moved:
                break


def _merge_small(label, n_regions, nbrs, weights, lo, hi) -> None:
    """Regions under `lo` join a neighbouring region: the smallest that stays ≤ `hi`, else (if empty) the one
    sharing the longest edge."""
    changed = True
    while changed:
        changed = False
        sizes = np.bincount(label, weights=weights, minlength=n_regions)
        for r in np.argsort(sizes):
            blocks = np.flatnonzero(label == r)
            if len(blocks) == 0 or sizes[r] >= lo:
                continue
            shared: dict[int, float] = {}
            for b in blocks:
                for nb, s in nbrs[b].items():
                    if label[nb] != r:
                        shared[label[nb]] = shared.get(label[nb], 0.0) + s
            if not shared:
                continue
            fits = [o for o in shared if sizes[o] + sizes[r] <= hi]
            if fits:
                other = min(fits, key=lambda o: (sizes[o], -shared[o]))
            elif sizes[r] == 0:
                other = max(shared, key=lambda o: shared[o])
            else:
                continue
            label[blocks] = other
            changed = True
            break


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
        area = shapely.union_all(_to_metric(community, crs))
    else:
        crs = metric_crs(gpd.GeoSeries([community], crs=4326))
        area = _to_metric(community, crs)[0]
    area = shapely.make_valid(area)
    if roads is not None and len(roads):
        keep = roads["highway"].isin(list(road_classes)) if road_classes and "highway" in roads else slice(None)
        road_geoms = _to_metric(roads[keep], crs)
    else:
        road_geoms = np.empty(0, dtype=object)
    blocks = _blocks(area, road_geoms)
    hh_geoms = _to_metric(households, crs) if len(households) else np.empty(0, dtype=object)
    points = shapely.point_on_surface(hh_geoms) if len(hh_geoms) else hh_geoms
    counts = (
        pd.to_numeric(households["households"], errors="coerce").fillna(0).to_numpy(dtype=float)
        if "households" in households
        else np.ones(len(points))
    )
    where, _ = _weights(points, counts, blocks)
    xy = shapely.get_coordinates(points) if len(points) else np.zeros((0, 2))
    block_list, where, notes = _split_big(blocks, where, xy, counts, max_households)
    blocks = np.asarray(block_list, dtype=object)
    inside = where >= 0
    weights = np.bincount(where[inside], weights=counts[inside], minlength=len(blocks))
    total = weights.sum()
    per_grid_area = shapely.area(area) * (((min_households + max_households) / 2) / total if total else 1.0)
    band_m = max(math.sqrt(min(per_grid_area, shapely.area(area))), 1.0)
    north = shapely.bounds(area)[3]
    order = _reading_order(shapely.point_on_surface(blocks), band_m, north)
    label = _grow(
        shapely.area(blocks),
        shapely.length(blocks),
        weights,
        _adjacency(blocks),
        order,
        min_households,
        max_households,
    )
    n = int(label.max()) + 1 if len(label) else 0
    _check_numbering(n, prof, min_households, max_households)
    geoms = np.array([_union(blocks[label == r]) for r in range(n)], dtype=object)
    seq_order = _reading_order(shapely.point_on_surface(geoms), band_m, north)
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
