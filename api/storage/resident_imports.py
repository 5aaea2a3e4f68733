"""Residents into the database: a community's register (花名册, read and checked by api.residents.read_register)
and the sample's residents. Each write is part of one transaction; a register that cannot be stored whole stores
nothing.

`residents` has row-level security FORCEd, which COPY cannot write through: rows are COPYed into a temporary
staging table and moved with one INSERT … SELECT. Staged text is quoted in full and arrays are written element by
element, so any name or tag comes back exactly as it went in.

Identity: a register's rows belong to the source ``register:<community code>``; a resident is its ID number's
keyed hash when the register gives one, else a hash of (household, name, phone). Importing the same file again
updates those rows. An ID number is one person: stored under another source (the sample, another community's
register) it is taken over and counted as moved. Residents stored before and missing from a new register are kept
and counted (a register may cover part of a community).
"""

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Engine, text

from api.errors import NotFound, RegisterError, UnknownHouseholds, excerpt
from api.storage import audit
from api.storage.frames import copy_in
from api.storage.session import SYSTEM, transaction

MAX_PROBLEMS = 20  # rows listed in a refusal; the rest are counted
STORED = ["name", "gender", "birth_year", "phone", "id_hash", "id_masked", "id_number", "tags", "relation"]
SAMPLE_STAGING = {
    "source_id": "text", "household_ref": "text", "name": "text", "gender": "text", "birth_year": "integer",
    "phone": "text", "id_hash": "text", "id_masked": "text", "id_number": "text", "tags": "text[]",
    "relation": "text",
}  # fmt: skip
REGISTER_STAGING = {
    "register_row": "integer", "name": "text", "gender": "text", "birth_year": "integer", "phone": "text",
    "id_hash": "text", "id_masked": "text", "id_number": "text", "tags": "text[]", "building": "text",
    "unit": "text", "room": "text", "relation": "text",
}  # fmt: skip
REGISTER_DERIVED = "household_id bigint, matches integer, person_hash text, source_id text"

