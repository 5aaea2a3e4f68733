"""Households (户), their tags, 党员中心户 and grid workers (网格员) of the sample area.

Rates are shares of households and live in data/sample.toml, where each one names its source (2020 census, China
Disabled Persons' Federation, Ministry of Civil Affairs, CPC statistics …). Tags that need a household of a certain
size (an elderly person living alone, an infant) are drawn only among such households, with the conditional rate
chosen so that the share of all households stays the stated one.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

TAGS = (
    "elderly_alone", "aged_80", "disabled", "hardship", "infant", "left_behind_child", "floating", "rented",
    "hospitalized", "unemployed", "released", "petitioner",
)  # fmt: skip
ROOMS = np.array([f"{f}{d:02d}" for f in range(40) for d in range(10)], dtype=object)  # index floor * 10 + door
UNITS = np.array([None] + [f"{u}单元" for u in range(1, 10)], dtype=object)
AGED_80_AMONG_ALONE = 0.3  # an elderly person living alone is often very old
HARDSHIP_AMONG_DISABLED = 0.12  # disability is a main cause of 低保 eligibility
RENTED_AMONG_FLOATING = 0.75  # most migrant households rent


def place_households(b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One row per household: building, unit (单元), room ('1502' = floor 15, door 02) and a point in the building.

    Points spread over the footprint by unit and door (east–west) and floor (south–north), so that every point is
    inside its building and the points of one building do not coincide.
    """
    counts = b["households"].astype(np.int64)
    building = np.repeat(np.arange(len(counts)), counts)
    k = np.arange(len(building)) - np.repeat(np.cumsum(counts) - counts, counts)
    floors, per_floor, units = b["floors"][building], b["per_floor"][building], b["units"][building]
    per_unit = floors * per_floor
    unit, rest = np.divmod(k, per_unit)
    floor, door = rest // per_floor + 1, rest % per_floor + 1
    lowrise = b["lowrise"][building].astype(bool)
    columns = units * per_floor
    column = unit * per_floor + door - 1
    x0, y0, x1, y1 = (b[c][building] for c in ("x0", "y0", "x1", "y1"))
    return {
        "building": building,
        "unit": np.where(lowrise, None, UNITS[np.minimum(unit + 1, 9)]),
        "room": ROOMS[floor * 10 + door],
        "x": x0 + (x1 - x0) * (column + 0.5) / columns,
        "y": y0 + (y1 - y0) * (0.2 + 0.6 * (floor - 0.5) / floors),
        "lowrise": lowrise,
    }


def draw_sizes(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    return rng.choice(np.arange(1, len(shares) + 1), n, p=np.asarray(shares))


def draw_tags(
    rng: np.random.Generator,
    size: np.ndarray,
    lowrise: np.ndarray,
    rates: dict[str, float],
    village_rates: dict[str, float],
    size_shares: tuple[float, ...],
) -> np.ndarray:
    """A (households × TAGS) boolean matrix with the stated shares (village rates in old low-rise housing)."""
    n = len(size)
    shares = np.asarray(size_shares)

    def rate(tag: str) -> np.ndarray:
        return np.where(lowrise, village_rates.get(tag, rates[tag]), rates[tag])

    def given(base: np.ndarray, condition: np.ndarray, parent_rate: np.ndarray, share: float) -> np.ndarray:
        """Rate among households with ``condition`` so the overall share stays ``base``."""
        rest = np.clip((base - share * parent_rate) / (1 - parent_rate), 0, 1)
        return np.where(condition, share, rest)

    u = rng.random((n, len(TAGS)))
    tags = np.zeros((n, len(TAGS)), dtype=bool)
    col = {t: i for i, t in enumerate(TAGS)}
    tags[:, col["elderly_alone"]] = (size <= 2) & (u[:, 0] < rate("elderly_alone") / shares[:2].sum())
    alone = tags[:, col["elderly_alone"]]
    tags[:, col["aged_80"]] = u[:, 1] < given(rate("aged_80"), alone, rate("elderly_alone"), AGED_80_AMONG_ALONE)
    tags[:, col["disabled"]] = u[:, 2] < rate("disabled")
    disabled = tags[:, col["disabled"]]
    tags[:, col["hardship"]] = u[:, 3] < given(rate("hardship"), disabled, rate("disabled"), HARDSHIP_AMONG_DISABLED)
    tags[:, col["infant"]] = (size >= 3) & (u[:, 4] < rate("infant") / shares[2:].sum())
    tags[:, col["left_behind_child"]] = (size >= 2) & (u[:, 5] < rate("left_behind_child") / shares[1:].sum())
    tags[:, col["floating"]] = u[:, 6] < rate("floating")
    floating = tags[:, col["floating"]]
    tags[:, col["rented"]] = u[:, 7] < given(rate("rented"), floating, rate("floating"), RENTED_AMONG_FLOATING)
    for i, tag in enumerate(TAGS[8:], start=8):
        tags[:, i] = u[:, i] < rate(tag)
    return tags


def tag_lists(tags: np.ndarray) -> list[list[str]]:
    """Boolean matrix to one list of tag codes per row, in the order of TAGS (most rows have none).

    Rows share few combinations of tags, so each combination is written once and copied per row (a list of its
    own, so that changing one row's tags changes no other)."""
    codes = tags.astype(np.int64) @ (1 << np.arange(tags.shape[1], dtype=np.int64))
    combos, inverse = np.unique(codes, return_inverse=True)
    lists = [[TAGS[i] for i in range(tags.shape[1]) if code >> i & 1] for code in combos.tolist()]
    with _collection_paused():
        return [lists[k].copy() for k in inverse.tolist()]


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause the garbage collector: making a million small lists triggers full collections that free nothing and
    take most of the time (the lists hold only strings, so no cycles are left behind)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def choose_centers(
    rng: np.random.Generator,
    grid: np.ndarray,
    party: np.ndarray,
    per_center: int,
    capacity: int,
    large: int,
    large_share: float,
) -> tuple[np.ndarray, np.ndarray]:
    """党员中心户: about one per ``per_center`` households of a grid, chosen among its party-member households and
    spread through it (evenly along the building order); capacities add up to at least the grid's households."""
    chosen, capacities = [], []
    order = np.argsort(grid, kind="stable")
    bounds = np.searchsorted(grid[order], np.arange(grid.max() + 2))
    for g in range(grid.max() + 1):
        members = order[bounds[g] : bounds[g + 1]]
        total = len(members)
        pool = members[party[members]]
        n = min(max(round(total / per_center), 1), len(pool))
        if n == 0:
            continue
        picks = pool[((np.arange(n) + 0.5) * len(pool) / n).astype(int)]
        cap = np.where(rng.random(n) < large_share, large, capacity)
        short = total - cap.sum()
        for i in np.flatnonzero(cap == capacity)[: max(0, int(np.ceil(short / (large - capacity))))]:
            cap[i] = large
        chosen.append(picks)
        capacities.append(cap)
    return np.concatenate(chosen), np.concatenate(capacities)


def assign_workers(rng: np.random.Generator, community: np.ndarray, share_two: float) -> list[list[int]]:
    """One grid worker per grid; now and then one worker covers two neighbouring grids of the same community."""
    workers: list[list[int]] = []
    g = 0
    while g < len(community):
        pair = g + 1 < len(community) and community[g + 1] == community[g] and rng.random() < share_two
        workers.append([g, g + 1] if pair else [g])
        g += 2 if pair else 1
    return workers
