"""Party members' commitments (承诺) and their fulfilment (践诺), migration 0013: read and written on a connection
under the signed-in user's scope (row-level security keeps each user to their places), and the sample's, stored
whole under gridmap's own scope when the sample is loaded."""

from typing import Any

import pandas as pd
from sqlalchemy import Connection, text

from api.storage.filters import optional


def member_name_sql(alias: str) -> str:
    """The party member's name for commitments aliased `alias`: the resident the commitment names, else the head
    (户主) of their household, else the head of their account's 中心户 household (a party member's own)."""
    return f"""coalesce(
    (SELECT r.name FROM residents r WHERE r.id = {alias}.resident_id),
    (SELECT r.name FROM residents r WHERE r.household_id = {alias}.household_id AND r.relation = '户主'
     ORDER BY r.id LIMIT 1),
    (SELECT r.name FROM users u JOIN center_households ch ON ch.id = u.center_household_id
     JOIN residents r ON r.household_id = ch.household_id AND r.relation = '户主'
     WHERE u.id = {alias}.user_id ORDER BY r.id LIMIT 1))"""


COLUMNS = f"""
    c.id, c.household_id, c.resident_id, c.user_id, c.grid_id, g.code AS grid_code, c.community_id, c.year,
    c.content, c.made_at, c.promised_by, c.state, c.fulfilled_at, c.fulfilment_note, c.created_by, c.created_at,
    c.updated_at, {member_name_sql("c")} AS member_name"""
FROM = "FROM commitments c LEFT JOIN grids g ON g.id = c.grid_id"
PAGE_SQL = f"""
SELECT {COLUMNS} {FROM}
WHERE c.id > :after
  AND (CAST(:grid_ids AS bigint[]) IS NULL OR c.grid_id = ANY (CAST(:grid_ids AS bigint[])))
  AND (CAST(:user_id AS bigint) IS NULL OR c.user_id = :user_id)
  AND {optional("c.year", "year")}
  AND (CAST(:state AS text) IS NULL OR c.state = :state)
ORDER BY c.id
LIMIT :limit
"""
ONE_SQL = f"SELECT {COLUMNS} {FROM} WHERE c.id = :id"
INSERT_SQL = """
INSERT INTO commitments (household_id, resident_id, user_id, grid_id, year, content, made_at, promised_by,
                         created_by, source)
VALUES (:household_id, :resident_id, :user_id, :grid_id, :year, :content, :made_at, :promised_by, :created_by, 'api')
RETURNING id
"""
UPDATE_SQL = """
UPDATE commitments SET state = :state, fulfilled_at = :fulfilled_at, fulfilment_note = :fulfilment_note,
                       updated_at = now()
WHERE id = :id
"""
# Whether a household is a party member's one, as the writer sees it (row-level security): None when not visible.
PARTY_HOUSEHOLD_SQL = "SELECT is_party_member FROM households WHERE id = :id"
RESIDENT_HOUSEHOLD_SQL = "SELECT household_id FROM residents WHERE id = :id"
# A party member's own household: their 中心户's, when it is a party member's household.
OWN_HOUSEHOLD_SQL = """
SELECT h.id FROM users u JOIN center_households ch ON ch.id = u.center_household_id
JOIN households h ON h.id = ch.household_id
WHERE u.id = :user AND h.is_party_member
"""
# The grid of a party member's account: their first grid scope.
USER_GRID_SQL = """
SELECT g.id FROM user_scopes s JOIN grids g ON g.code = s.code
WHERE s.user_id = :user AND s.level = 'grid' ORDER BY g.id LIMIT 1
"""
IS_PARTY_USER_SQL = "SELECT EXISTS (SELECT 1 FROM users WHERE id = :id AND role = 'party_member' AND NOT disabled)"

