"""Open311 partner apps (their keys, by SHA-256 only) and the requests GeoReport v2 serves.

Two readings of the requests, each a fixed list of columns: `FULL` for a partner's own requests (read under its
partner scope, so row-level security passes only those), `PUBLIC` for anyone (read under the system scope, and so
selecting nothing personal: no description, notes, requester, household or exact point — the point of the request's
grid instead, which hundreds of households share)."""

from datetime import datetime

from sqlalchemy import Connection, text

ADD_SQL = "INSERT INTO open311_partners (name, key_hash) VALUES (:name, :hash) ON CONFLICT DO NOTHING RETURNING id"
BY_HASH_SQL = "SELECT id, name, revoked_at FROM open311_partners WHERE key_hash = :hash"
LIST_SQL = """
SELECT p.id, p.name, p.created_at, p.revoked_at, (SELECT count(*) FROM requests r WHERE r.partner_id = p.id) AS posted
FROM open311_partners p ORDER BY p.id
"""
REVOKE_SQL = "UPDATE open311_partners SET revoked_at = now() WHERE name = :name AND revoked_at IS NULL RETURNING id"
EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM open311_partners WHERE name = :name)"

COMMON = """
    r.id, r.service_code, s.name AS service_name, s.deadline_hours, r.state, r.assigned_unit, r.requested_at,
    r.updated_at, r.completed_at, r.closed_at, r.deadline, g.code AS grid_code, g.name AS grid_name,
    c.name AS community_name"""
FULL = f"""{COMMON}, r.description, r.status_notes, r.media_url, r.address, r.partner_id, r.version,
    r.assigned_user_id, ST_X(r.location) AS lon, ST_Y(r.location) AS lat"""
PUBLIC = f"""{COMMON}, ST_X(ST_PointOnSurface(g.geom)) AS lon, ST_Y(ST_PointOnSurface(g.geom)) AS lat"""
FROM = """FROM requests r JOIN services s ON s.code = r.service_code
LEFT JOIN grids g ON g.id = r.grid_id LEFT JOIN communities c ON c.id = g.community_id"""
BY_IDS = "r.id = ANY (CAST(:ids AS bigint[]))"
BY_FILTERS = """(CAST(:codes AS text[]) IS NULL OR r.service_code = ANY (CAST(:codes AS text[])))
  AND r.requested_at BETWEEN :start AND :end
  AND (CAST(:states AS text[]) IS NULL OR r.state = ANY (CAST(:states AS text[])))"""
ORDER = "ORDER BY r.requested_at DESC, r.id DESC LIMIT :limit OFFSET :offset"


def add_partner(conn: Connection, name: str, key_hash: bytes) -> int | None:
    """A partner with this key's hash; None when the name is taken."""
    return conn.scalar(text(ADD_SQL), {"name": name, "hash": key_hash})


def partner_named(conn: Connection, name: str) -> bool:
    return bool(conn.scalar(text(EXISTS_SQL), {"name": name}))


def partner_by_key_hash(conn: Connection, key_hash: bytes) -> dict | None:
    row = conn.execute(text(BY_HASH_SQL), {"hash": key_hash}).mappings().first()
    return None if row is None else dict(row)


def partners(conn: Connection) -> list[dict]:
    return [dict(row) for row in conn.execute(text(LIST_SQL)).mappings()]


def revoke_partner(conn: Connection, name: str) -> bool:
    """Revoke the key of the partner `name`; False when there is no such partner with a live key."""
    return conn.scalar(text(REVOKE_SQL), {"name": name}) is not None


def service_requests(
    conn: Connection,
    *,
    public: bool,
    ids: list[int] | None = None,
    codes: list[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    states: list[str] | None = None,
    limit: int = 1000,
    offset: int = 0,
) -> list[dict]:
    """Requests newest first: those with `ids` (which overrides every other filter, as the spec says), or those of
    `codes` and `states` requested between `start` and `end`. `public`: the columns anyone may read."""
    columns = PUBLIC if public else FULL
    where = BY_IDS if ids is not None else BY_FILTERS
    params: dict[str, object] = {"ids": ids, "codes": codes, "start": start, "end": end, "states": states}
    params |= {"limit": limit, "offset": offset}
    sql = f"SELECT {columns} {FROM} WHERE {where} {ORDER}"
    return [dict(row) for row in conn.execute(text(sql), params).mappings()]
