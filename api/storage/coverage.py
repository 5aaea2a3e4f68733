"""Walking coverage in the database: the inputs it is computed from, the stored run and its rows.

The stored table (``building_coverage``) keeps only walking metres and the nearest point; profiles and levels are
thresholds applied at query time. A run records the input version (``layer_versions`` counters of the walk
network, buildings and service points, see migration 0002) and the options, so a refresh (api.coverage_state)
recomputes only when one of them changed. At district scale (100k buildings, 930k rows) reading goes through COPY
(`read_frames`) and storing through a binary COPY into the truncated table whose indexes are rebuilt after
(`store_state`).
"""

from __future__ import annotations

import io
import json
import time
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
from sqlalchemy import Connection, text

from api.settings import Settings
from api.storage.frames import copy_in, read_frames

if TYPE_CHECKING:
    from api.coverage_state import CoverageState

# Layers whose change changes walking distances; the others in layer_versions only change weights and groups.
INPUT_LAYERS = ("walk_nodes", "walk_edges", "buildings", "service_points")
# Layers the in-memory coverage is read from (its weights and groups too); other counters (compounds, center
# households: migration 0005) are for the map pages and do not make it stale.
COVERAGE_STATE_LAYERS = (*INPUT_LAYERS, "households", "grids", "communities")

BUILDINGS_SQL = """
SELECT b.id::text AS source_id, b.id AS building_id, b.name, b.grid_id, g.code AS grid_code,
       g.community_id, m.code AS community_code, m.name AS community_name,
       coalesce(b.households, p.households, 0) AS households, coalesce(p.residents, 0) AS residents,
       b.geom AS geometry
FROM buildings b
LEFT JOIN grids g ON g.id = b.grid_id
LEFT JOIN communities m ON m.id = g.community_id
LEFT JOIN (SELECT building_id, count(*) AS households, sum(size) AS residents FROM households GROUP BY building_id) p
       ON p.building_id = b.id
"""
SERVICES_SQL = "SELECT id::text AS source_id, id, type, name, level, geom AS geometry FROM service_points ORDER BY id"
NODES_SQL = "SELECT id::text AS source_id, ST_X(geom) AS geom_x, ST_Y(geom) AS geom_y FROM walk_nodes ORDER BY id"
EDGES_SQL = """
SELECT id::text AS source_id, source_node::text AS u_ref, target_node::text AS v_ref, length_m, geom AS geometry
FROM walk_edges ORDER BY id
"""


def layer_versions(conn: Connection) -> dict[str, int]:
    """The counters of the layers the coverage is read from (`COVERAGE_STATE_LAYERS`)."""
    rows = conn.execute(
        text("SELECT layer, version FROM layer_versions WHERE layer = ANY(:layers)"),
        {"layers": list(COVERAGE_STATE_LAYERS)},
    )
    return dict(rows.all())


def input_version(versions: dict[str, int]) -> str:
    """The version of the coverage inputs, e.g. ``buildings=3;service_points=5;walk_edges=2;walk_nodes=2``."""
    return ";".join(f"{layer}={versions.get(layer, 0)}" for layer in sorted(INPUT_LAYERS))


def coverage_options(settings: Settings) -> dict:
    """What besides the layers changes the stored metres (profiles and levels do not: they are thresholds)."""
    return {"max_snap_m": settings.max_snap_m}


def read_inputs(conn: Connection) -> list[gpd.GeoDataFrame]:
    """Walk nodes, walk edges, buildings (weighted, with grid and community) and service points, from one snapshot
    (the caller's transaction)."""
    return read_frames(conn, [NODES_SQL, EDGES_SQL, BUILDINGS_SQL, SERVICES_SQL])


def stored_run(conn: Connection) -> dict | None:
    """The run whose rows are in ``building_coverage`` (the newest), or None."""
    row = conn.execute(
        text("SELECT id, input_version, computed_at, seconds, counts, options FROM coverage_runs ORDER BY id DESC")
    ).first()
    return None if row is None else dict(row._mapping)


def is_current(run: dict | None, conn: Connection, settings: Settings) -> bool:
    return (
        run is not None
        and run["input_version"] == input_version(layer_versions(conn))
        and run["options"] == coverage_options(settings)
    )


# Storing a run replaces every row. TRUNCATE (not DELETE: no dead rows left for a vacuum that may never come)
# takes an ACCESS EXCLUSIVE lock until commit, so a concurrent /coverage/stats waits for the new rows (a few
# seconds) instead of reading the old ones, and never sees a half-written table. The table's indexes are dropped
# and rebuilt after the COPY from their own definitions (pg_indexes), which is 3x faster than maintaining them row
# by row. (COPY ... FREEZE would also spare the first reader its hint-bit writes, but is refused in a transaction
# that exported its snapshot, as read_frames does.)
COVERAGE_INDEXES_SQL = """
SELECT i.indexname, i.indexdef, c.conname, pg_get_constraintdef(c.oid) AS condef
FROM pg_indexes i
LEFT JOIN pg_constraint c ON c.conrelid = 'building_coverage'::regclass AND c.conname = i.indexname
WHERE i.schemaname = current_schema() AND i.tablename = 'building_coverage'
ORDER BY c.conname IS NULL, i.indexname
"""
COPY_COVERAGE_SQL = (
    "COPY building_coverage (building_id, service_type, service_point_id, walk_m, run_id) "
    "FROM STDIN WITH (FORMAT binary)"
)
INSERT_RUN_SQL = """
INSERT INTO coverage_runs (input_version, seconds, counts, options)
VALUES (:version, :seconds, CAST(:counts AS jsonb), CAST(:options AS jsonb)) RETURNING id
"""
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
COPY_TRAILER = b"\xff\xff"


