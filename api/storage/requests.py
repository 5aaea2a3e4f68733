"""Residents' requests (诉求 / 微心愿) and their history, read and written on a connection under the caller's scope:
row-level security (migrations 0009 and 0012) lets a user see the requests of their places, those they reported or
were given, and an Open311 partner those it posted. Masking and the rules of each action are the callers'."""

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from api.storage.filters import optional

SERVICES_SQL = """
SELECT code, name, group_name, kind, deadline_hours, description, keywords
FROM services WHERE active AND (CAST(:code AS text) IS NULL OR code = :code) ORDER BY code
"""

COLUMNS = """
    r.id, r.client_id, r.service_code, s.name AS service_name, s.kind AS service_kind, r.grid_id, g.code AS grid_code,
    g.community_id, r.building_id, r.household_id, r.resident_id, r.address, r.description, r.requester_name,
    r.requester_phone, r.source, r.partner_id, r.reported_by, r.state, r.version, r.status_notes, r.assigned_user_id,
    r.assigned_unit, r.duplicate_of, r.requested_at, r.deadline, r.dispatched_at, r.accepted_at, r.completed_at,
    r.closed_at, r.updated_at, r.rating, r.rating_comment, r.payload_sha256, r.media_url,
    ST_X(r.location) AS lon, ST_Y(r.location) AS lat"""
FROM = "FROM requests r JOIN services s ON s.code = r.service_code LEFT JOIN grids g ON g.id = r.grid_id"
OPEN = "r.state IN ('submitted', 'dispatched', 'accepted')"

# Newest first; the cursor is the last id of the previous page.
PAGE_SQL = f"""
SELECT {COLUMNS} {FROM}
WHERE (:before = 0 OR r.id < :before)
  AND {optional("r.grid_id", "grid_id")}
  AND {optional("g.community_id", "community_id")}
  AND (CAST(:grid_ids AS bigint[]) IS NULL OR r.grid_id = ANY (CAST(:grid_ids AS bigint[]))
       OR r.assigned_user_id = CAST(:or_assigned_to AS bigint))
  AND {optional("r.state", "state", "text")}
  AND {optional("r.service_code", "service_code", "text")}
  AND {optional("r.assigned_user_id", "assigned_user_id")}
  AND (CAST(:overdue AS boolean) IS NULL OR ({OPEN} AND r.deadline < now()) = :overdue)
ORDER BY r.id DESC
LIMIT :limit
"""
ONE_SQL = f"SELECT {COLUMNS} {FROM} WHERE r.id = :id"
BY_CLIENT_SQL = f"SELECT {COLUMNS} {FROM} WHERE r.client_id = :client_id"

INSERT_SQL = """
INSERT INTO requests (client_id, service_code, grid_id, household_id, resident_id, location, address, description,
                      requester_name, requester_phone, source, partner_id, reported_by, deadline, payload_sha256,
                      media_url)
SELECT :client_id, s.code, :grid_id, :household_id, :resident_id, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326),
       :address, :description, :requester_name, :requester_phone, :source, :partner_id, :reported_by,
       now() + make_interval(hours => s.deadline_hours), :payload_sha256, :media_url
FROM services s WHERE s.code = :service_code
ON CONFLICT (client_id) DO NOTHING
RETURNING id
"""
HISTORY_SQL = """
INSERT INTO request_history (case_id, version, action, from_state, to_state, user_id, role, note, detail)
VALUES (:case_id, :version, :action, :from_state, :to_state, :user_id, :role, :note, CAST(:detail AS jsonb))
"""
HISTORY_OF_SQL = """
SELECT version, action, from_state, to_state, user_id, role, at, note, detail
FROM request_history WHERE case_id = :id ORDER BY version
"""
# Columns an action may set (api.workflows.requests): the SET list is built from these names only.
CHANGEABLE = (
    "state",
    "updated_at",
    "status_notes",
    "assigned_user_id",
    "assigned_unit",
    "duplicate_of",
    "dispatched_at",
    "accepted_at",
    "completed_at",
    "closed_at",
    "rating",
    "rating_comment",
)

# The same service within `metres` and `days` of a request: the GiST index narrows by a box in degrees (generous:
# 1° of longitude is ≥ 65 km anywhere in China), the geography distance decides. Duplicates point at their parent.
NEARBY_SQL = """
SELECT o.id, o.state, o.requested_at,
       ST_Distance(o.location::geography, p.location::geography) AS distance_m,
       abs(extract(epoch FROM o.requested_at - p.requested_at)) / 86400.0 AS days_apart
FROM (SELECT :service_code AS service_code, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS location,
             CAST(:at AS timestamptz) AS requested_at) p
JOIN requests o ON o.service_code = p.service_code
WHERE o.id <> :exclude
  AND o.state <> 'duplicate'
  AND o.location && ST_Expand(p.location, :metres / 50000.0)
  AND ST_DWithin(o.location::geography, p.location::geography, :metres)
  AND o.requested_at BETWEEN p.requested_at - make_interval(days => :days)
                         AND p.requested_at + make_interval(days => :days)
ORDER BY distance_m, o.id
LIMIT :limit
"""

