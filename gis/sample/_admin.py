"""Streets (街道), communities (社区) and grids (网格) of the sample area: which superblocks form each street and
community (balanced by households), and how each community is cut into grids (see gis/sample/_grids.py)."""

from dataclasses import dataclass

import numpy as np

from gis.sample._grids import Boxes, GridCutter, Rect, merge_empty, partition_cells, reading_order
from gis.sample._layout import Layout
from gis.sample._names import Names
from gis.sample._network import Network
from gis.sample._settings import SampleSettings


@dataclass
class Admin:
    """Streets and communities as rectangles of superblock cells (j0, j1, i0, i1), in reading order."""

    streets: list[Rect]
    street_codes: list[str]
    street_names: list[str]
    communities: list[Rect]
    community_street: list[int]
    community_codes: list[str]
    community_names: list[str]

    @staticmethod
    def rect(cells: Rect, layout: Layout) -> tuple[float, float, float, float]:
        j0, j1, i0, i1 = cells
        return float(layout.xs[i0]), float(layout.ys[j0]), float(layout.xs[i1]), float(layout.ys[j1])


def partition_admin(layout: Layout, b: dict, settings: SampleSettings, scale: float, names: Names) -> Admin:
    """Streets (one per unit of scale) and 4–8 communities per street, balanced by households."""
    ny, nx = layout.shape
    weight = np.bincount(b["superblock"].astype(int), weights=b["households"], minlength=nx * ny).reshape(ny, nx)
    edges = (layout.xs, layout.ys)
    min_cells = settings.communities_min  # so that a street can have 4–8 communities of whole superblocks
    n_streets = min(max(1, round(scale)), max(1, nx * ny // min_cells))
    inhabited = 2 * settings.grid_households_min  # a superblock that can be a community of its own
    streets = partition_cells(weight, n_streets, edges, min_cells=min_cells, cell_weight=inhabited)
    streets = [streets[k] for k in reading_order([Admin.rect(s, layout) for s in streets])]
    admin = Admin(streets, [], [], [], [], [], [])
    first = int(settings.street_code)
    for s, (j0, j1, i0, i1) in enumerate(streets):
        admin.street_codes.append(f"{(first + s) % 1000:03d}")
        admin.street_names.append(settings.street_name if s == 0 else names.streets.take() + "街道")
        sub = weight[j0:j1, i0:i1]
        k = round(sub.sum() / settings.community_households)
        k = min(max(k, settings.communities_min), settings.communities_max, sub.size)
        edges = (layout.xs[i0 : i1 + 1], layout.ys[j0 : j1 + 1])
        min_part = 2 * settings.grid_households_min  # every community must hold at least two grids
        parts = partition_cells(sub, k, edges, min_part=min_part)
        while k > 1 and min(sub[pj0:pj1, pi0:pi1].sum() for pj0, pj1, pi0, pi1 in parts) < min_part:
            k -= 1  # too many communities for these superblocks (a rare street of parks and offices)
            parts = partition_cells(sub, k, edges, min_part=min_part)
        parts = [(pj0 + j0, pj1 + j0, pi0 + i0, pi1 + i0) for pj0, pj1, pi0, pi1 in parts]
        parts = [parts[n] for n in reading_order([admin.rect(p, layout) for p in parts])]
        for n, cells in enumerate(parts):
            admin.communities.append(cells)
            admin.community_street.append(s)
            admin.community_codes.append(f"{n + 1:03d}")
            admin.community_names.append(names.communities.take() + "社区")
    return admin


def cut_grids(layout: Layout, b: dict, admin: Admin, net: Network, settings: SampleSettings):
    """Grids of each community, numbered in reading order.

    Returns the leaf rectangles of the partition, the leaves of each grid (a grid is one rectangle or a few, when
    land without households was joined to it), each grid's community and each building's grid.
    """
    ny, nx = layout.shape
    cell_community = np.empty((ny, nx), dtype=int)
    for c, (j0, j1, i0, i1) in enumerate(admin.communities):
        cell_community[j0:j1, i0:i1] = c
    building_community = cell_community.ravel()[b["superblock"].astype(int)]
    households = b["households"].astype(float)
    x0, y0, x1, y1 = (b[c].astype(float) for c in ("x0", "y0", "x1", "y1"))
    boxes = Boxes(x0, y0, x1, y1, households)
    base = GridCutter(
        boxes, net.lines(), settings.grid_households_min, settings.grid_households_max, settings.grid_households_target
    )
    order = np.argsort(building_community, kind="stable")
    bounds = np.searchsorted(building_community[order], np.arange(len(admin.communities) + 1))
    leaves_all: list[tuple[float, ...]] = []
    grids: list[list[int]] = []
    community: list[int] = []
    building_grid = np.full(len(households), -1)
    for c, cells in enumerate(admin.communities):
        rect = admin.rect(cells, layout)
        leaves, _ = base.within(rect).cut(rect, order[bounds[c] : bounds[c + 1]])
        groups = merge_empty(leaves, households)
        boxes_of = [bounding_box([leaves[i][0] for i in g]) for g in groups]
        for k in reading_order(boxes_of):
            for i in groups[k]:
                building_grid[leaves[i][1]] = len(grids)
            grids.append([len(leaves_all) + i for i in groups[k]])
            community.append(c)
        leaves_all += [r for r, _, _ in leaves]
    return leaves_all, grids, np.array(community), building_grid


def bounding_box(rects: list[tuple[float, ...]]) -> tuple[float, float, float, float]:
    return min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects), max(r[3] for r in rects)
