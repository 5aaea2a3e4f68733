"""党员中心户 assignment on the stored layers: load, assign (exact, stable), store, and read back per grid.

The previous run's pairs are the ``previous`` of the next one, so a household keeps its contact person unless its
pair became impossible (center removed, grid changed, capacity cut) or a chain of moves is needed to make room;
every run reports exactly who moved and why (gis.centers.assign). Nothing here reads or returns names, phones or tags.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Engine, text

from api.coverage_store import EDGES_SQL, NODES_SQL, read_frames
from api.errors import CentersUnavailable
from api.settings import Settings, get_settings
from gis.centers import Assignment, Suggestions, run

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
WHERE CAST(:grid_id AS bigint) IS NULL OR g.id = :grid_id
GROUP BY g.id, g.code
ORDER BY g.code
"""


@dataclass(eq=False)
class CenterRun:
    """One assignment run: the result tables, suggested new centers, and the figures stored with it."""

    assignment: Assignment
    suggestions: Suggestions | None
    counts: dict
    seconds: float


def assign_stored(
    conn: Connection, *, stable: bool = True, suggest: bool = True, settings: Settings | None = None
) -> CenterRun:
    """Assign every stored household (in the caller's transaction, one snapshot) and suggest new centers: the
    pipeline of `gis.centers.run`, snapping capped by the settings' ``max_snap_m``."""
    start = time.perf_counter()
    settings = settings or get_settings()
    households, doors, edges, nodes = read_frames(conn, [HOUSEHOLDS_SQL, DOORS_SQL, EDGES_SQL, NODES_SQL])
    if not len(households):
        raise CentersUnavailable("no households are stored")
    if not len(edges):
        raise CentersUnavailable("no walk network is stored: import an OSM file or load the sample first")
    previous = pd.read_sql(text(PREVIOUS_SQL), conn) if stable else None
    if previous is not None and not len(previous):
        previous = None
    done = run(
        households, nodes, edges, doors=doors, previous=previous, max_snap_m=settings.max_snap_m, suggest=suggest
    )
    result, suggestions = done.assignment, done.suggestions
    rows = result.households
    counts = {
        "households": len(rows),
        "centers": int((rows["status"] == "center").sum()),
        "assigned": int(rows["status"].isin(["assigned", "kept", "moved", "new"]).sum()),
        "uncovered": int((rows["status"] == "uncovered").sum()),
        "moved": len(result.moves) if previous is not None else 0,
        "total_walk_m": round(result.total_walk_m, 1),
        "suggested_centers": 0 if suggestions is None else len(suggestions.centers),
    }
    return CenterRun(result, suggestions, counts, time.perf_counter() - start)


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
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.copy_expert(
        "COPY center_assignments (household_id, center_id, walk_m, status, reason, run_id) "
        "FROM STDIN WITH (FORMAT csv, NULL '\\N')",
        buffer,
    )
    return int(run_id)


def assign_and_store(engine: Engine, *, stable: bool = True, settings: Settings | None = None) -> tuple[int, CenterRun]:
    """Run and store in one REPEATABLE READ transaction: the pairs stored match the layers read."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # first, before the snapshot: a second run waits for this one's commit and then reads its pairs as its
            # previous (store_run's TRUNCATE is not MVCC-safe: an older snapshot would read an empty table)
            conn.execute(text("LOCK TABLE center_assignments IN EXCLUSIVE MODE"))
            done = assign_stored(conn, stable=stable, settings=settings)
            return store_run(conn, done), done


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
