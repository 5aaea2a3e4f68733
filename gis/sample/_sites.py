"""What stands on each parcel, collected as arrays: buildings, compounds, gates and service points. Housing
(compounds and villages) is built in gis/sample/_housing.py; schools, parks and public buildings here.
Coordinates are local metres; buildings are axis-aligned boxes.
"""

from dataclasses import dataclass

import numpy as np

from gis.sample._layout import EAST, NORTH, SOUTH, WEST, Parcel
from gis.sample._names import Names
from gis.sample._network import Network

FENCE_SETBACK = 3.0  # red line to compound fence (围墙), metres
SIDE_WEIGHT = {"primary": 3.0, "secondary": 2.0, "tertiary": 1.5}  # main gates face the bigger roads
PUBLIC_KINDS = {  # OSM building=* value: (name ending, floors range, chance)
    "office": ("大厦", (6, 24), 0.3),
    "retail": ("商场", (2, 5), 0.25),
    "commercial": ("商业楼", (2, 6), 0.2),
    "hotel": ("酒店", (5, 16), 0.08),
    "government": ("综合办公楼", (3, 8), 0.07),
    "industrial": ("厂房", (1, 3), 0.07),
    "hospital": ("医院", (4, 12), 0.03),
}
HOURS = {
    "party_center": "08:30-17:30",
    "red_post": "08:00-20:00",
    "clinic": "08:00-17:00",
    "elderly_care": "08:00-18:00",
    "kindergarten": "07:30-17:30",
    "school": "07:30-17:30",
    "market": "06:00-20:00",
    "police": "00:00-24:00",
    "sports": "06:00-22:00",
}


class Columns:
    """Rows collected as column chunks (scalars broadcast), concatenated once at the end."""

    def __init__(self, *names: str) -> None:
        self.names = names
        self._chunks: dict[str, list[np.ndarray]] = {n: [] for n in names}
        self.count = 0

    def add(self, **values) -> np.ndarray:
        n = max((len(v) for v in values.values() if np.ndim(v) > 0), default=1)
        for name in self.names:
            value = values[name]
            if np.ndim(value) == 0:
                array = np.full(n, value, dtype=object if value is None or isinstance(value, str) else None)
            else:
                array = np.asarray(value)
            if array.dtype.kind in "USO":
                array = array.astype(object)
            self._chunks[name].append(array)
        self.count += n
        return np.arange(self.count - n, self.count)

    def get(self) -> dict[str, np.ndarray]:
        return {n: np.concatenate(c) if c else np.array([]) for n, c in self._chunks.items()}