def _binary_rows(service_type: str, building: np.ndarray, point: np.ndarray, walk: np.ndarray, run_id: int) -> bytes:
    """Rows of one type in PostgreSQL's binary COPY format, built as numpy records (no Python loop per row).

    A record's layout depends on which of ``service_point_id`` (-1) and ``walk_m`` (NaN) are NULL, so the rows
    are encoded in runs of one layout; the order given is kept.
    """
    name = service_type.encode()
    layout = (point < 0).astype(np.int8) * 2 + np.isnan(walk)
    cuts = np.flatnonzero(np.diff(layout)) + 1
    parts = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(layout)], strict=True):
        if lo == hi:
            continue
        no_point, no_walk = bool(layout[lo] & 2), bool(layout[lo] & 1)
        fields = [("n", ">i2"), ("lb", ">i4"), ("b", ">i8"), ("lt", ">i4"), ("t", f"S{len(name)}"), ("lp", ">i4")]
        fields += [] if no_point else [("p", ">i8")]
        fields += [("lw", ">i4")] + ([] if no_walk else [("w", ">f8")]) + [("lr", ">i4"), ("r", ">i8")]
        rec = np.empty(hi - lo, dtype=np.dtype(fields))
        rec["n"], rec["lb"], rec["b"], rec["lt"], rec["t"] = 5, 8, building[lo:hi], len(name), name
        rec["lp"], rec["lw"], rec["lr"], rec["r"] = -1 if no_point else 8, -1 if no_walk else 8, 8, run_id
        if not no_point:
            rec["p"] = point[lo:hi]
        if not no_walk:
            rec["w"] = walk[lo:hi]
        parts.append(rec.tobytes())
    return b"".join(parts)


def _coverage_columns(state: CoverageState) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Per type: building ids, nearest point ids (-1: none) and walk metres (NaN: none), ordered as the
    (service_type, walk_m) index sorts them, so that its rebuild finds them sorted."""
    building_ids = np.asarray(state.coverage.building_ids).astype(np.int64)
    out = []
    for service_type in sorted(state.coverage.fields):
        walk, near = state.coverage.walk(service_type)
        ids = np.asarray(state.coverage.fields[service_type].service_ids).astype(np.int64)
        point = np.where(near >= 0, ids[np.maximum(near, 0)] if len(ids) else -1, -1)
        walk = np.round(walk, 2)
        order = np.lexsort((building_ids, walk))  # NaN (unreached) sorts last, as NULLS LAST does
        out.append((service_type, building_ids[order], point[order], walk[order]))
    return out


def store_state(conn: Connection, state: CoverageState, settings: Settings) -> dict:
    """Replace the stored coverage with `state`'s (one row per building × type), in the caller's transaction."""
    start = time.perf_counter()
    columns = _coverage_columns(state)
    counts = {
        "buildings": len(state.buildings),
        "service_points": len(state.services),
        "walk_edges": int(state.graph.n_edges),
        "rows": sum(len(walk) for *_, walk in columns),
        "types": state.service_types(),
        "unreached": {service_type: int(np.isnan(walk).sum()) for service_type, *_, walk in columns},
    }
    conn.execute(text("DELETE FROM coverage_runs"))
    run_id = conn.scalar(
        text(INSERT_RUN_SQL),
        {
            "version": state.input_version,
            "seconds": state.seconds,
            "counts": json.dumps(counts),
            "options": json.dumps(coverage_options(settings)),
        },
    )
    data = b"".join([COPY_HEADER, *(_binary_rows(*column, run_id) for column in columns), COPY_TRAILER])
    indexes = conn.execute(text(COVERAGE_INDEXES_SQL)).all()
    conn.execute(text("TRUNCATE building_coverage"))
    for index in indexes:
        if index.conname:
            conn.execute(text(f'ALTER TABLE building_coverage DROP CONSTRAINT "{index.conname}"'))
        else:
            conn.execute(text(f'DROP INDEX "{index.indexname}"'))
    copy_in(conn, COPY_COVERAGE_SQL, io.BytesIO(data))
    for index in indexes:
        if index.conname:
            conn.execute(text(f'ALTER TABLE building_coverage ADD CONSTRAINT "{index.conname}" {index.condef}'))
        else:
            conn.execute(text(index.indexdef))
    # fresh statistics for the readers' plans (0.2 s); autovacuum may be off or late after a whole-table rewrite
    conn.execute(text("ANALYZE building_coverage"))
    counts["store_seconds"] = round(time.perf_counter() - start, 3)
    return {"id": run_id, "input_version": state.input_version, "seconds": state.seconds, "counts": counts}


def lock_for_refresh(conn: Connection) -> None:
    """Taken first in a refresh's transaction, before its snapshot: a second refresh waits for this one's commit
    and then sees its run, instead of failing on rows and indexes this one replaced."""
    conn.execute(text("LOCK TABLE building_coverage IN EXCLUSIVE MODE"))