COMMUNITY_SQL = """
SELECT c.id FROM communities c JOIN streets st ON st.id = c.street_id WHERE st.code || c.code = :code ORDER BY c.id
"""
# Every household of the community under each name its building is known by (its name and its source id), as
# registers write them. NFKC as api.residents.fields.place_of writes the register's side.
HOMES_SQL = """
CREATE TEMP TABLE register_homes ON COMMIT DROP AS
SELECT DISTINCT h.id AS household_id, normalize(trim(k.building), NFKC) AS building,
       normalize(trim(coalesce(h.unit, '')), NFKC) AS unit, normalize(trim(h.room), NFKC) AS room
FROM households h
JOIN buildings b ON b.id = h.building_id
JOIN grids g ON g.id = coalesce(h.grid_id, b.grid_id)
CROSS JOIN LATERAL (VALUES (b.name), (b.source_id)) AS k(building)
WHERE g.community_id = :community AND k.building IS NOT NULL AND h.room IS NOT NULL
"""
# A row without 单元 matches a household of any unit (houses have none); more than one match is refused.
MATCH_SQL = """
UPDATE staging_register s SET household_id = m.household_id, matches = m.n
FROM (SELECT s.register_row, min(r.household_id) AS household_id, count(DISTINCT r.household_id) AS n
      FROM staging_register s
      JOIN register_homes r ON r.building = s.building AND r.room = s.room AND r.unit = coalesce(s.unit, r.unit)
      GROUP BY s.register_row) m
WHERE s.register_row = m.register_row
"""
UNMATCHED_SQL = """
SELECT s.register_row, s.building, s.unit, s.room, coalesce(s.matches, 0) AS matches,
       EXISTS (SELECT 1 FROM register_homes r WHERE r.building = s.building) AS building_known,
       count(*) OVER () AS total
FROM staging_register s WHERE s.matches IS DISTINCT FROM 1 ORDER BY s.register_row LIMIT :limit
"""
# Unkeyed: it stands for a name and a phone that the row holds in clear anyway.
PERSON_HASH_SQL = """
UPDATE staging_register
SET person_hash = encode(sha256(convert_to(concat_ws(chr(31), household_id::text, name, phone), 'UTF8')), 'hex')
"""
SOURCE_ID_SQL = "UPDATE staging_register SET source_id = coalesce(id_hash, person_hash)"
REPEATED_SQL = """
SELECT register_row, first_row, count(*) OVER () AS total FROM (
    SELECT register_row, min(register_row) OVER (PARTITION BY source_id) AS first_row FROM staging_register) d
WHERE register_row <> first_row ORDER BY register_row LIMIT :limit
"""
# Rows stored by phone whose ID number this register now gives: the same person, now known by the number.
ADOPT_SQL = """
UPDATE residents r SET source_id = s.id_hash FROM staging_register s
WHERE r.source = :source AND r.id_hash IS NULL AND s.id_hash IS NOT NULL AND r.source_id = s.person_hash
  AND NOT EXISTS (SELECT 1 FROM residents o WHERE o.id_hash = s.id_hash)
"""
TAKE_OVER_SQL = """
UPDATE residents r SET source = :source, source_id = s.source_id, updated_at = now() FROM staging_register s
WHERE s.id_hash IS NOT NULL AND r.id_hash = s.id_hash AND r.source <> :source
RETURNING r.id
"""
CHANGED = ["household_id", *STORED]
# Rows whose values are all the same are left alone (not written, updated_at kept) and counted as unchanged.
UPSERT_SQL = (
    f"INSERT INTO residents AS r ({', '.join(CHANGED)}, source, source_id) "
    f"SELECT s.household_id, {', '.join(f's.{c}' for c in STORED)}, :source, s.source_id FROM staging_register s "
    f"ON CONFLICT (source, source_id) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in CHANGED)}, "
    "updated_at = now() "
    f"WHERE ({', '.join(f'r.{c}' for c in CHANGED)}) IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in CHANGED)}) "
    "RETURNING r.id, (r.xmax = 0) AS inserted"
)
SAMPLE_HOME = "JOIN households h ON h.source = :source AND h.source_id = s.household_ref"
SAMPLE_MISSING_SQL = """
SELECT count(*) FROM staging_residents s
WHERE NOT EXISTS (SELECT 1 FROM households h WHERE h.source = :source AND h.source_id = s.household_ref)
"""
SAMPLE_PRUNE_SQL = """
DELETE FROM residents r
WHERE r.source = :source AND NOT EXISTS (SELECT 1 FROM staging_residents s WHERE s.source_id = r.source_id)
"""
# A number that moves to another row of the sample would collide with the row that still holds it.
SAMPLE_RELEASE_SQL = """
UPDATE residents r SET id_hash = NULL FROM staging_residents s
WHERE r.source = :source AND r.source_id = s.source_id AND r.id_hash IS NOT NULL AND r.id_hash <> s.id_hash
"""
NOT_ELSEWHERE = (
    "(s.id_hash IS NULL OR NOT EXISTS (SELECT 1 FROM residents o WHERE o.id_hash = s.id_hash AND o.source <> :source))"
)
SAMPLE_UPDATE_SQL = (
    f"UPDATE residents r SET household_id = h.id, {', '.join(f'{c} = s.{c}' for c in STORED)}, updated_at = now() "
    f"FROM staging_residents s {SAMPLE_HOME} "
    f"WHERE r.source = :source AND r.source_id = s.source_id AND {NOT_ELSEWHERE} "
    f"AND ({', '.join(f'r.{c}' for c in CHANGED)}) IS DISTINCT FROM (h.id, {', '.join(f's.{c}' for c in STORED)})"
)
SAMPLE_INSERT_SQL = (
    f"INSERT INTO residents ({', '.join(CHANGED)}, source, source_id) "
    f"SELECT h.id, {', '.join(f's.{c}' for c in STORED)}, :source, s.source_id FROM staging_residents s {SAMPLE_HOME} "
    "WHERE NOT EXISTS (SELECT 1 FROM residents r WHERE r.source = :source AND r.source_id = s.source_id) "
    f"AND {NOT_ELSEWHERE}"
)
NOT_IN_FILE_SQL = """
SELECT count(*) FROM residents r
WHERE r.source = :source AND NOT EXISTS (SELECT 1 FROM staging_register s WHERE s.source_id = r.source_id)
"""


@dataclass(frozen=True)
class Written:
    """What one write of residents did: rows inserted, updated (changed, or taken over from another source that
    held their ID number: `moved`, counted in `updated` too), left as they were, and the ids of the rows written."""

    inserted: int
    updated: int
    unchanged: int
    moved: int
    ids: list[int]


