"""党员中心户 assignment on the stored layers: read (api.storage.centers), assign (gis.centers.run: exact, stable),
store.

The previous run's pairs are the ``previous`` of the next one, so a household keeps its contact person unless its
pair became impossible (center removed, grid changed, capacity cut) or a chain of moves is needed to make room;
every run reports exactly who moved and why (gis.centers.assign).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from api.errors import CentersUnavailable
from api.settings import Settings, get_settings
from api.storage import SYSTEM, Connection, Engine, transaction
from api.storage import centers as centers_db
from api.storage.audit import record
from gis.centers import Assignment, Suggestions, run


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
    households, doors, edges, nodes = centers_db.read_inputs(conn)
    if not len(households):
        raise CentersUnavailable("no households are stored")
    if not len(edges):
        raise CentersUnavailable("no walk network is stored: import an OSM file or load the sample first")
    previous = centers_db.read_previous(conn) if stable else None
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


def assign_and_store(
    engine: Engine,
    *,
    stable: bool = True,
    settings: Settings | None = None,
    by: tuple[int | None, str] = (None, "(command line)"),
) -> tuple[int, CenterRun]:
    """Run and store in one REPEATABLE READ transaction: the pairs stored match the layers read. The run rewrites
    every household's 中心户, so it is audited (`by`: the user id and login who asked; counts only)."""
    with transaction(engine, scope=SYSTEM, isolation_level="REPEATABLE READ") as conn:
        centers_db.lock_for_run(conn)  # first, before the snapshot
        done = assign_stored(conn, stable=stable, settings=settings)
        run_id = centers_db.store_run(conn, done)
        user_id, login = by
        record(
            conn,
            user_id=user_id,
            login=login,
            action="update",
            object_table="center_assignments",
            object_ids=[],
            detail={"run_id": run_id, **{k: v for k, v in done.counts.items() if isinstance(v, int | float)}},
        )
        return run_id, done
