"""Road skeleton of the sample area: arterial roads, superblocks (街坊), parcels and what each parcel is used for.

Arterials run east–west and north–south every 400–700 m (seeded); the rectangles between their centrelines are the
superblocks that communities and streets are made of. Branch roads (支路) split each superblock, guillotine-wise,
into parcels of at most ``parcel_max_m``; every parcel is bounded by roads on all four sides, so a gated compound can
put its gates on any side. All coordinates are metres in the local frame.
"""

from dataclasses import dataclass

import numpy as np

from gis.sample._names import Names
from gis.sample._network import Network
from gis.sample._settings import SampleSettings

COMPOUND_STYLES = {"walkup": 0.5, "slab": 0.3, "tower": 0.2}  # shares of compounds by building type
HALF_WIDTH = {"primary": 25.0, "secondary": 16.0, "tertiary": 8.0}  # centreline to red line (红线), metres
SOUTH, NORTH, WEST, EAST = range(4)


@dataclass
class Parcel:
    """A rectangle between road centrelines, with the roads on its four sides (south, north, west, east)."""

    index: int
    superblock: int
    bounds: tuple[float, float, float, float]  # x0, y0, x1, y1 of the road centrelines
    sides: tuple[int, int, int, int]  # line ids of the roads on the S, N, W, E sides
    side_class: tuple[str, str, str, str]
    use: str = ""
    style: str = ""  # for compounds: walkup (多层), slab (小高层) or tower (高层)

    @property
    def red(self) -> tuple[float, float, float, float]:
        """The parcel inside the roads' red lines (road reserve excluded)."""
        x0, y0, x1, y1 = self.bounds
        s, n, w, e = (HALF_WIDTH[c] for c in self.side_class)
        return x0 + w, y0 + s, x1 - e, y1 - n

    def side_coordinate(self, side: int) -> float:
        """The centreline coordinate of a side's road (y for south/north, x for west/east)."""
        x0, y0, x1, y1 = self.bounds
        return (y0, y1, x0, x1)[side]


@dataclass
class Layout:
    xs: np.ndarray  # x of the north–south arterials, west to east
    ys: np.ndarray  # y of the east–west arterials, south to north
    parcels: list[Parcel]
    village: np.ndarray  # per superblock (row-major from the south-west): an old low-rise neighbourhood

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.ys) - 1, len(self.xs) - 1


def arterial_positions(rng: np.random.Generator, total: float, lo: float, hi: float) -> np.ndarray:
    """Centreline positions with random spacings in [lo, hi], ``total`` metres in all (as far as the range allows),
    centred on 0."""
    n = max(2, round(total / ((lo + hi) / 2)))
    spacing = rng.uniform(lo, hi, n)
    spacing = np.clip(spacing * total / spacing.sum(), lo, hi)  # the extent stays ~total: no swing in population
    pos = np.concatenate([[0.0], np.cumsum(spacing)])
    return np.round(pos - pos[-1] / 2, 1)


def build_layout(
    settings: SampleSettings, scale: float, rng: np.random.Generator, net: Network, names: Names
) -> Layout:
    """Arterials, superblocks, branch roads and parcels with their land use."""
    side = np.sqrt(scale)
    xs = arterial_positions(rng, settings.street_width_m * side, settings.superblock_min_m, settings.superblock_max_m)
    ys = arterial_positions(rng, settings.street_height_m * side, settings.superblock_min_m, settings.superblock_max_m)
    v_class = np.where(rng.random(len(xs)) < settings.primary_share, "primary", "secondary")
    h_class = np.where(rng.random(len(ys)) < settings.primary_share, "primary", "secondary")
    v_ids = [
        net.add(False, x, ys[0], ys[-1], str(c), names.road(False, c == "primary"), positions=ys)[0]
        for x, c in zip(xs, v_class, strict=True)
    ]
    h_ids = [
        net.add(True, y, xs[0], xs[-1], str(c), names.road(True, c == "primary"), positions=xs)[0]
        for y, c in zip(ys, h_class, strict=True)
    ]

    parcels: list[Parcel] = []
    ny, nx = len(ys) - 1, len(xs) - 1
    for j in range(ny):
        for i in range(nx):
            block = Parcel(
                index=-1,
                superblock=j * nx + i,
                bounds=(xs[i], ys[j], xs[i + 1], ys[j + 1]),
                sides=(h_ids[j], h_ids[j + 1], v_ids[i], v_ids[i + 1]),
                side_class=(str(h_class[j]), str(h_class[j + 1]), str(v_class[i]), str(v_class[i + 1])),
            )
            split_parcel(block, rng, net, names, settings, parcels)
    for k, parcel in enumerate(parcels):
        parcel.index = k

    village = np.zeros(nx * ny, dtype=bool)
    village[rng.permutation(nx * ny)[: round(settings.village_share * nx * ny)]] = True
    assign_land_use(parcels, village, rng, settings)
    return Layout(xs=xs, ys=ys, parcels=parcels, village=village)