@dataclass(frozen=True)
class RegisterImport:
    """A register stored: its community, the counts of `Written`, and the residents of this register's source
    stored before that the file does not list (kept)."""

    community_id: int
    rows: int
    inserted: int
    updated: int
    unchanged: int
    moved: int
    not_in_file: int


def register_source(community_code: str) -> str:
    return f"register:{community_code}"


def store_register(
    engine: Engine, residents: pd.DataFrame, *, community_code: str, file_name: str, keep_id_number: bool = False
) -> RegisterImport:
    """Store a register frame (api.residents.Register.residents) for the community of the 12-digit code (street
    code + community code), every row linked to its household by 楼栋 (building name or source id), 单元 and 房号,
    in one transaction with its audit row. The ID number in clear is stored only with `keep_id_number` (and a
    re-import without it clears the ones kept). Raises `NotFound` (community), `UnknownHouseholds` (rows whose
    household is not there, or is not one), `RegisterError` (one person twice); then nothing is stored."""
    source = register_source(community_code)
    staged = residents.rename(columns={"row": "register_row"})
    if not keep_id_number or "id_number" not in staged:
        staged = staged.assign(id_number=None)
    with transaction(engine, scope=SYSTEM) as conn:
        community_id = _community(conn, community_code)
        _stage(conn, "staging_register", REGISTER_STAGING, staged, extra=REGISTER_DERIVED)
        conn.execute(text(HOMES_SQL), {"community": community_id})
        conn.execute(text(MATCH_SQL))
        _refuse_unmatched(conn, file_name, community_code)
        conn.execute(text(PERSON_HASH_SQL))
        conn.execute(text(SOURCE_ID_SQL))
        _refuse_repeated(conn, file_name)
        conn.execute(text(ADOPT_SQL), {"source": source})
        written = _upsert(conn, source=source)
        not_in_file = int(conn.scalar(text(NOT_IN_FILE_SQL), {"source": source}) or 0)
        result = RegisterImport(
            community_id, len(staged), written.inserted, written.updated, written.unchanged, written.moved, not_in_file
        )
        audit.record(
            conn,
            user_id=None,
            login=None,
            action="import",
            object_table="residents",
            object_ids=written.ids,
            detail={
                "file": file_name,
                "source": source,
                "rows": result.rows,
                "inserted": result.inserted,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "moved": result.moved,
                "not_in_file": result.not_in_file,
                "id_numbers_kept": bool(keep_id_number),
            },
        )
    return result


def store_sample_residents(conn: Connection, residents: pd.DataFrame, *, source: str) -> dict[str, int]:
    """Store the sample's residents (api.residents.stored_residents: hashed, masked, no clear ID number) in the
    caller's transaction, after its households; residents of `source` the frame lacks are deleted. An ID number
    that another source holds (a register took the person over) stays there. Returns the counts; the caller
    records the audit row.

    An UPDATE of the changed rows and an INSERT of the new ones rather than one INSERT … ON CONFLICT: for the
    district's million residents the first load's INSERT took 20 s instead of 25 s (two cores, measured once)."""
    _stage(conn, "staging_residents", SAMPLE_STAGING, residents)
    params = {"source": source}
    missing = conn.scalar(text(SAMPLE_MISSING_SQL), params)
    if missing:  # the generator's own bug: its residents name its households
        raise ValueError(f"residents: {missing} name households that the sample does not have")
    deleted = conn.execute(text(SAMPLE_PRUNE_SQL), params).rowcount
    conn.execute(text(SAMPLE_RELEASE_SQL), params)
    updated = conn.execute(text(SAMPLE_UPDATE_SQL), params).rowcount
    inserted = conn.execute(text(SAMPLE_INSERT_SQL), params).rowcount
    skipped = _skipped(conn, "staging_residents", source)
    return {
        "inserted": inserted,
        "updated": updated,
        "unchanged": len(residents) - inserted - updated - skipped,
        "deleted": deleted,
        "kept_by_other_sources": skipped,
    }


def _community(conn: Connection, code: str) -> int:
    ids = conn.scalars(text(COMMUNITY_SQL), {"code": code}).all()
    if not ids:
        raise NotFound(f"community {excerpt(code)} is not stored (its code is the street code + the community code)")
    if len(ids) > 1:
        raise NotFound(f"community {excerpt(code)} is stored {len(ids)} times; import its communities again")
    return ids[0]


