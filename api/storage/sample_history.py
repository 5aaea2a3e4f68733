"""The sample's year of field work (gis.sample.generate_history) into visits, hazards, requests and their
histories (migration 0009), in the caller's transaction: the sample's load clears the previous sample's field
work before it touches the layers and stores the new year after the households and residents.

Which rows are the sample's: those no account made — visits without a user, hazards without a reporter,
requests of the sample's source; what users logged through the API stays. A table holding nothing else is
emptied with TRUNCATE (no dead rows for the layers' prune to scan), else the sample's rows are deleted.

The tables have row-level security FORCEd, which COPY cannot write through: rows are COPYed into temporary
staging tables and moved with one INSERT … SELECT each, which also turns source ids into ids, with the tables'
keys and indexes made after the rows (api.storage.bulk). Times travel as epoch seconds.
"""

import io
from datetime import date, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from api.storage import audit
from api.storage.bulk import copy_records, keys_and_indexes_after
from api.storage.frames import copy_in
from api.storage.session import SYSTEM, transaction
from gis.sample import CHINA, History, SampleArea, generate_history, load_settings

RULES_SQL = """
SELECT c.source_id AS community_ref, r.tag, r.role, r.interval_days, r.kind, r.active
FROM visit_rules r LEFT JOIN communities c ON c.id = r.community_id
WHERE r.community_id IS NULL OR c.source = :source
ORDER BY r.id
"""
CATEGORIES_SQL = "SELECT code, deadline_hours FROM hazard_categories WHERE active ORDER BY code"
SERVICES_SQL = "SELECT code, kind, deadline_hours FROM services WHERE active ORDER BY code"
# (tables, the sample's cases, whether the tables hold anything else); histories first
GROUPS = (
    (("visits",), "SELECT id FROM visits WHERE user_id IS NULL", "SELECT 1 FROM visits WHERE user_id IS NOT NULL"),
    (
        ("hazard_history", "hazards"),
        "SELECT id FROM hazards WHERE reported_by IS NULL",
        "SELECT 1 FROM hazards WHERE reported_by IS NOT NULL",
    ),
    (
        ("request_history", "requests"),
        "SELECT id FROM requests WHERE source = :source",
        "SELECT 1 FROM requests WHERE source <> :source",
    ),
)
# a user's request marked a duplicate of one of the sample's: ON DELETE SET NULL, done by hand with the keys off
UNLINK_SQL = (
    "UPDATE requests SET duplicate_of = NULL WHERE duplicate_of IN (SELECT id FROM requests WHERE source = :source)"
)
# Cases are staged as CSV with some columns as integers, which CSV writes several times faster than floats and
# timestamps: epoch seconds, 1e-7 degrees (~1 cm).
SECONDS, DEGREES = "seconds", "degrees"
SCALED = {DEGREES: 1e7}
VOCABULARIES = ("role", "kind", "notes")  # a visit's text: a few words each, staged as their index (from 1)
HOUSEHOLDS = {"code": "integer", "household_ref": "text"}
HAZARDS = {
    "client_id": "uuid", "category": "text", "severity": "text", "grid_ref": "text", "building_ref": "text",
    "household_ref": "text", "lon": DEGREES, "lat": DEGREES, "description": "text", "state": "text",
    "version": "integer", "reported_at": SECONDS, "deadline": SECONDS, "extensions": "integer",
    "assigned_unit": "text", "updated_at": SECONDS, "closed_at": SECONDS,
}  # fmt: skip
REQUESTS = {
    "client_id": "uuid", "service_code": "text", "grid_ref": "text", "building_ref": "text",
    "household_ref": "text", "resident_ref": "text", "lon": DEGREES, "lat": DEGREES, "address": "text",
    "description": "text", "state": "text", "version": "integer", "status_notes": "text", "assigned_unit": "text",
    "duplicate_of": "uuid", "requested_at": SECONDS, "deadline": SECONDS, "dispatched_at": SECONDS,
    "accepted_at": SECONDS, "completed_at": SECONDS, "closed_at": SECONDS, "updated_at": SECONDS,
    "rating": "smallint", "rating_comment": "text",
}  # fmt: skip
HISTORY = {
    "case_client_id": "uuid", "version": "integer", "action": "text", "from_state": "text", "to_state": "text",
    "role": "text", "at": SECONDS, "note": "text", "detail": "jsonb",
}  # fmt: skip
POINT = "ST_SetSRID(ST_MakePoint(s.lon / 1e7, s.lat / 1e7), 4326)"
PLACES = """
LEFT JOIN grids g ON g.source = :source AND g.source_id = s.grid_ref
LEFT JOIN buildings b ON b.source = :source AND b.source_id = s.building_ref
LEFT JOIN households h ON h.source = :source AND h.source_id = s.household_ref"""
# A sample visit was never posted: its payload hash is that of its client id.
# Visits are millions: staged as numbers (api.storage.bulk.copy_records), their words by index into the arrays
# :role, :kind and :notes (0: NULL), their households by index into staging_visit_households; a visit's grid is
# its household's.
INSERT_VISITS_SQL = """
INSERT INTO visits (client_id, household_id, grid_id, role, kind, visited_at, received_at, location, distance_m,
                    far, notes, payload_sha256)
SELECT s.client_id, h.id, h.grid_id, (CAST(:role AS text[]))[s.role], (CAST(:kind AS text[]))[s.kind],
       to_timestamp(s.visited_at), to_timestamp(s.received_at), ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326),
       s.distance_m, s.far, (CAST(:notes AS text[]))[s.notes],
       encode(sha256(convert_to(s.client_id::text, 'UTF8')), 'hex')
FROM staging_visits s
JOIN staging_visit_households u ON u.code = s.household
LEFT JOIN households h ON h.source = :source AND h.source_id = u.household_ref
"""
INSERT_HAZARDS_SQL = f"""
INSERT INTO hazards (client_id, category, severity, grid_id, building_id, household_id, location, description,
                     state, version, reported_at, deadline, extensions, assigned_unit, updated_at, closed_at)
SELECT s.client_id, s.category, s.severity, g.id, b.id, h.id, {POINT}, s.description, s.state, s.version,
       to_timestamp(s.reported_at), to_timestamp(s.deadline), s.extensions, s.assigned_unit,
       to_timestamp(s.updated_at), to_timestamp(s.closed_at)
FROM staging_hazards s {PLACES}
"""
INSERT_REQUESTS_SQL = f"""
INSERT INTO requests (client_id, service_code, grid_id, building_id, household_id, resident_id, location, address,
                      description, source, state, version, status_notes, assigned_unit, requested_at, deadline,
                      dispatched_at, accepted_at, completed_at, closed_at, updated_at, rating, rating_comment)
SELECT s.client_id, s.service_code, g.id, b.id, h.id, r.id, {POINT}, s.address, s.description, :source, s.state,
       s.version, s.status_notes, s.assigned_unit, to_timestamp(s.requested_at), to_timestamp(s.deadline),
       to_timestamp(s.dispatched_at), to_timestamp(s.accepted_at), to_timestamp(s.completed_at),
       to_timestamp(s.closed_at), to_timestamp(s.updated_at), s.rating, s.rating_comment
FROM staging_requests s {PLACES}
LEFT JOIN residents r ON r.source = :source AND r.source_id = s.resident_ref
"""
# as api.workflows.requests writes a duplicate: its original's id in the notes and in the history's detail
DUPLICATES_SQL = """
UPDATE requests r SET duplicate_of = o.id, status_notes = '重复诉求，已并入 #' || o.id
FROM staging_requests s JOIN requests o ON o.client_id = s.duplicate_of
WHERE s.duplicate_of IS NOT NULL AND r.client_id = s.client_id
"""
INSERT_HISTORY_SQL = """
INSERT INTO {table} (case_id, version, action, from_state, to_state, role, at, note, detail)
SELECT c.id, s.version, s.action, s.from_state, s.to_state, s.role, to_timestamp(s.at), s.note, {detail}
FROM {staging} s JOIN {cases} c ON c.client_id = s.case_client_id
"""
DETAIL = {
    "hazards": "s.detail",
    "requests": "CASE WHEN s.action = 'duplicate' THEN jsonb_build_object('duplicate_of', c.duplicate_of) "
    "ELSE s.detail END",
}
TABLES = ("visits", "hazards", "hazard_history", "requests", "request_history")


