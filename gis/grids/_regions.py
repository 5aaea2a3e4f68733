"""Step 4 of the grid partition (gis.grids.partition): region growing on the block adjacency graph, then
rebalancing and merging grids that stay under the target; and the reading order that seeds and numbers them."""

from __future__ import annotations

import math

import numpy as np
import shapely


def reading_order(points: np.ndarray, band_m: float, north: float) -> np.ndarray:
    """Indices in reading order: north→south bands of `band_m`, west→east within a band (to the decimetre),
    north first where two share an easting."""
    x, y = shapely.get_x(points), shapely.get_y(points)
    band = np.floor((north - y) / band_m)
    return np.lexsort((-y, np.round(x, 1), band))


def grow(areas, perims, weights, edges, order, lo, hi) -> np.ndarray:
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
    merge_small(label, len(regions), nbrs, weights, lo, hi)
    rebalance(label, len(regions), nbrs, weights, lo, hi)
    merge_small(label, len(regions), nbrs, weights, lo, hi)
    return np.unique(label, return_inverse=True)[1]


def connected(blocks: set[int], nbrs: list[dict[int, float]]) -> bool:
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


def rebalance(label, n_regions, nbrs, weights, lo, hi) -> None:
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
                if connected(members[o] - {nb}, nbrs):
                    members[o].discard(nb)
                    members[r].add(nb)
                    label[nb] = r
                    sizes[o] -= weights[nb]
                    sizes[r] += weights[nb]
                    moved = True
                    break
            if not moved:
                break


def merge_small(label, n_regions, nbrs, weights, lo, hi) -> None:
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
