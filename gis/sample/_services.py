"""Street- and community-level service points (服务阵地) of the sample area, placed once communities are known.

Each community gets its 党群服务中心, 社区卫生服务站, 养老服务驿站 and 警务室 at the compound gates nearest its
centre (where such rooms usually are, on the ground floor by the main gate) and a 红色驿站 on an arterial frontage;
each street gets its 党群服务中心, 社区卫生服务中心 and 养老照料中心 on the arterial frontages nearest its centre
and a 全民健身中心 in its most central park.
"""

import numpy as np

from gis.sample._admin import Admin
from gis.sample._layout import Layout
from gis.sample._sites import Sites

COMMUNITY_AT_GATES = [
    ("party_center", "党群服务中心"),
    ("clinic", "卫生服务站"),  # 〈name〉社区 + 卫生服务站 = 社区卫生服务站
    ("elderly_care", "养老服务驿站"),
    ("police", "警务室"),
]
STREET_AT_FRONTAGES = [
    ("party_center", "党群服务中心"),
    ("clinic", "社区卫生服务中心"),
    ("elderly_care", "养老照料中心"),
]


def place_admin_services(sites: Sites, admin: Admin, layout: Layout, rng: np.random.Generator) -> None:
    """Add the community- and street-level service points to ``sites.services``."""
    nx = layout.shape[1]
    gate_block = np.array([g.superblock for g in sites.gates], dtype=int)
    gate_xy = np.array([(g.x, g.y) for g in sites.gates]).reshape(-1, 2)
    front = sites.frontages.get()
    front_block = front["superblock"].astype(int)
    front_xy = np.column_stack([front["x"].astype(float), front["y"].astype(float)])
    parks = sites.parks.get()
    park_block = parks["superblock"].astype(int) if len(parks["x"]) else np.array([], dtype=int)
    used_fronts: dict[int, int] = {}

    def blocks(cells: tuple[int, ...]) -> np.ndarray:
        j0, j1, i0, i1 = cells
        jj, ii = np.meshgrid(np.arange(j0, j1), np.arange(i0, i1), indexing="ij")
        return (jj * nx + ii).ravel()

    def nearest(xy: np.ndarray, members: np.ndarray, centre: np.ndarray) -> np.ndarray:
        found = np.flatnonzero(members)
        return found[np.argsort(np.hypot(*(xy[found] - centre).T), kind="stable")]

    def at_frontage(k: int) -> tuple[float, float]:
        """Next free spot along frontage k: 12 m apart along the road."""
        n = used_fronts.get(k, 0)
        used_fronts[k] = n + 1
        offset = 12.0 * ((n + 1) // 2) * (1 if n % 2 else -1)
        x, y = front_xy[k]
        return (x + offset, y) if front["along_x"][k] else (x, y + offset)

    for c, cells in enumerate(admin.communities):
        x0, y0, x1, y1 = admin.rect(cells, layout)
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        inside = blocks(cells)
        name = admin.community_names[c]
        gates = nearest(gate_xy, np.isin(gate_block, inside), centre)
        fronts = nearest(front_xy, np.isin(front_block, inside), centre)
        for k, (kind, suffix) in enumerate(COMMUNITY_AT_GATES):
            if len(gates):
                gate = sites.gates[gates[min(k, len(gates) - 1)]]
                (x, y), block = gate.point(), gate.superblock
            else:
                f = fronts[k % len(fronts)]
                x, y, block = *at_frontage(f), front_block[f]
            sites.service(kind, "community", f"{name}{suffix}", x, y, int(block))
        f = fronts[int(rng.integers(0, min(3, len(fronts))))]
        sites.service("red_post", "community", f"{name}红色驿站", *at_frontage(f), int(front_block[f]))

    for s, cells in enumerate(admin.streets):
        x0, y0, x1, y1 = admin.rect(cells, layout)
        centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
        inside = blocks(cells)
        name = admin.street_names[s]
        fronts = nearest(front_xy, np.isin(front_block, inside), centre)
        for k, (kind, suffix) in enumerate(STREET_AT_FRONTAGES):
            f = fronts[k % len(fronts)]
            sites.service(kind, "street", f"{name}{suffix}", *at_frontage(f), int(front_block[f]))
        park_xy = np.column_stack([parks["x"].astype(float), parks["y"].astype(float)]) if len(park_block) else None
        in_parks = nearest(park_xy, np.isin(park_block, inside), centre) if park_xy is not None else np.zeros(0, int)
        if park_xy is not None and len(in_parks):
            p = in_parks[0]
            sites.service(
                "sports", "street", f"{name}全民健身中心", park_xy[p, 0] - 20, park_xy[p, 1] - 20, int(park_block[p])
            )
        else:
            f = fronts[3 % len(fronts)]
            sites.service("sports", "street", f"{name}全民健身中心", *at_frontage(f), int(front_block[f]))
