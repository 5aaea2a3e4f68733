"""The records of the four ledgers (四本台账) of a place over a period, read on the caller's connection (a user's
scope: row-level security keeps the rows inside their places, and the place's grids are named too).

Each query takes the place's grids (`grid_ids`) and the period as [start, end) instants (midnights in China time,
api.ledgers.Period). Which rows each ledger holds is said in docs/fieldwork.md ("Ledgers and KPIs").
"""

from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, text

from api.storage.commitments import member_name_sql

Place = Literal["street", "community", "grid"]

PLACE_GRIDS_SQL = {
    "grid": "SELECT id FROM grids WHERE id = :id",
    "community": "SELECT id FROM grids WHERE community_id = :id ORDER BY id",
    "street": """SELECT g.id FROM grids g JOIN communities c ON c.id = g.community_id
        WHERE c.street_id = :id ORDER BY g.id""",
}
PLACE_NAME_SQL = {
    "grid": "SELECT coalesce(name, code) FROM grids WHERE id = :id",
    "community": "SELECT coalesce(name, code) FROM communities WHERE id = :id",
    "street": "SELECT coalesce(name, code) FROM streets WHERE id = :id",
}

# A user's name as a ledger shows it: the head (户主) of their 中心户 household (a party member's own household).
USER_NAME = """(SELECT r.name FROM center_households ch
    JOIN residents r ON r.household_id = ch.household_id AND r.relation = '户主'
    WHERE ch.id = {u}.center_household_id ORDER BY r.id LIMIT 1)"""

# 承诺: commitments made in the period.
COMMITMENTS_SQL = f"""
SELECT c.id, c.made_at, c.promised_by, c.state, c.content, c.fulfilled_at, g.code AS grid_code, g.name AS grid_name,
       {member_name_sql("c")} AS member_name, mu.login AS member_login
FROM commitments c
LEFT JOIN grids g ON g.id = c.grid_id
LEFT JOIN users mu ON mu.id = c.user_id
WHERE c.grid_id = ANY (CAST(:grid_ids AS bigint[])) AND c.made_at >= :start AND c.made_at < :end
ORDER BY c.made_at, c.id
"""

# 践诺: commitments fulfilled in the period, and requests that party members completed in the period (为民办事).
FULFILMENT_SQL = f"""
SELECT * FROM (
    SELECT 'commitment' AS kind, c.id, {member_name_sql("c")} AS member_name, mu.login AS member_login,
           g.code AS grid_code, g.name AS grid_name, c.content, c.made_at AS started_at, c.fulfilled_at AS done_at,
           c.fulfilment_note AS note, CAST(NULL AS smallint) AS rating
    FROM commitments c
    LEFT JOIN grids g ON g.id = c.grid_id
    LEFT JOIN users mu ON mu.id = c.user_id
    WHERE c.grid_id = ANY (CAST(:grid_ids AS bigint[])) AND c.state = 'fulfilled'
      AND c.fulfilled_at >= :start AND c.fulfilled_at < :end
    UNION ALL
    SELECT 'request', q.id, {USER_NAME.format(u="u")}, u.login, g.code, g.name, q.description, q.requested_at,
           q.completed_at, q.status_notes, q.rating
    FROM requests q
    JOIN users u ON u.id = q.assigned_user_id AND u.role = 'party_member'
    LEFT JOIN grids g ON g.id = q.grid_id
    WHERE q.grid_id = ANY (CAST(:grid_ids AS bigint[])) AND q.state IN ('completed', 'closed')
      AND q.completed_at >= :start AND q.completed_at < :end
) f
ORDER BY done_at, kind, id
"""

