"""What the worker map's tests share: the sample street with its year of field work, the grid drawn (the one with
the most open hazards and requests), hostile text in a hazard, a request and a building of that grid, and the page's
JSON block read back."""

import json
import re
from dataclasses import dataclass

from sqlalchemy import Engine, text

from api.storage import SYSTEM, transaction

HOSTILE = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
DATA_BLOCK = re.compile(r'<script type="application/json" id="gridmap-worker-data">(.*?)</script>', re.S)

OPEN = {
    "hazards": "state NOT IN ('closed', 'rejected')",
    "requests": "state IN ('submitted', 'dispatched', 'accepted')",
}
GRID_SQL = """
SELECT g.id, g.code FROM grids g
WHERE (SELECT count(*) FROM buildings b WHERE b.grid_id = g.id) >= 5
ORDER BY (SELECT count(*) FROM hazards z WHERE z.grid_id = g.id AND z.state NOT IN ('closed', 'rejected')) DESC,
         (SELECT count(*) FROM requests r WHERE r.grid_id = g.id AND r.state IN ('submitted', 'dispatched', 'accepted'))
         DESC, g.id
LIMIT 1
"""


@dataclass(frozen=True)
class World:
    grid_id: int
    grid_code: str
    other_grid_code: str
    buildings: int
    open_hazards: int
    open_requests: int
    hostile_building: int


def hostile_world(engine: Engine) -> World:
    """Pick the grid and plant `HOSTILE` in one of its open hazards, open requests and buildings (an open case is
    made if the grid has none)."""
    with transaction(engine, scope=SYSTEM) as conn:
        grid_id, code = conn.execute(text(GRID_SQL)).one()
        other = conn.scalar(text("SELECT code FROM grids WHERE id <> :g ORDER BY id LIMIT 1"), {"g": grid_id})
        building = conn.scalar(text("SELECT min(id) FROM buildings WHERE grid_id = :g"), {"g": grid_id})
        conn.execute(text("UPDATE buildings SET name = :t WHERE id = :b"), {"t": HOSTILE, "b": building})
        for table, open_states in OPEN.items():
            case = conn.scalar(
                text(f"SELECT min(id) FROM {table} WHERE grid_id = :g AND {open_states}"), {"g": grid_id}
            )
            assert case is not None, f"the sample's grid {code} has no open {table}"
            conn.execute(text(f"UPDATE {table} SET description = :t WHERE id = :c"), {"t": HOSTILE, "c": case})
        counts = {
            f"open_{table}": conn.scalar(
                text(f"SELECT count(*) FROM {table} WHERE grid_id = :g AND {cond}"), {"g": grid_id}
            )
            for table, cond in OPEN.items()
        }
        counts["buildings"] = conn.scalar(text("SELECT count(*) FROM buildings WHERE grid_id = :g"), {"g": grid_id})
    return World(grid_id, code, other, hostile_building=building, **counts)


def page_data(html: str) -> dict:
    """The worker map's JSON block."""
    found = DATA_BLOCK.search(html)
    assert found, "no data block in the page"
    return json.loads(found.group(1))


def count_visits(engine: Engine, client_id: str) -> int:
    with transaction(engine, scope=SYSTEM) as conn:
        return int(conn.scalar(text("SELECT count(*) FROM visits WHERE client_id = :c"), {"c": client_id}))
