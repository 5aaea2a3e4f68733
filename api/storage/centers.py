"""党员中心户 in the database: what an assignment reads, the stored run, and its pairs read back per grid.

The stored run is replaced whole by each run (api.stored_centers). Nothing here reads or returns names, phones or
tags.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import pandas as pd
from sqlalchemy import Connection, text

from api.errors import CentersUnavailable
from api.storage.coverage import EDGES_SQL, NODES_SQL
from api.storage.filters import optional
from api.storage.frames import copy_in, read_frames

if TYPE_CHECKING:
    from api.stored_centers import CenterRun

HOUSEHOLDS_SQL = """
SELECT h.id, h.grid_id::text AS grid_id, h.building_id::text AS building, h.is_party_member,
       c.household_id IS NOT NULL AS is_center, c.capacity, ST_X(h.geom) AS geom_x, ST_Y(h.geom) AS geom_y
FROM households h
LEFT JOIN center_households c ON c.household_id = h.id
ORDER BY h.id
"""
# each household walks from its building's door (design.md "building access": a point inside the footprint, as
# gis.network.snap.access_points computes it for coverage; the household's own point when it has no building): the
# households of a building share one walk, which the walking pairs and the flow of gis.centers search and solve once.
# Read apart and joined in Python: joined in SQL, the planner recomputed the points per household (1.5 s more).
DOORS_SQL = """
SELECT id::text AS building_id, ST_X(door) AS geom_x, ST_Y(door) AS geom_y
FROM (SELECT id, ST_PointOnSurface(geom) AS door FROM buildings WHERE NOT ST_IsEmpty(geom)) b
"""
PREVIOUS_SQL = """
SELECT household_id, center_id
FROM center_assignments WHERE center_id IS NOT NULL AND status <> 'center'
"""
GRID_LOAD_SQL = """
SELECT g.id AS grid_id, g.code AS grid_code,
       count(h.id) AS households,
       count(c.household_id) AS centers,
       coalesce(sum(c.capacity), 0) AS capacity,
       count(a.household_id) FILTER (WHERE a.status NOT IN ('center', 'uncovered') AND ac.id IS NOT NULL) AS assigned,
       -- a household whose center was deleted since the run counts as uncovered until the next run
       count(a.household_id) FILTER (WHERE a.status = 'uncovered' OR (a.status <> 'center' AND ac.id IS NULL))
           AS uncovered,
       count(h.id) FILTER (WHERE a.household_id IS NULL) AS not_in_run,
       round(coalesce(sum(a.walk_m) FILTER (WHERE a.status <> 'center' AND ac.id IS NOT NULL), 0)::numeric, 1)
           AS walk_m
FROM grids g
LEFT JOIN households h ON h.grid_id = g.id
LEFT JOIN center_households c ON c.household_id = h.id
LEFT JOIN center_assignments a ON a.household_id = h.id
LEFT JOIN households ac ON ac.id = a.center_id
WHERE {grid}
GROUP BY g.id, g.code
ORDER BY g.code
""".format(grid=optional("g.id", "grid_id"))


def read_inputs(conn: Connection) -> list[pd.DataFrame]:
    """Households (with their center flag and capacity), building doors, walk edges and walk nodes, from one
    snapshot (the caller's transaction)."""
    return read_frames(conn, [HOUSEHOLDS_SQL, DOORS_SQL, EDGES_SQL, NODES_SQL])


def read_previous(conn: Connection) -> pd.DataFrame:
    """The stored run's pairs (household, center), the ``previous`` of a stable run."""
    return pd.read_sql(text(PREVIOUS_SQL), conn)


def lock_for_run(conn: Connection) -> None:
    """Taken first in a run's transaction, before its snapshot: a second run waits for this one's commit and then
    reads its pairs as its previous (`store_run`'s TRUNCATE is not MVCC-safe: an older snapshot would read an empty
    table)."""
    conn.execute(text("LOCK TABLE center_assignments IN EXCLUSIVE MODE"))


ASSIGNMENT_COLUMNS = "household_id, center_id, walk_m, status, reason, run_id"
ASSIGNMENT_COLUMNS_DDL = (
    "household_id bigint, center_id bigint, walk_m double precision, status text, reason text, run_id bigint"
)


def store_run(conn: Connection, run: CenterRun) -> int:
    """Replace the stored assignment with `run`'s, in the caller's transaction; returns the run id.

    TRUNCATE, not DELETE (no dead rows for a vacuum that may never come); like the coverage store it locks the two
    tables until commit, so a concurrent reader waits for the new run instead of reading half of it. The rows have
    no foreign keys (migration 0004): they come from the households read in this transaction."""
    conn.execute(text("TRUNCATE center_assignments, center_runs"))
    run_id = conn.scalar(
        text("INSERT INTO center_runs (seconds, counts) VALUES (:s, CAST(:c AS jsonb)) RETURNING id"),
        {"s": run.seconds, "c": json.dumps(run.counts)},
    )
    rows = run.assignment.households[["household_id", "center_id", "walk_m", "status", "reason"]].assign(run_id=run_id)
    buffer = io.StringIO()
    rows.to_csv(buffer, index=False, header=False, na_rep="\\N")
    buffer.seek(0)
    # COPY cannot write a table under row-level security: into a staging table, then one INSERT (checked by it)
    conn.execute(text(f"CREATE TEMP TABLE staging_center_assignments ({ASSIGNMENT_COLUMNS_DDL}) ON COMMIT DROP"))
    copy_in(conn, "COPY staging_center_assignments FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
    conn.execute(text(f"INSERT INTO center_assignments ({ASSIGNMENT_COLUMNS}) TABLE staging_center_assignments"))
    return int(run_id)


def grid_load(conn: Connection, grid_id: int | None = None) -> list[dict]:
    """Per grid: households, centers, capacity, assigned, uncovered and total walk of the stored run."""
    return [dict(row) for row in conn.execute(text(GRID_LOAD_SQL), {"grid_id": grid_id}).mappings()]


def last_run(conn: Connection) -> dict | None:
    row = conn.execute(text("SELECT id, computed_at, seconds, counts FROM center_runs ORDER BY id DESC")).first()
    return None if row is None else dict(row._mapping)


def require_stored_run(conn: Connection) -> None:
    """Refuse to draw or read an assignment that was never stored (a `CentersUnavailable`, 409)."""
    if conn.scalar(text("SELECT count(*) FROM center_runs")) == 0:
        raise CentersUnavailable("no 中心户 assignment is stored yet: POST /centers/assign first")


UNCOVERED_SQL = (
    "SELECT a.household_id, h.grid_id, h.building_id, a.reason FROM center_assignments a "
    "JOIN households h ON h.id = a.household_id "
    f"WHERE a.status = 'uncovered' AND {optional('h.grid_id', 'g')} "
    "ORDER BY h.grid_id, a.household_id LIMIT :limit OFFSET :offset"
)


def uncovered(conn: Connection, grid_id: int | None, *, limit: int, offset: int) -> list[dict]:
    """A page of the households of the stored run that no center household looks after, with the reason."""
    rows = conn.execute(text(UNCOVERED_SQL), {"g": grid_id, "limit": limit, "offset": offset}).mappings()
    return [dict(r) for r in rows]
