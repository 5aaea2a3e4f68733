"""Walk network of the sample area (步行网络), built from straight axis-aligned lines in the local metric frame.

Every road, lane, alley and path is registered as one straight line plus the positions along it where something
meets it (a crossing, a side road, a gate connector, a door). Splitting every line at its positions and merging
equal coordinates gives the nodes and edges in a few numpy passes, so junctions are exact by construction instead
of being found afterwards by a geometric noding step.
"""

from dataclasses import dataclass

import numpy as np

HIGHWAYS = ("primary", "secondary", "tertiary", "residential", "living_street", "service", "footway")
KEY_OFFSET = 1 << 24  # coordinates are keyed in centimetres; ±167 km around the origin fits in the key


@dataclass
class Walk:
    """The built network: node coordinates (metres) and edges as node index pairs with their attributes."""

    node_xy: np.ndarray  # (n, 2)
    u: np.ndarray
    v: np.ndarray
    highway: np.ndarray  # object array of HIGHWAYS values
    name: np.ndarray  # object array, None for unnamed lanes


class Network:
    """Registry of lines (horizontal: y fixed; vertical: x fixed) and of the positions where they are split."""

    def __init__(self) -> None:
        self._horizontal: list[np.ndarray] = []
        self._fixed: list[np.ndarray] = []
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self._highway: list[np.ndarray] = []
        self._name: list[np.ndarray] = []
        self._pos_line: list[np.ndarray] = []
        self._pos: list[np.ndarray] = []
        self.count = 0

    def add(self, horizontal: bool, fixed, lo, hi, highway: str, name: str | None = None, positions=()) -> np.ndarray:
        """Add one or more parallel lines (arrays broadcast); returns their ids. ``positions`` apply to all."""
        fixed, lo, hi = np.broadcast_arrays(*(np.atleast_1d(np.asarray(a, dtype=float)) for a in (fixed, lo, hi)))
        n = len(fixed)
        ids = np.arange(self.count, self.count + n)
        self.count += n
        self._horizontal.append(np.full(n, horizontal))
        self._fixed.append(fixed.copy())
        self._lo.append(np.minimum(lo, hi))
        self._hi.append(np.maximum(lo, hi))
        self._highway.append(np.full(n, HIGHWAYS.index(highway), dtype=np.int8))
        self._name.append(np.full(n, name, dtype=object))
        positions = np.asarray(positions, dtype=float)
        if positions.size:
            self.attach(np.repeat(ids, positions.size), np.tile(positions, n))
        return ids

    def attach(self, line_ids, positions) -> None:
        """Split lines at positions (along the line) where another line meets or crosses them."""
        line_ids, positions = np.broadcast_arrays(np.atleast_1d(line_ids), np.atleast_1d(positions))
        self._pos_line.append(line_ids.astype(np.int64))
        self._pos.append(positions.astype(float))

    def lines(self) -> dict[str, np.ndarray]:
        """All registered lines as arrays (used to snap grid boundaries onto roads and lanes)."""
        return {
            "horizontal": np.concatenate(self._horizontal),
            "fixed": np.concatenate(self._fixed),
            "lo": np.concatenate(self._lo),
            "hi": np.concatenate(self._hi),
            "highway": np.concatenate(self._highway),
        }

    def build(self) -> Walk:
        """Split every line at its positions and merge coincident points (to the centimetre) into nodes."""
        lines = self.lines()
        horizontal, fixed, lo, hi = lines["horizontal"], lines["fixed"], lines["lo"], lines["hi"]
        ids = np.arange(self.count)
        pos_line = np.concatenate([*self._pos_line, ids, ids])
        pos = np.round(np.concatenate([*self._pos, lo, hi]), 2)
        outside = (pos < np.round(lo[pos_line], 2)) | (pos > np.round(hi[pos_line], 2))
        if outside.any():
            raise ValueError(f"{int(outside.sum())} split positions lie outside their line")
        order = np.lexsort((pos, pos_line))
        pos_line, pos = pos_line[order], pos[order]
        first = np.ones(len(pos), dtype=bool)
        first[1:] = (pos_line[1:] != pos_line[:-1]) | (pos[1:] != pos[:-1])
        pos_line, pos = pos_line[first], pos[first]

        x = np.where(horizontal[pos_line], pos, fixed[pos_line])
        y = np.where(horizontal[pos_line], fixed[pos_line], pos)
        kx = np.rint(x * 100).astype(np.int64) + KEY_OFFSET
        ky = np.rint(y * 100).astype(np.int64) + KEY_OFFSET
        keys, node = np.unique(kx * (2 * KEY_OFFSET) + ky, return_inverse=True)
        node_xy = np.column_stack([keys // (2 * KEY_OFFSET) - KEY_OFFSET, keys % (2 * KEY_OFFSET) - KEY_OFFSET]) / 100

        same = pos_line[1:] == pos_line[:-1]
        u, v, line = node[:-1][same], node[1:][same], pos_line[1:][same]
        keep = u != v
        u, v, line = u[keep], v[keep], line[keep]
        pair = np.minimum(u, v) * len(keys) + np.maximum(u, v)
        _, first_edge = np.unique(pair, return_index=True)  # a segment registered twice is kept once
        first_edge.sort()
        u, v, line = u[first_edge], v[first_edge], line[first_edge]
        highway = np.asarray(HIGHWAYS, dtype=object)[lines["highway"][line]]
        return Walk(node_xy=node_xy, u=u, v=v, highway=highway, name=np.concatenate(self._name)[line])