@dataclass
class Gate:
    """A compound gate (大门) on the fence; ``inward`` points into the compound."""

    x: float
    y: float
    inward: tuple[float, float]
    compound: int
    superblock: int
    fence: tuple[float, float, float, float]
    slots: int = 0  # service points already placed at this gate

    def point(self) -> tuple[float, float]:
        """Where the next service point at this gate goes: 8 m inside, then side by side along the fence."""
        offset = 10.0 * ((self.slots + 1) // 2) * (1 if self.slots % 2 else -1)
        self.slots += 1
        dx, dy = self.inward
        x, y = self.x + 8 * dx - offset * dy, self.y + 8 * dy + offset * dx
        x0, y0, x1, y1 = self.fence
        return float(np.clip(x, x0 + 2, x1 - 2)), float(np.clip(y, y0 + 2, y1 - 2))


class Sites:
    """Collects buildings, compounds, gates and service points while the parcels are built."""

    def __init__(self, net: Network, names: Names, rng: np.random.Generator) -> None:
        self.net, self.names, self.rng = net, names, rng
        self.buildings = Columns(
            "x0",
            "y0",
            "x1",
            "y1",
            "kind",
            "name",
            "floors",
            "households",
            "units",
            "per_floor",
            "compound",
            "superblock",
            "lowrise",
        )
        self.compounds = Columns("x0", "y0", "x1", "y1", "name", "superblock")
        self.services = Columns("type", "level", "name", "hours", "x", "y", "superblock")
        self.gates: list[Gate] = []
        self.frontages = Columns("x", "y", "along_x", "superblock")  # spots on arterial frontages (临街)
        self.parks = Columns("x", "y", "name", "superblock")

    def service(
        self, kind: str, level: str, name: str, x: float, y: float, superblock: int, hours: str | None = None
    ) -> None:
        hours = hours or HOURS[kind]
        self.services.add(type=kind, level=level, name=name, hours=hours, x=x, y=y, superblock=superblock)

    def frontage(self, parcel: Parcel) -> None:
        """Record the middle of each side of a parcel that faces an arterial (临街), for street-level services."""
        x0, y0, x1, y1 = parcel.red
        for side, (fx, fy) in zip(
            (SOUTH, NORTH, WEST, EAST),
            (((x0 + x1) / 2, y0 + 2), ((x0 + x1) / 2, y1 - 2), (x0 + 2, (y0 + y1) / 2), (x1 - 2, (y0 + y1) / 2)),
            strict=True,
        ):
            if parcel.side_class[side] != "tertiary":
                self.frontages.add(x=fx, y=fy, along_x=side in (SOUTH, NORTH), superblock=parcel.superblock)

    # --- school, park and public parcels -------------------------------------------------------------------
    def school(self, p: Parcel) -> bool:
        """Teaching blocks in the north, a sports ground in the south, one gate on the biggest road."""
        x0, y0, x1, y1 = (
            v + d for v, d in zip(p.red, (FENCE_SETBACK, FENCE_SETBACK, -FENCE_SETBACK, -FENCE_SETBACK), strict=True)
        )
        middle = self.rng.random() < 0.3
        name = self.names.places.take() + ("中学" if middle else "小学")
        length, depth = min(70.0, x1 - x0 - 30), 16.0
        n_rows = 2 if y1 - y0 > 160 else 1
        bys = y1 - 12 - depth - 32.0 * np.arange(n_rows)
        self.buildings.add(
            x0=x0 + 15,
            y0=bys,
            x1=x0 + 15 + length,
            y1=bys + depth,
            kind="school",
            name=[f"{name}{i + 1}号教学楼" for i in range(n_rows)],
            floors=self.rng.integers(4, 6, n_rows),
            households=0,
            units=1,
            per_floor=0,
            compound=-1,
            superblock=p.superblock,
            lowrise=False,
        )
        side = int(np.argmax([SIDE_WEIGHT[c] + 0.1 * i for i, c in enumerate(p.side_class)]))
        gx, gy = {
            SOUTH: ((x0 + x1) / 2, y0 + 6),
            NORTH: ((x0 + x1) / 2, y1 - 6),
            WEST: (x0 + 6, (y0 + y1) / 2),
            EAST: (x1 - 6, (y0 + y1) / 2),
        }[side]
        self.service("school", "street" if middle else "community", name, gx, gy, p.superblock)
        return True

    def park(self, p: Parcel) -> bool:
        """A park (公园) crossed by two footpaths from road to road, with a fitness square at the crossing."""
        x0, y0, x1, y1 = p.red
        xm, ym = round((x0 + x1) / 2, 2), round((y0 + y1) / 2, 2)
        name = self.names.places.take() + "公园"
        self.net.add(False, xm, p.side_coordinate(SOUTH), p.side_coordinate(NORTH), "footway", positions=[ym])
        self.net.add(True, ym, p.side_coordinate(WEST), p.side_coordinate(EAST), "footway", positions=[xm])
        self.net.attach([p.sides[SOUTH], p.sides[NORTH], p.sides[WEST], p.sides[EAST]], [xm, xm, ym, ym])
        self.parks.add(x=xm + 12, y=ym + 12, name=name, superblock=p.superblock)
        if self.rng.random() < 0.7:
            self.service("sports", "community", f"{name}健身广场", xm + 12, ym + 12, p.superblock)
        return True

    def public(self, p: Parcel) -> bool:
        """Offices, shops, hotels, civic buildings, a market hall or a hospital (no households) in up to four slots."""
        rng = self.rng
        x0, y0, x1, y1 = p.red
        w, h = (x1 - x0 - 30) / 2, (y1 - y0 - 30) / 2
        if w < 20 or h < 15:
            return False
        slots = rng.permutation(4)[: int(rng.integers(1, 5))]
        place = self.names.places.take()
        for k, slot in enumerate(slots):
            kind = str(rng.choice(list(PUBLIC_KINDS), p=[v[2] for v in PUBLIC_KINDS.values()]))
            label, (lo, hi), _ = PUBLIC_KINDS[kind]
            floors = int(rng.integers(lo, hi + 1))
            bw, bh = min(w, rng.uniform(35, 70)), min(h, rng.uniform(20, 40))
            sx, sy = x0 + 10 + (slot % 2) * (w + 10), y0 + 10 + (slot // 2) * (h + 10)
            cx, cy = sx + w / 2, sy + h / 2
            self.buildings.add(
                x0=cx - bw / 2,
                y0=cy - bh / 2,
                x1=cx + bw / 2,
                y1=cy + bh / 2,
                kind=kind,
                name=f"{place}{label}" if k == 0 else f"{place}{label}{k + 1}号楼",
                floors=floors,
                households=0,
                units=1,
                per_floor=0,
                compound=-1,
                superblock=p.superblock,
                lowrise=False,
            )
            door = (cx, cy - bh / 2 + 2)
            if kind == "retail" and rng.random() < 0.6:
                self.service("market", "community", f"{place}菜市场", *door, p.superblock)
            elif kind == "hospital":
                self.service("clinic", "street", f"{place}{label}", *door, p.superblock, hours="00:00-24:00")
            elif kind == "commercial" and rng.random() < 0.4:
                self.service("clinic", "community", f"{place}门诊部", *door, p.superblock)
        if rng.random() < 0.35:
            self.service("red_post", "community", f"{place}红色驿站", x0 + 4, y0 + 4, p.superblock)
        if rng.random() < 0.15:
            self.service("sports", "community", f"{place}文体活动中心", (x0 + x1) / 2, (y0 + y1) / 2, p.superblock)
        return True