def split_parcel(
    region: Parcel, rng: np.random.Generator, net: Network, names: Names, settings: SampleSettings, out: list[Parcel]
) -> None:
    """Cut a region by a branch road across its longer side until parcels are at most ``parcel_max_m``."""
    x0, y0, x1, y1 = region.bounds
    width, height = x1 - x0, y1 - y0
    vertical = width >= height  # a north–south road splits a wide region
    length = width if vertical else height
    lo, hi = max(settings.parcel_min_m, 0.35 * length), min(length - settings.parcel_min_m, 0.65 * length)
    if length <= settings.parcel_max_m or lo > hi:
        out.append(region)
        return
    start = x0 if vertical else y0
    cut = round(start + rng.uniform(lo, hi), 1)
    name = names.lanes.take() if rng.random() < 0.6 else None
    s, n, w, e = region.sides
    sc, nc, wc, ec = region.side_class
    if vertical:
        road = int(net.add(False, cut, y0, y1, "tertiary", name)[0])
        net.attach([s, n], [cut, cut])
        parts = [((x0, y0, cut, y1), (s, n, w, road), (sc, nc, wc, "tertiary"))]
        parts.append(((cut, y0, x1, y1), (s, n, road, e), (sc, nc, "tertiary", ec)))
    else:
        road = int(net.add(True, cut, x0, x1, "tertiary", name)[0])
        net.attach([w, e], [cut, cut])
        parts = [((x0, y0, x1, cut), (s, road, w, e), (sc, "tertiary", wc, ec))]
        parts.append(((x0, cut, x1, y1), (road, n, w, e), ("tertiary", nc, wc, ec)))
    for bounds, sides, classes in parts:
        part = Parcel(index=-1, superblock=region.superblock, bounds=bounds, sides=sides, side_class=classes)
        split_parcel(part, rng, net, names, settings, out)


def assign_land_use(parcels: list[Parcel], village: np.ndarray, rng: np.random.Generator, s: SampleSettings) -> None:
    """Old low-rise superblocks are villages (城中村) but for an occasional market parcel; elsewhere the uses are
    dealt out in exact proportions (a shuffled deck, so a single street does not swing with chance), and parcels
    too small for a compound or a school become public land or a park. Compound building types are dealt alike."""
    others = []
    for parcel in parcels:
        if village[parcel.superblock]:
            parcel.use = "village" if rng.random() > 0.12 else "public"
        else:
            others.append(parcel)
    uses = list(s.land_use)
    counts = np.floor(np.array([s.land_use[u] for u in uses]) * len(others)).astype(int)
    counts[0] += len(others) - counts.sum()
    deck = np.repeat(np.array(uses, dtype=object), counts)[rng.permutation(len(others))]
    for parcel, use in zip(others, deck, strict=True):
        x0, y0, x1, y1 = parcel.red
        small = min(x1 - x0, y1 - y0)
        if use == "compound" and small < 90:
            use = "public"
        elif use == "school" and small < 110:
            use = "park"
        parcel.use = str(use)
    compounds = [p for p in parcels if p.use == "compound"]
    styles = list(COMPOUND_STYLES)
    counts = np.floor(np.array(list(COMPOUND_STYLES.values())) * len(compounds)).astype(int)
    counts[0] += len(compounds) - counts.sum()
    for parcel, style in zip(compounds, np.repeat(styles, counts)[rng.permutation(len(compounds))], strict=True):
        parcel.style = str(style)
