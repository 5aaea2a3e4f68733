"""Streets, communities and grids (网格) of the sample area, as guillotine partitions of rectangles.

Streets and communities are rectangles of whole superblocks (bounded by arterial centrelines), chosen so their
households balance. Grids cut a community along straight lines that cross no building footprint — preferably along
an arterial, a branch road, a lane or an alley, otherwise between rows of houses — until each grid holds 300–500
households (the grid standard's 万米单元网格 of one grid worker's load). Pieces are rectangles, so they tile their
community exactly; shared edges get the vertices of their neighbours (no T-junctions), so the tiling stays exact
after projection to WGS84.
"""

import copy
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PRIORITY = {"primary": 3, "secondary": 3, "tertiary": 2, "residential": 1, "living_street": 1, "service": 1}
MIN_GAP = 1.0  # metres between footprints for a cut to pass

Rect = tuple[int, int, int, int]  # rows j0:j1, columns i0:i1 of the weight raster


def partition_cells(
    weight: np.ndarray,
    k: int,
    cell: tuple[np.ndarray, np.ndarray],
    min_part: float = 0.0,
    min_cells: int = 1,
    cell_weight: float = 0.0,
) -> list[Rect]:
    """Split a (rows × cols) grid of cells into k rectangles (j0, j1, i0, i1) of about equal weight.

    ``cell`` gives the cell edges (x and y in metres) so that pieces stay compact in metres, not in cell counts.
    A part lighter than ``min_part`` or with fewer than ``min_cells`` cells of at least ``cell_weight`` is a
    violation: when the most balanced cut leads to one, the next few cuts are tried (a light superblock of parks
    and offices must share a community; a street needs enough inhabited superblocks for its communities).
    """
    xs, ys = cell
    tries = 4
    heavy = np.cumsum(np.cumsum(weight >= cell_weight, axis=0), axis=1)
    heavy = np.pad(heavy, ((1, 0), (1, 0)))

    def violations(part: Rect, parts: int = 1) -> int:
        """Whether ``part`` is too light or has too few inhabited cells for ``parts`` parts."""
        j0, j1, i0, i1 = part
        cells = heavy[j1, i1] - heavy[j0, i1] - heavy[j1, i0] + heavy[j0, i0]
        return int(weight[j0:j1, i0:i1].sum() < min_part * parts) + int(cells < min_cells * parts)

    def split(j0: int, j1: int, i0: int, i1: int, k: int) -> tuple[list[Rect], int]:
        if k <= 1:
            return [(j0, j1, i0, i1)], violations((j0, j1, i0, i1))
        total = weight[j0:j1, i0:i1].sum()
        options: list[tuple[float, Rect, Rect, int]] = []
        for axis in (0, 1):
            cuts = range(i0 + 1, i1) if axis == 1 else range(j0 + 1, j1)
            for c in cuts:
                a, b = ((j0, j1, i0, c), (j0, j1, c, i1)) if axis == 1 else ((j0, c, i0, i1), (c, j1, i0, i1))
                cells_a, cells_b = (a[1] - a[0]) * (a[3] - a[2]), (b[1] - b[0]) * (b[3] - b[2])
                weight_a = weight[a[0] : a[1], a[2] : a[3]].sum()
                share = weight_a / total if total else cells_a / (cells_a + cells_b)
                for k1 in range(max(1, k - cells_b), min(k - 1, cells_a) + 1):
                    k2 = k - k1
                    aspect = max(_aspect(xs, ys, *a) / k1, _aspect(xs, ys, *b) / k2)
                    score = abs(share - k1 / k) + 0.05 * max(0.0, aspect - 2.0)
                    score += 10.0 * (violations(a, k1) + violations(b, k2))
                    options.append((score, a, b, k1))
        if not options:
            return [(j0, j1, i0, i1)], violations((j0, j1, i0, i1))
        options.sort()
        best: tuple[list[Rect], int] | None = None
        for _, a, b, k1 in options[:tries]:
            parts_a, bad_a = split(*a, k1)
            parts_b, bad_b = split(*b, k - k1)
            if best is None or bad_a + bad_b < best[1]:
                best = (parts_a + parts_b, bad_a + bad_b)
            if best[1] == 0:
                break
        assert best is not None  # options is not empty
        return best

    return split(0, weight.shape[0], 0, weight.shape[1], k)[0]


def _aspect(xs: np.ndarray, ys: np.ndarray, j0: int, j1: int, i0: int, i1: int) -> float:
    w, h = xs[i1] - xs[i0], ys[j1] - ys[j0]
    return max(w / h, h / w)


@dataclass
class Boxes:
    """Building footprints (axis-aligned boxes) and their households."""

    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray
    households: np.ndarray