def _refuse_unmatched(conn: Connection, file_name: str, community_code: str) -> None:
    rows = conn.execute(text(UNMATCHED_SQL), {"limit": MAX_PROBLEMS}).all()
    if not rows:
        return
    problems = []
    for row in rows:
        parts = zip(("楼栋", "单元", "房号"), (row.building, row.unit, row.room), strict=True)
        home = " ".join(f"{label} {excerpt(value, 20)}" for label, value in parts if value)
        if row.matches > 1:
            problem = f"{home} is {row.matches} households: give the 单元"
        elif not row.building_known:
            problem = f"no building {excerpt(row.building, 20)} in community {community_code}"
        else:
            problem = f"no household {home} in community {community_code}"
        problems.append((row.register_row, None, problem))
    total = rows[0].total
    listed = [f"row {r}: {p}" for r, _, p in problems]
    if total > len(rows):
        listed.append(f"and {total - len(rows)} more")
    count = f"{total} row{'s' if total > 1 else ''}"
    raise UnknownHouseholds(f"{file_name} refused, {count} without their household: " + "; ".join(listed), problems)


def _refuse_repeated(conn: Connection, file_name: str) -> None:
    rows = conn.execute(text(REPEATED_SQL), {"limit": MAX_PROBLEMS}).all()
    if not rows:
        return
    problems = [(r.register_row, None, f"the same person as row {r.first_row}") for r in rows]
    listed = [f"row {r}: {p}" for r, _, p in problems]
    if rows[0].total > len(rows):
        listed.append(f"and {rows[0].total - len(rows)} more")
    raise RegisterError(f"{file_name} refused, a resident listed twice: " + "; ".join(listed), problems)


def _upsert(conn: Connection, *, source: str) -> Written:
    """Insert or update the staged register rows; rows of other sources holding their ID numbers first become this
    source's."""
    moved = list(conn.scalars(text(TAKE_OVER_SQL), {"source": source}))
    rows = conn.execute(text(UPSERT_SQL), {"source": source}).all()
    staged = int(conn.scalar(text("SELECT count(*) FROM staging_register")) or 0)
    inserted = sum(1 for r in rows if r.inserted)
    written = sorted({r.id for r in rows} | set(moved))  # a row taken over is written even if nothing else changed
    return Written(inserted, len(written) - inserted, staged - len(written), len(moved), written)


def _skipped(conn: Connection, staging: str, source: str) -> int:
    """Staged rows not written because another source holds their ID number."""
    return int(
        conn.scalar(
            text(
                f"SELECT count(*) FROM {staging} s WHERE s.id_hash IS NOT NULL AND EXISTS "
                "(SELECT 1 FROM residents o WHERE o.id_hash = s.id_hash AND o.source <> :source)"
            ),
            {"source": source},
        )
        or 0
    )


def _stage(conn: Connection, staging: str, columns: dict[str, str], frame: pd.DataFrame, extra: str = "") -> None:
    """`frame`'s `columns` COPYed into a new temporary table (dropped at commit). Every value is quoted and only an
    empty field is NULL (FORCE_NULL), so no text — '\\N', quotes, commas, newlines — is read as anything else."""
    out = pd.DataFrame(index=frame.index)
    for column, kind in columns.items():
        values = frame[column] if column in frame else pd.Series(None, index=frame.index, dtype=object)
        if kind == "text[]":
            values = values.map(pg_text_array)
        elif kind == "integer":
            values = pd.to_numeric(values, errors="coerce").astype("Int64")
        out[column] = values
    declared = [f"{c} {kind}" for c, kind in columns.items()] + ([extra] if extra else [])
    conn.execute(text(f"DROP TABLE IF EXISTS {staging}"))
    conn.execute(text(f"CREATE TEMP TABLE {staging} ({', '.join(declared)}) ON COMMIT DROP"))
    buffer = io.StringIO()
    out.to_csv(buffer, index=False, header=False, quoting=csv.QUOTE_ALL, na_rep="")
    buffer.seek(0)
    names = ", ".join(columns)
    copy_in(conn, f"COPY {staging} ({names}) FROM STDIN WITH (FORMAT csv, FORCE_NULL ({names}))", buffer)
    conn.execute(text(f"ANALYZE {staging}"))


def pg_text_array(values: object) -> str:
    """A list of strings as a PostgreSQL array literal with every element quoted, so that any text survives."""
    if values is None or (isinstance(values, float) and pd.isna(values)) or (isinstance(values, list) and not values):
        return "{}"
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise TypeError(f"tags must be a list of text, not {type(values).__name__}")
    quoted = ('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"