def read_inputs(conn: Connection, *, source: str) -> dict[str, pd.DataFrame]:
    """The visit rules (the defaults and the sample's communities' own), hazard categories and request services
    the history follows, as stored."""

    def frame(sql: str) -> pd.DataFrame:
        result = conn.execute(text(sql), {"source": source})
        return pd.DataFrame(result.all(), columns=list(result.keys()))

    return {"rules": frame(RULES_SQL), "hazard_categories": frame(CATEGORIES_SQL), "services": frame(SERVICES_SQL)}


def today() -> date:
    """The day in China: the sample's year of field work ends on it unless told otherwise."""
    return datetime.now(CHINA).date()


def load_sample_history(
    engine: Engine, area: SampleArea, *, until: date | None = None, seed: int | None = None, source: str
) -> dict[str, int]:
    """Replace the stored sample's field work with a new year, in a transaction of its own (load_sample does the
    same inside the sample's): up to `until` (default today in China), drawn with `seed` (default the sample
    settings' seed)."""
    with transaction(engine, scope=SYSTEM) as conn:
        clear_sample_history(conn, source=source)
        seed = load_settings().seed if seed is None else seed
        return store_sample_history(conn, area, until=until or today(), seed=seed, source=source)


def clear_sample_history(conn: Connection, *, source: str) -> int:
    """Delete the sample's field work (module docstring); returns the rows deleted."""
    params = {"source": source}
    deleted = 0
    for tables, sample, others in GROUPS:
        if conn.scalar(text(f"SELECT EXISTS ({others})"), params):
            with keys_and_indexes_after(conn, tables):  # no key check or cascade per row: they are done by hand
                if tables[-1] == "requests":
                    conn.execute(text(UNLINK_SQL), params)
                for table in tables:
                    column = "case_id" if table.endswith("_history") else "id"
                    deleted += conn.execute(text(f"DELETE FROM {table} WHERE {column} IN ({sample})"), params).rowcount
        else:
            deleted += sum(int(conn.scalar(text(f"SELECT count(*) FROM {table}")) or 0) for table in tables)
            conn.execute(text(f"TRUNCATE {', '.join(tables)}"))
    return deleted