Leaf = tuple[tuple[float, ...], np.ndarray, int]  # rectangle, building indices, group tag (-1: a grid of its own)


class GridCutter:
    """Cuts one community into grids of ``lo``–``hi`` households (``target`` preferred)."""

    def __init__(self, boxes: Boxes, lines: dict[str, np.ndarray], lo: int, hi: int, target: int) -> None:
        self.b, self.lo, self.hi, self.target = boxes, lo, hi, target
        keep = np.isin(lines["highway"], list(PRIORITY))
        self.lines = {k: v[keep] for k, v in lines.items()}
        self.priority = np.array([PRIORITY.get(h, 0) for h in self.lines["highway"]])
        self.tries = 6
        self.tags = itertools.count()

    def feasible(self, h: np.ndarray) -> np.ndarray:
        """Whether h households can be split into grids of lo–hi households each."""
        m = np.maximum(np.ceil(h / self.hi), 1)
        return (h >= self.lo) & (m * self.lo <= h)

    def count(self, h: float) -> int:
        k = round(h / self.target)
        return int(min(max(k, int(np.ceil(h / self.hi)), 1), max(int(h // self.lo), 1)))

    def gaps(self, idx: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gaps between footprints across ``axis`` (0: x, 1: y): start, end, households before each gap."""
        lo = (self.b.x0, self.b.y0)[axis][idx]
        hi = (self.b.x1, self.b.y1)[axis][idx]
        order = np.argsort(lo, kind="stable")
        lo, hi, hh = lo[order], hi[order], self.b.households[idx][order]
        reach = np.maximum.accumulate(hi) if len(hi) else hi
        gap = np.flatnonzero(lo[1:] > reach[:-1] + MIN_GAP)
        return reach[gap], lo[gap + 1], np.cumsum(hh)[gap]

    def split(self, rect: tuple[float, ...], idx: np.ndarray, axis: int, pos: float):
        """The two rectangles and building sets on either side of a cut at ``pos`` across ``axis``."""
        x0, y0, x1, y1 = rect
        coord = (self.b.x0, self.b.y0)[axis][idx]
        a, b = ((x0, y0, pos, y1), (pos, y0, x1, y1)) if axis == 0 else ((x0, y0, x1, pos), (x0, pos, x1, y1))
        return (a, idx[coord < pos]), (b, idx[coord >= pos])

    def cut(self, rect: tuple[float, ...], idx: np.ndarray) -> tuple[list[Leaf], int]:
        """Recursive guillotine cut; returns the leaves and how many grids are off-range.

        A leaf without households (offices, a school, a park cut off to free the cuts through a compound next to
        it) is not off-range: ``merge_empty`` joins it to a neighbouring grid afterwards. When no straight cut
        works, a stepped cut splits a region of two grids into two L- or Z-shaped ones (``step``), or one L-shaped
        grid is taken off and the rest cut further (``corner``): rows of equal buildings can defeat straight cuts.
        """
        h = float(self.b.households[idx].sum())
        if h <= self.hi:
            return [(rect, idx, -1)], int(0 < h < self.lo)
        best: tuple[list[Leaf], int] | None = None
        for _, axis, pos in self.candidates(rect, idx, h)[: self.tries]:
            (a, ia), (b, ib) = self.split(rect, idx, axis, pos)
            leaves_a, bad_a = self.cut(a, ia)
            leaves_b, bad_b = self.cut(b, ib)
            if best is None or bad_a + bad_b < best[1]:
                best = (leaves_a + leaves_b, bad_a + bad_b)
            if best[1] == 0:
                return best
        if h <= 2 * self.hi:
            stepped = self.step(rect, idx, h)
            if stepped is not None:
                return stepped, 0
        cornered = self.corner(rect, idx, h)
        if cornered is not None:
            return cornered
        return best if best is not None else ([(rect, idx, -1)], 1)

    def candidates(self, rect: tuple[float, ...], idx: np.ndarray, h: float) -> list[tuple[float, int, float]]:
        """Feasible cuts (score, axis 0 = x / 1 = y, position), best first."""
        k = self.count(h)
        x0, y0, x1, y1 = rect
        out = []
        for axis in (0, 1):
            g0, g1, left = self.gaps(idx, axis)
            ok = self.feasible(left) & self.feasible(h - left)
            empty = np.zeros(len(left), dtype=bool)  # cut off the land without households, as close as possible
            if (left == 0).any():
                empty[np.flatnonzero(left == 0)[-1]] = True
            if (left == h).any():
                empty[np.flatnonzero(left == h)[0]] = True
            for g in np.flatnonzero(ok | empty):
                pos, prio = self.snap(axis, g0[g], g1[g], rect)
                r = left[g] * k / h
                dev = abs(r - min(max(round(r), 1), k - 1))
                span = (x1 - x0, y1 - y0)
                part_a = (pos - (x0, y0)[axis], span[1 - axis])
                part_b = ((x1, y1)[axis] - pos, span[1 - axis])
                aspect = max(max(p) / min(p) for p in (part_a, part_b))
                score = 1.0 if empty[g] else dev + 0.1 * max(0.0, aspect - 2.5)
                out.append((score - 0.1 * prio, axis, pos))
        out.sort()
        return out

    def step(self, rect: tuple[float, ...], idx: np.ndarray, h: float) -> list[Leaf] | None:
        """Two grids from one region by a stepped line: a first cut into two sides, then each side cut across the
        other axis at its own position; the two low parts form one grid, the two high parts the other."""
        best: tuple[float, list[Leaf]] | None = None
        for axis in (0, 1):
            g0, g1, _ = self.gaps(idx, axis)
            for a, b in zip(g0, g1, strict=True):
                pos, _ = self.snap(axis, a, b, rect)
                sides = self.split(rect, idx, axis, pos)
                options = []
                for side_rect, side_idx in sides:
                    q0, q1, low = self.gaps(side_idx, 1 - axis)
                    total = self.b.households[side_idx].sum()
                    options.append((np.concatenate([[0.0, total], low]), side_rect, side_idx, q0, q1))
                low = options[0][0][:, None] + options[1][0][None, :]
                ok = (low >= self.lo) & (low <= self.hi) & (h - low >= self.lo) & (h - low <= self.hi)
                if not ok.any():
                    continue
                score = np.where(ok, np.abs(low - h / 2), np.inf)
                i, j = np.unravel_index(np.argmin(score), score.shape)
                if best is None or score[i, j] < best[0]:
                    best = (float(score[i, j]), self._step_leaves(options, (int(i), int(j)), 1 - axis))
        return None if best is None else best[1]

    def corner(self, rect: tuple[float, ...], idx: np.ndarray, h: float) -> tuple[list[Leaf], int] | None:
        """One L-shaped grid — a whole side of a first cut plus the near or far part of the other side — and the
        remaining rectangle cut on recursively."""
        households = self.b.households
        choices = []
        for axis in (0, 1):
            g0, g1, _ = self.gaps(idx, axis)
            for a, b in zip(g0, g1, strict=True):
                pos, _ = self.snap(axis, a, b, rect)
                sides = self.split(rect, idx, axis, pos)
                for whole in (0, 1):
                    whole_h = households[sides[whole][1]].sum()
                    q0, q1, low = self.gaps(sides[1 - whole][1], 1 - axis)
                    for near_low in (True, False):
                        grid = whole_h + (low if near_low else h - whole_h - low)
                        ok = (grid >= self.lo) & (grid <= self.hi) & self.feasible(h - grid)
                        for g in np.flatnonzero(ok):
                            choices.append((abs(grid[g] - self.target), axis, pos, whole, near_low, q0[g], q1[g]))
        choices.sort(key=lambda c: c[0])
        for _, axis, pos, whole, near_low, q0, q1 in choices[: self.tries]:
            sides = self.split(rect, idx, axis, pos)
            other_rect, other_idx = sides[1 - whole]
            q, _ = self.snap(1 - axis, q0, q1, other_rect)
            low_part, high_part = self.split(other_rect, other_idx, 1 - axis, q)
            near, far = (low_part, high_part) if near_low else (high_part, low_part)
            rest, bad = self.cut(*far)
            if bad == 0:
                tag = next(self.tags)
                return [(sides[whole][0], sides[whole][1], tag), (near[0], near[1], tag), *rest], 0
        return None

    def _step_leaves(self, options, choice: tuple[int, int], axis: int) -> list[Leaf]:
        low_tag, high_tag = next(self.tags), next(self.tags)
        leaves: list[Leaf] = []
        for (_, side_rect, side_idx, q0, q1), k in zip(options, choice, strict=True):
            if k < 2:  # the whole side goes to the high (k = 0) or the low (k = 1) grid
                leaves.append((side_rect, side_idx, low_tag if k == 1 else high_tag))
                continue
            pos, _ = self.snap(axis, q0[k - 2], q1[k - 2], side_rect)
            (a, ia), (b, ib) = self.split(side_rect, side_idx, axis, pos)
            leaves += [(a, ia, low_tag), (b, ib, high_tag)]
        return leaves

    def snap(self, axis: int, g0: float, g1: float, rect: tuple[float, ...]) -> tuple[float, int]:
        """A cut in the gap (g0, g1): on the most important road or lane running through it, else the middle."""
        lines = self.lines
        lo_other, hi_other = (rect[1], rect[3]) if axis == 0 else (rect[0], rect[2])
        inside = (
            (lines["horizontal"] == (axis == 1))
            & (lines["fixed"] > g0 + 0.5)
            & (lines["fixed"] < g1 - 0.5)
            & (lines["lo"] < hi_other)
            & (lines["hi"] > lo_other)
        )
        if not inside.any():
            return float(np.round((g0 + g1) / 2, 2)), 0
        fixed, prio = lines["fixed"][inside], self.priority[inside]
        best = np.lexsort((np.abs(fixed - (g0 + g1) / 2), -prio))[0]
        return float(fixed[best]), int(prio[best])

    def within(self, rect: tuple[float, ...]) -> "GridCutter":
        """A cutter that knows only the lines running through the rectangle (fewer to scan for every cut)."""
        x0, y0, x1, y1 = rect
        lines = self.lines
        fixed, lo, hi = lines["fixed"], lines["lo"], lines["hi"]
        keep = np.where(
            lines["horizontal"],
            (fixed > y0) & (fixed < y1) & (lo < x1) & (hi > x0),
            (fixed > x0) & (fixed < x1) & (lo < y1) & (hi > y0),
        )
        cutter = copy.copy(self)
        cutter.lines = {k: v[keep] for k, v in lines.items()}
        cutter.priority = self.priority[keep]
        return cutter


def merge_empty(leaves: list[Leaf], households: np.ndarray) -> list[list[int]]:
    """Group the leaves into grids: leaves of a stepped cut by their tag, and each leaf without households joins
    the neighbour it shares most edge with."""
    rects = [r for r, _, _ in leaves]
    tags: dict[int, int] = {}
    group = []
    for i, (_, idx, tag) in enumerate(leaves):
        if tag >= 0:
            group.append(tags.setdefault(tag, i))
        else:
            group.append(i if households[idx].sum() > 0 else -1)
    if max(group) < 0:
        return [list(range(len(leaves)))]
    while min(group) < 0:
        for i in [i for i, g in enumerate(group) if g < 0]:
            length, j = max((_shared_edge(rects[i], rects[j]), j) for j, g in enumerate(group) if g >= 0)
            if length > 0:
                group[i] = group[j]
    return [[i for i, g in enumerate(group) if g == owner] for owner in sorted(set(group))]


def _shared_edge(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Length of the common edge of two touching rectangles (0 if they only meet at a corner or not at all)."""
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    if ax1 == bx0 or bx1 == ax0:
        return max(0.0, min(ay1, by1) - max(ay0, by0))
    if ay1 == by0 or by1 == ay0:
        return max(0.0, min(ax1, bx1) - max(ax0, bx0))
    return 0.0


def reading_order(rects: Sequence[tuple[float, ...]]) -> np.ndarray:
    """Grid numbering west→east, north→south: by the north edge (north first), then the west edge."""
    north = np.array([-round(r[3], 2) for r in rects])  # cut positions are whole centimetres
    west = np.array([round(r[0], 2) for r in rects])
    return np.lexsort((west, north))


class Noder:
    """Rings of axis-aligned rectangles that include every corner of a partition lying on their edges."""

    def __init__(self, rects: list[tuple[float, ...]]) -> None:
        corners = np.array([(x, y) for x0, y0, x1, y1 in rects for x in (x0, x1) for y in (y0, y1)])
        corners = np.unique(corners, axis=0)
        self.by_y: dict[float, np.ndarray] = {}
        self.by_x: dict[float, np.ndarray] = {}
        for y in np.unique(corners[:, 1]):
            self.by_y[float(y)] = np.sort(corners[corners[:, 1] == y, 0])
        for x in np.unique(corners[:, 0]):
            self.by_x[float(x)] = np.sort(corners[corners[:, 0] == x, 1])

    def ring(self, rect: tuple[float, ...]) -> np.ndarray:
        x0, y0, x1, y1 = rect
        return self.node([(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)])

    def node(self, ring) -> np.ndarray:
        """Insert the partition's corners that lie on the (axis-aligned) edges of a closed ring."""
        out = [ring[0]]
        for (ax, ay), (bx, by) in zip(ring[:-1], ring[1:], strict=True):
            if ay == by:
                xs = self.by_y.get(float(ay), np.empty(0))
                inner = xs[(xs > min(ax, bx)) & (xs < max(ax, bx))]
                out += [(x, ay) for x in (inner if bx > ax else inner[::-1])]
            else:
                ys = self.by_x.get(float(ax), np.empty(0))
                inner = ys[(ys > min(ay, by)) & (ys < max(ay, by))]
                out += [(ax, y) for y in (inner if by > ay else inner[::-1])]
            out.append((bx, by))
        return np.array(out, dtype=float)