# 困难群众帮扶: the households tagged hardship (困难/低保) now, with the visits and help of the period. Help is a visit
# of kind help or care, or a request for the household completed in the period; the latest is shown.
HARDSHIP_SQL = """
WITH hh AS (
    SELECT h.id, h.grid_id, h.building_id, h.unit, h.room, h.size, h.tags
    FROM households h
    WHERE h.grid_id = ANY (CAST(:grid_ids AS bigint[])) AND 'hardship' = ANY (h.tags)
), seen AS (
    SELECT v.household_id, count(*) AS visits, count(*) FILTER (WHERE v.kind IN ('help', 'care')) AS help_visits
    FROM visits v
    WHERE v.household_id IN (SELECT id FROM hh) AND v.visited_at >= :start AND v.visited_at < :end
    GROUP BY v.household_id
), done AS (
    SELECT q.household_id, count(*) AS requests
    FROM requests q
    WHERE q.household_id IN (SELECT id FROM hh) AND q.state IN ('completed', 'closed')
      AND q.completed_at >= :start AND q.completed_at < :end
    GROUP BY q.household_id
), help AS (
    SELECT DISTINCT ON (household_id) household_id, at, kind, detail, service
    FROM (
        SELECT v.household_id, v.visited_at AS at, v.kind, v.notes AS detail, CAST(NULL AS text) AS service
        FROM visits v
        WHERE v.household_id IN (SELECT id FROM hh) AND v.kind IN ('help', 'care')
          AND v.visited_at >= :start AND v.visited_at < :end
        UNION ALL
        SELECT q.household_id, q.completed_at, 'request', q.description, s.name
        FROM requests q LEFT JOIN services s ON s.code = q.service_code
        WHERE q.household_id IN (SELECT id FROM hh) AND q.state IN ('completed', 'closed')
          AND q.completed_at >= :start AND q.completed_at < :end
    ) x
    ORDER BY household_id, at DESC
)
SELECT hh.id, b.name AS building, hh.unit, hh.room, hh.size, hh.tags, g.code AS grid_code, g.name AS grid_name,
       coalesce(seen.visits, 0) AS visits, coalesce(seen.help_visits, 0) + coalesce(done.requests, 0) AS help_count,
       help.at AS last_help_at, help.kind AS last_help_kind, help.detail AS last_help_text,
       help.service AS last_help_service
FROM hh
LEFT JOIN buildings b ON b.id = hh.building_id
LEFT JOIN grids g ON g.id = hh.grid_id
LEFT JOIN seen ON seen.household_id = hh.id
LEFT JOIN done ON done.household_id = hh.id
LEFT JOIN help ON help.household_id = hh.id
ORDER BY g.code, b.name, hh.unit, hh.room, hh.id
"""

# 意见诉求: requests received in the period.
REQUESTS_SQL = f"""
SELECT q.id, q.requested_at, s.name AS category, coalesce(b.name, q.address) AS place, q.description,
       q.assigned_unit, u.role AS handler_role, u.login AS handler_login, {USER_NAME.format(u="u")} AS handler_name,
       q.state, coalesce(q.completed_at, q.closed_at) AS done_at, q.rating
FROM requests q
LEFT JOIN services s ON s.code = q.service_code
LEFT JOIN buildings b ON b.id = q.building_id
LEFT JOIN users u ON u.id = q.assigned_user_id
WHERE q.grid_id = ANY (CAST(:grid_ids AS bigint[])) AND q.requested_at >= :start AND q.requested_at < :end
ORDER BY q.requested_at, q.id
"""
LEDGER_SQL = {
    "commitments": COMMITMENTS_SQL,
    "fulfilment": FULFILMENT_SQL,
    "hardship": HARDSHIP_SQL,
    "requests": REQUESTS_SQL,
}


def place_grids(conn: Connection, kind: Place, place_id: int) -> list[int]:
    """The grids of a street, community or grid (the table names come from the whitelist above)."""
    return list(conn.scalars(text(PLACE_GRIDS_SQL[kind]), {"id": place_id}))


def place_name(conn: Connection, kind: Place, place_id: int) -> str:
    return str(conn.scalar(text(PLACE_NAME_SQL[kind]), {"id": place_id}) or "")


def ledger_records(conn: Connection, name: str, grid_ids: list[int], start: datetime, end: datetime) -> list[dict]:
    """The records of ledger `name` for the grids over [start, end)."""
    params = {"grid_ids": grid_ids, "start": start, "end": end}
    return [dict(row) for row in conn.execute(text(LEDGER_SQL[name]), params).mappings()]