def store_sample_history(conn: Connection, area: SampleArea, *, until: date, seed: int, source: str) -> dict[str, int]:
    """Generate the year before `until` for the stored sample `area` and store it, in the caller's transaction
    (after `clear_sample_history`, and after the sample's households and residents). Returns the rows stored."""
    history = generate_history(area, until=until, seed=seed, **read_inputs(conn, source=source))
    return store_history(conn, history, source=source)


def store_history(conn: Connection, history: History, *, source: str) -> dict[str, int]:
    """Store `history` beside whatever field work is there (the caller cleared the sample's); one audit row with
    the counts."""
    params = {"source": source}
    stored = {}
    with keys_and_indexes_after(conn, TABLES):
        words = _stage_visits(conn, history.visits)
        stored["visits"] = conn.execute(text(INSERT_VISITS_SQL), params | words).rowcount
        _stage(conn, "staging_hazards", HAZARDS, history.hazards)
        stored["hazards"] = conn.execute(text(INSERT_HAZARDS_SQL), params).rowcount
        _stage(conn, "staging_requests", REQUESTS, history.requests)
        stored["requests"] = conn.execute(text(INSERT_REQUESTS_SQL), params).rowcount
        conn.execute(text(DUPLICATES_SQL))
        # (client ids are not indexed within the block: the joins on them are hash joins)
        stored["hazard_history"] = _history(conn, "hazard_history", "hazards", history.hazard_history)
        stored["request_history"] = _history(conn, "request_history", "requests", history.request_history)
    for table in TABLES:
        conn.execute(text(f"ANALYZE {table}"))
    audit.record(
        conn,
        user_id=None,
        login=None,
        action="import",
        object_table="visits",
        object_ids=[],
        detail={"source": source, "what": "the sample's year of field work", **stored},
    )
    return stored