# The sample's commitments replace the previous sample's whole; households and residents by source id.
SAMPLE_DELETE_SQL = "DELETE FROM commitments WHERE source = :source"
SAMPLE_INSERT_SQL = """
INSERT INTO commitments (household_id, resident_id, year, content, made_at, promised_by, state, fulfilled_at,
                         fulfilment_note, source, source_id, created_at, updated_at)
SELECT h.id, r.id, s.year, s.content, s.made_at, s.promised_by, s.state, s.fulfilled_at, s.note, :source,
       s.source_id, s.made_at, coalesce(s.fulfilled_at, s.made_at)
FROM unnest(CAST(:source_id AS text[]), CAST(:household_ref AS text[]), CAST(:resident_ref AS text[]),
            CAST(:year AS smallint[]), CAST(:content AS text[]), CAST(:made_at AS timestamptz[]),
            CAST(:promised_by AS date[]), CAST(:state AS text[]), CAST(:fulfilled_at AS timestamptz[]),
            CAST(:note AS text[]))
     AS s(source_id, household_ref, resident_ref, year, content, made_at, promised_by, state, fulfilled_at, note)
JOIN households h ON h.source = :source AND h.source_id = s.household_ref AND h.is_party_member
LEFT JOIN residents r ON r.source = :source AND r.source_id = s.resident_ref AND r.household_id = h.id
"""


def commitments_page(
    conn: Connection,
    *,
    after: int,
    limit: int,
    grid_ids: list[int] | None = None,
    user_id: int | None = None,
    year: int | None = None,
    state: str | None = None,
) -> list[dict]:
    """Up to `limit` commitments with ids above `after` that the connection may see, of `grid_ids` (None: every
    one visible) or of one party member's account."""
    params = {
        "after": after,
        "limit": limit,
        "grid_ids": grid_ids,
        "user_id": user_id,
        "year": year,
        "state": state,
    }
    return [dict(row) for row in conn.execute(text(PAGE_SQL), params).mappings()]


def commitment(conn: Connection, commitment_id: int) -> dict | None:
    row = conn.execute(text(ONE_SQL), {"id": commitment_id}).mappings().first()
    return None if row is None else dict(row)


def party_household(conn: Connection, household_id: int) -> bool | None:
    """Whether a household the connection sees is a party member's (党员户); None when it sees no such household."""
    return conn.scalar(text(PARTY_HOUSEHOLD_SQL), {"id": household_id})


def resident_household(conn: Connection, resident_id: int) -> int | None:
    """The household of a resident the connection sees (0 when the resident has none visible), None if unseen."""
    row = conn.execute(text(RESIDENT_HOUSEHOLD_SQL), {"id": resident_id}).first()
    return None if row is None else int(row.household_id)


def own_household(conn: Connection, user_id: int) -> int | None:
    return conn.scalar(text(OWN_HOUSEHOLD_SQL), {"user": user_id})


def user_grid(conn: Connection, user_id: int) -> int | None:
    return conn.scalar(text(USER_GRID_SQL), {"user": user_id})


def is_party_user(conn: Connection, user_id: int) -> bool:
    return bool(conn.scalar(text(IS_PARTY_USER_SQL), {"id": user_id}))


def create_commitment(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.scalar(text(INSERT_SQL), values))


def record_fulfilment(conn: Connection, commitment_id: int, values: dict[str, Any]) -> bool:
    """Set the state, fulfilment time and note; False when the connection may not change the row."""
    return conn.execute(text(UPDATE_SQL), {**values, "id": commitment_id}).rowcount == 1


def store_sample_commitments(conn: Connection, frame: pd.DataFrame, *, source: str) -> int:
    """Replace the sample's commitments with `frame` (gis.sample draw_commitments) in the caller's transaction;
    rows whose household is not a stored party-member household of `source` are skipped. Returns rows stored."""
    conn.execute(text(SAMPLE_DELETE_SQL), {"source": source})
    if frame.empty:
        return 0

    def column(name: str) -> list:
        return [None if pd.isna(v) else v for v in frame[name].tolist()]

    params = {
        "source": source,
        "source_id": column("source_id"),
        "household_ref": column("household_ref"),
        "resident_ref": column("resident_ref"),
        "year": [int(v) for v in frame["year"]],
        "content": column("content"),
        "made_at": column("made_at"),
        "promised_by": column("promised_by"),
        "state": column("state"),
        "fulfilled_at": column("fulfilled_at"),
        "note": column("fulfilment_note"),
    }
    return conn.execute(text(SAMPLE_INSERT_SQL), params).rowcount
