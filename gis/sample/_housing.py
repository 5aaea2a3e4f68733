"""Housing of the sample area: gated compounds (小区) of south-facing apartment slabs, and old low-rise villages
(城中村 / 平房区) of small houses on a fine alley grid. Coordinates are local metres.

Per parcel the work is a handful of numpy calls (rows of buildings are generated as arrays), so a district of
~100k buildings takes seconds. Apartment rows run east–west (south-facing, 坐北朝南) with the unit doors (单元门)
on the north side, where the lanes are; a compound's lanes reach the roads only through its 1–3 gates.
"""

import numpy as np

from gis.sample._layout import EAST, NORTH, SOUTH, WEST, Parcel
from gis.sample._sites import FENCE_SETBACK, SIDE_WEIGHT, Gate, Sites


def build_parcel(sites: Sites, parcel: Parcel) -> None:
    """Build a parcel according to its land use; a parcel too small for its use becomes a park."""
    sites.frontage(parcel)
    built = {
        "compound": lambda p: build_compound(sites, p),
        "village": lambda p: build_village(sites, p),
        "school": sites.school,
        "park": sites.park,
    }
    if not built.get(parcel.use, sites.public)(parcel):
        parcel.use = "park"
        sites.park(parcel)


def build_compound(sites: Sites, p: Parcel) -> bool:
    """Rows of south-facing slabs on aligned columns, a lane north of each row, spines along the fence,
    and 1–3 gates: the only links of the internal lanes to the roads around."""
    rng, net = sites.rng, sites.net
    rx0, ry0, rx1, ry1 = p.red
    fx0, fy0, fx1, fy1 = rx0 + FENCE_SETBACK, ry0 + FENCE_SETBACK, rx1 - FENCE_SETBACK, ry1 - FENCE_SETBACK
    style = p.style
    if style == "walkup":  # 6-storey walk-ups (多层), 2–4 units, 2 flats per unit per floor
        floors_lo, floors_hi, units, per_floor = 6, 6, int(rng.integers(2, 5)), 2
        unit_w, depth, col_gap = rng.uniform(12, 14), rng.uniform(10, 12), rng.uniform(10, 14)
        gap = rng.uniform(26, 32)  # sunlight spacing ≈ 1.6 × 18 m
    elif style == "slab":  # 11–18-storey slabs (小高层板楼), 1–2 units of 2 flats per floor
        floors_lo, floors_hi, units, per_floor = 11, 18, int(rng.integers(1, 3)), 2
        unit_w, depth, col_gap = rng.uniform(15, 17), rng.uniform(12, 14), rng.uniform(13, 18)
        gap = rng.uniform(34, 45)
    else:  # 19–33-storey point towers (高层塔楼), 2–4 flats per floor
        floors_lo, floors_hi, units, per_floor = 19, 33, 1, int(rng.integers(2, 5))
        unit_w, depth, col_gap = 10.0 * per_floor + rng.uniform(0, 4), rng.uniform(16, 20), rng.uniform(15, 20)
        gap = rng.uniform(40, 55)
    length = units * unit_w
    bx0, bx1, by0, by1 = fx0 + 10, fx1 - 10, fy0 + 10, fy1 - 12
    n_cols = int((bx1 - bx0 + col_gap) // (length + col_gap))
    n_rows = int((by1 - by0 - depth) // (depth + gap)) + 1 if by1 - by0 >= depth else 0
    if n_cols < 1 or n_rows < 1:
        return False
    step_x = length + col_gap + (bx1 - bx0 - n_cols * length - (n_cols - 1) * col_gap) / max(n_cols - 1, 1)
    step_x = step_x if n_cols > 1 else 0.0
    col_x = bx0 + (0.0 if n_cols > 1 else (bx1 - bx0 - length) / 2) + step_x * np.arange(n_cols)
    pitch = min((by1 - by0 - depth) / max(n_rows - 1, 1), 1.3 * (depth + gap)) if n_rows > 1 else 0.0
    row_y = by0 + (by1 - by0 - depth - pitch * (n_rows - 1)) / 2 + pitch * np.arange(n_rows)
    row_top = row_y + depth
    lane_y = np.round(np.minimum(row_top + 6.0, fy1 - 4.0), 2)

    name = sites.names.compounds.take()
    compound = int(sites.compounds.add(x0=fx0, y0=fy0, x1=fx1, y1=fy1, name=name, superblock=p.superblock)[0])
    rows, cols = np.divmod(np.arange(n_rows * n_cols), n_cols)
    floors = rng.integers(floors_lo, floors_hi + 1, len(rows))
    kind = np.full(len(rows), "apartments", dtype=object)
    per = np.full(len(rows), per_floor)
    n_units = np.full(len(rows), units)
    households = floors * n_units * per
    if households.sum() >= 600 and n_rows >= 2 and n_cols >= 2:  # 配套幼儿园 in the south-east slot
        k = n_cols - 1
        kind[k], floors[k], per[k], n_units[k], households[k] = "kindergarten", 3, 0, 1, 0
    labels = [f"{name}{i + 1}号楼" for i in range(len(rows))]
    labels = [f"{name}幼儿园" if k == "kindergarten" else s for k, s in zip(kind, labels, strict=True)]
    bxs, bys = col_x[cols], row_y[rows]
    sites.buildings.add(
        x0=bxs,
        y0=bys,
        x1=bxs + length,
        y1=bys + depth,
        kind=kind,
        name=labels,
        floors=floors,
        households=households,
        units=n_units,
        per_floor=per,
        compound=compound,
        superblock=p.superblock,
        lowrise=False,
    )
    for kg in np.flatnonzero(kind == "kindergarten"):
        sites.service(
            "kindergarten", "community", f"{name}幼儿园", bxs[kg] + length / 2, bys[kg] + depth / 2, p.superblock
        )

    # Lanes: one east–west lane north of each row between the two spines along the west and east fence,
    # a middle spine in a column gap when the compound is wide; unit doors connect north to their lane.
    spines = [fx0 + 5.0, fx1 - 5.0]
    if n_cols >= 4:
        c = n_cols // 2 - 1
        spines.append(round(col_x[c] + length + (step_x - length) / 2, 2))
    spine_x = np.round(spines, 2)
    spine_lo, spine_hi = round(fy0 + 4.0, 2), round(fy1 - 4.0, 2)
    net.add(False, spine_x, spine_lo, spine_hi, "service", positions=lane_y)
    lanes = net.add(True, lane_y, spine_x[0], spine_x[1], "service", positions=spine_x[2:])
    door_unit = np.arange(units)
    door_x = np.round((bxs[:, None] + (door_unit + 0.5) * unit_w).ravel(), 2)
    door_row = np.repeat(rows, units)
    net.attach(lanes[door_row], door_x)
    for r in range(n_rows):
        net.add(False, door_x[door_row == r], row_top[r], lane_y[r], "footway")

    # Gates: 1–3 sides, weighted towards the bigger roads; a connector from the road centreline through the
    # gate (a node on the fence) to the end of a spine or lane.
    weights = np.array([SIDE_WEIGHT[c] for c in p.side_class])
    n_gates = int(rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
    sides = rng.choice(4, n_gates, replace=False, p=weights / weights.sum())
    gates = []
    for g, side in enumerate(sides):
        highway = "service" if g == 0 else "footway"
        road, line = p.side_coordinate(side), p.sides[side]
        if side in (SOUTH, NORTH):
            x = float(rng.choice(spine_x))
            fence_y, end = (fy0, spine_lo) if side == SOUTH else (fy1, spine_hi)
            net.add(False, x, road, end, highway, positions=[fence_y])
            net.attach(line, x)
            gates.append(
                Gate(x, fence_y, (0.0, 1.0 if side == SOUTH else -1.0), compound, p.superblock, (fx0, fy0, fx1, fy1))
            )
        else:
            y = float(rng.choice(lane_y))
            fence_x, end = (fx0, spine_x[0]) if side == WEST else (fx1, spine_x[1])
            net.add(True, y, road, end, highway, positions=[fence_x])
            net.attach(line, y)
            gates.append(
                Gate(fence_x, y, (1.0 if side == WEST else -1.0, 0.0), compound, p.superblock, (fx0, fy0, fx1, fy1))
            )
    sites.gates.extend(gates)

    main, total = gates[0], int(households.sum())
    if n_rows >= 2 and rng.random() < 0.7:  # 健身广场 between the two southern rows
        sites.service(
            "sports", "compound", f"{name}健身广场", (fx0 + fx1) / 2, (row_top[0] + row_y[1]) / 2, p.superblock
        )
    for kind_, suffix, level, chance, needs in [
        ("elderly_care", "养老服务驿站", "compound", 0.45, 400),
        ("police", "警务室", "compound", 0.2, 0),
        ("clinic", "卫生室", "compound", 0.15, 0),
        ("red_post", "红色驿站", "compound", 0.2, 0),
    ]:
        if total >= needs and rng.random() < chance:
            sites.service(kind_, level, f"{name}{suffix}", *main.point(), p.superblock)
    if rng.random() < 0.45:  # 便民超市 just outside the main gate
        dx, dy = main.inward
        sites.service(
            "market",
            "compound",
            f"{name}便民超市",
            main.x - 1.5 * dx + 8 * dy,
            main.y - 1.5 * dy + 8 * dx,
            p.superblock,
        )
    return True


def build_village(sites: Sites, p: Parcel) -> bool:
    """Back-to-back rows of small 1–4-storey houses on east–west alleys (巷), crossed by north–south lanes;
    alleys and lanes run out to the surrounding roads (no gates). Each house door has a short path to its alley."""
    rng, net = sites.rng, sites.net
    x0, y0, x1, y1 = p.red
    name = sites.names.villages.take()
    depth, alley = rng.uniform(9, 12), rng.uniform(3, 4.5)
    pitch = 2 * depth + alley + 1.0
    n_bands = int((y1 - y0 - 2) // pitch)
    if n_bands < 1:
        return False
    band_y = y0 + 1 + pitch * np.arange(n_bands)
    alley_y = np.round(band_y + depth + alley / 2, 2)
    n_lanes = max(0, round((x1 - x0) / rng.uniform(60, 90)) - 1)
    lane_x = np.round(x0 + (x1 - x0) * np.arange(1, n_lanes + 1) / (n_lanes + 1), 2)
    block_lo = np.concatenate([[x0 + 1.0], lane_x + 3.0])
    block_hi = np.concatenate([lane_x - 3.0, [x1 - 1.0]])

    # Rows: per band a lower row (doors north) and an upper row (doors south), per block between lanes.
    band = np.repeat(np.arange(n_bands), 2 * len(block_lo))
    upper = np.tile(np.repeat([False, True], len(block_lo)), n_bands)
    block = np.tile(np.arange(len(block_lo)), 2 * n_bands)
    seg_row, seg_lo, seg_hi = split_lengths(rng, block_lo[block], block_hi[block], 6.5, 11.5)
    n = len(seg_row)
    yard = rng.uniform(0.0, 2.0, n)
    row_y0 = band_y[band[seg_row]] + np.where(upper[seg_row], depth + alley, 0.0)
    by0 = row_y0 + np.where(upper[seg_row], yard, 0.5)
    by1 = row_y0 + depth - np.where(upper[seg_row], 0.5, yard)
    floors = rng.choice([1, 2, 3, 4], n, p=[0.4, 0.3, 0.18, 0.12])
    households = np.clip(floors - (rng.random(n) < 0.6), 1, 4)  # 1–4 households, ~1.7 on average
    door_x = np.round((seg_lo + seg_hi) / 2, 2)
    alley_of = band[seg_row]
    order = np.lexsort((door_x, alley_of))
    number = np.empty(n, dtype=int)
    number[order] = np.arange(n) - np.searchsorted(alley_of[order], alley_of[order])
    labels = [f"{name}{a + 1}巷{k + 1}号" for a, k in zip(alley_of, number, strict=True)]
    sites.buildings.add(
        x0=seg_lo + 0.5,
        y0=by0,
        x1=seg_hi - 0.5,
        y1=by1,
        kind="house",
        name=labels,
        floors=floors,
        households=households,
        units=1,
        per_floor=-(-households // floors),
        compound=-1,
        superblock=p.superblock,
        lowrise=True,
    )

    door_y = np.where(upper[seg_row], by0, by1)  # door on the alley side of the house
    net.add(False, door_x, door_y, alley_y[alley_of], "footway")
    west, east = p.side_coordinate(WEST), p.side_coordinate(EAST)
    for a in range(n_bands):
        line = net.add(True, alley_y[a], west, east, "living_street", f"{name}{a + 1}巷", positions=lane_x)
        net.attach(line, door_x[alley_of == a])
    net.attach([p.sides[WEST]] * n_bands + [p.sides[EAST]] * n_bands, np.concatenate([alley_y, alley_y]))
    south, north = p.side_coordinate(SOUTH), p.side_coordinate(NORTH)
    for k, x in enumerate(lane_x):
        net.add(False, x, south, north, "residential", f"{name}{k + 1}条", positions=alley_y)
        net.attach([p.sides[SOUTH], p.sides[NORTH]], [x, x])

    spots_x = lane_x + 3.5 if len(lane_x) else np.array([x0 + 2.0])
    for kind, suffix, chance in [
        ("market", "菜市场", 0.6),
        ("clinic", "诊所", 0.5),
        ("police", "警务室", 0.4),
        ("red_post", "红色驿站", 0.3),
        ("elderly_care", "老年活动站", 0.2),
    ]:
        if rng.random() < chance:
            x = float(rng.choice(spots_x))
            y = float(rng.choice(alley_y)) + 3.0
            level = "community" if kind == "market" else "compound"
            sites.service(kind, level, f"{name}{suffix}", x, y, p.superblock)
    return True


def split_lengths(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray, short: float, long: float):
    """Cut each interval [lo, hi] into consecutive pieces of random length in about [short, long].

    Returns (interval index, piece start, piece end) arrays; a remainder shorter than ``short / 2`` is merged into
    the piece before it, so the pieces tile each interval exactly.
    """
    lengths = hi - lo
    most = int(np.ceil(lengths.max() / short)) + 1 if len(lengths) else 0
    ends = np.cumsum(rng.uniform(short, long, (len(lengths), most)), axis=1)
    ends = np.minimum(ends, lengths[:, None])
    starts = np.concatenate([np.zeros((len(lengths), 1)), ends[:, :-1]], axis=1)
    keep = (ends - starts) > 0
    short_tail = keep & (ends >= lengths[:, None]) & (ends - starts < short / 2) & (starts > 0)
    row_of = np.repeat(np.arange(len(lengths)), most).reshape(len(lengths), most)
    # Merge a short last piece into the previous one: drop it and stretch the previous piece to the end.
    rows, cols = np.nonzero(short_tail)
    ends[rows, cols - 1] = ends[rows, cols]
    keep &= ~short_tail
    row, start, end = row_of[keep], starts[keep], ends[keep]
    return row, lo[row] + start, lo[row] + end