def _stage_visits(conn: Connection, visits: pd.DataFrame) -> dict[str, list[str]]:
    """The visits into staging_visits as numbers (INSERT_VISITS_SQL); returns the vocabularies of their words."""
    household, households = pd.factorize(visits["household_ref"])
    words = {}
    columns: dict[str, np.ndarray] = {
        "client_id": _uuids(visits["client_id"]),
        "household": household.astype(np.int32),
    }
    for column in VOCABULARIES:
        words_of = visits[column]
        codes, vocabulary = pd.factorize(words_of.where(words_of != "", None))  # missing: -1, staged 0 (NULL)
        columns[column] = (codes + 1).astype(np.int16)
        words[column] = [str(w) for w in vocabulary]
    columns |= {
        "visited_at": _seconds(visits["visited_at"]),
        "received_at": _seconds(visits["received_at"]),
        "lon": visits["lon"].to_numpy(np.float64),
        "lat": visits["lat"].to_numpy(np.float64),
        "distance_m": visits["distance_m"].to_numpy(np.float64),
        "far": visits["far"].to_numpy(bool),
    }
    copy_records(conn, "staging_visits", columns)
    _stage(conn, "staging_visit_households", HOUSEHOLDS, pd.DataFrame({"code": range(len(households)),
                                                                        "household_ref": households}))  # fmt: skip
    return words


def _uuids(ids: pd.Series) -> np.ndarray:
    """UUID texts as 16-byte values."""
    raw = bytes.fromhex("".join(ids.tolist()).replace("-", ""))
    return np.frombuffer(raw, dtype="V16")


def _seconds(times: pd.Series) -> np.ndarray:
    return ((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(np.int64)


def _history(conn: Connection, table: str, cases: str, frame: pd.DataFrame) -> int:
    staging = f"staging_{table}"
    _stage(conn, staging, HISTORY, frame)
    sql = INSERT_HISTORY_SQL.format(table=table, staging=staging, cases=cases, detail=DETAIL[cases])
    return conn.execute(text(sql)).rowcount


def _stage(conn: Connection, staging: str, columns: dict[str, str], frame: pd.DataFrame) -> None:
    """`frame`'s `columns` COPYed into a new temporary table (dropped at commit); times, coordinates and distances
    as integers (`SCALED`), None and "" as NULL (the generator writes no empty text). No ANALYZE: each is read
    once, by a hash join."""
    out = pd.DataFrame(index=frame.index)
    declared = []
    for column, kind in columns.items():
        values = frame[column]
        if kind == SECONDS:
            values = ((values - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("Int64")
        elif kind in SCALED:
            values = (values.astype(float) * SCALED[kind]).round().astype("Int64")
        elif kind in ("integer", "smallint"):
            values = values.astype("Int64")
        out[column] = values
        declared.append(f"{column} {'bigint' if kind in (SECONDS, *SCALED) else kind}")
    conn.execute(text(f"DROP TABLE IF EXISTS {staging}"))
    conn.execute(text(f"CREATE TEMP TABLE {staging} ({', '.join(declared)}) ON COMMIT DROP"))
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, header=False, na_rep="")
    buffer.seek(0)
    copy_in(conn, f"COPY {staging} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