GRID_AT_SQL = """
SELECT id, community_id FROM grids
WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) ORDER BY id LIMIT 1
"""
# A party member's grids are their account's grid scopes (row-level security gives them households, not grids).
# A party member who may be given a request of `community`: an enabled account with a grid there.
MEMBER_IN_COMMUNITY_SQL = """
SELECT EXISTS (
    SELECT 1 FROM users u JOIN user_scopes s ON s.user_id = u.id AND s.level = 'grid' JOIN grids g ON g.code = s.code
    WHERE u.id = :user AND u.role = 'party_member' AND NOT u.disabled AND g.community_id = :community)
"""


def services(conn: Connection, code: str | None = None) -> list[dict]:
    """The active services (Open311 service codes), or the one with `code`."""
    return [dict(row) for row in conn.execute(text(SERVICES_SQL), {"code": code}).mappings()]


def grid_at(conn: Connection, lon: float, lat: float) -> dict | None:
    """The grid a point lies in (id, community_id), or None."""
    row = conn.execute(text(GRID_AT_SQL), {"lon": lon, "lat": lat}).mappings().first()
    return None if row is None else dict(row)


def member_in_community(conn: Connection, user_id: int, community_id: int | None) -> bool:
    if community_id is None:
        return False
    return bool(conn.scalar(text(MEMBER_IN_COMMUNITY_SQL), {"user": user_id, "community": community_id}))


def insert(conn: Connection, values: dict[str, Any]) -> int | None:
    """Store a request; None when its client_id is already stored (the caller compares the payloads)."""
    defaults = {"client_id": None, "household_id": None, "resident_id": None, "address": None, "partner_id": None}
    defaults |= {"requester_name": None, "requester_phone": None, "reported_by": None, "media_url": None}
    return conn.scalar(text(INSERT_SQL), defaults | values)


def request(conn: Connection, request_id: int) -> dict | None:
    row = conn.execute(text(ONE_SQL), {"id": request_id}).mappings().first()
    return None if row is None else dict(row)


def by_client_id(conn: Connection, client_id: str) -> dict | None:
    row = conn.execute(text(BY_CLIENT_SQL), {"client_id": client_id}).mappings().first()
    return None if row is None else dict(row)


def page(
    conn: Connection,
    *,
    before: int,
    limit: int,
    grid_id: int | None = None,
    community_id: int | None = None,
    state: str | None = None,
    service_code: str | None = None,
    assigned_user_id: int | None = None,
    overdue: bool | None = None,
    grid_ids: list[int] | None = None,
    or_assigned_to: int | None = None,
) -> list[dict]:
    """Up to `limit` visible requests with ids below `before` (0: from the newest), newest first.

    `grid_ids` with `or_assigned_to`: the user's grids (api.access.case_grids) and the user, given again on top of
    row-level security — requests in those grids or dispatched to the user (a party member may be given one
    anywhere in the community) — so that the planner reads them through requests_grid_idx and
    requests_assigned_idx instead of walking every request newest first, testing the policy on each."""
    params = {
        "before": before,
        "limit": limit,
        "grid_id": grid_id,
        "community_id": community_id,
        "grid_ids": grid_ids,
        "or_assigned_to": or_assigned_to,
        "state": state,
        "service_code": service_code,
        "assigned_user_id": assigned_user_id,
        "overdue": overdue,
    }
    return [dict(row) for row in conn.execute(text(PAGE_SQL), params).mappings()]


def history(conn: Connection, request_id: int) -> list[dict]:
    return [dict(row) for row in conn.execute(text(HISTORY_OF_SQL), {"id": request_id}).mappings()]


def add_history(
    conn: Connection,
    *,
    request_id: int,
    version: int,
    action: str,
    from_state: str | None,
    to_state: str,
    user_id: int | None,
    role: str | None,
    note: str | None,
    detail: str,
) -> None:
    """Append one row (the table is append-only for the server's role); `detail` is JSON text."""
    params = {"case_id": request_id, "version": version, "action": action, "from_state": from_state}
    params |= {"to_state": to_state, "user_id": user_id, "role": role, "note": note, "detail": detail}
    conn.execute(text(HISTORY_SQL), params)


def apply(conn: Connection, request_id: int, version: int, values: dict[str, Any]) -> int | None:
    """Set `values` if the request is still at `version`, bumping it; the new version, or None when another change
    came first (or the request is not visible)."""
    columns = [c for c in CHANGEABLE if c in values]
    sets = ", ".join(f"{c} = :{c}" for c in columns)
    sql = f"UPDATE requests SET {sets}, version = version + 1 WHERE id = :id AND version = :version RETURNING version"
    return conn.scalar(text(sql), {c: values[c] for c in columns} | {"id": request_id, "version": version})


def nearby(
    conn: Connection,
    *,
    service_code: str,
    lon: float,
    lat: float,
    at: datetime,
    exclude: int = 0,
    metres: float = 50.0,
    days: int = 7,
    limit: int = 20,
) -> list[dict]:
    """Visible requests of the same service within `metres` and `days` of a point and time: possible duplicates."""
    params = {"service_code": service_code, "lon": lon, "lat": lat, "at": at, "exclude": exclude}
    params |= {"metres": metres, "days": days, "limit": limit}
    return [dict(row) for row in conn.execute(text(NEARBY_SQL), params).mappings()]
