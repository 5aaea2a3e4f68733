"""Households (户) and residents (居民) read and written through the API, always on a connection under the signed-in
user's scope: row-level security (migration 0007) lets through the rows of their places only, so a query here
never names a place to stay inside it. Masking is the caller's (api.routers.residents); these are the rows."""

import json
from typing import Any

from sqlalchemy import Connection, text

from api.storage.filters import optional

HOUSEHOLD_COLUMNS = """
    h.id, h.building_id, h.grid_id, g.code AS grid_code, h.unit, h.room, h.size, h.tags, h.is_party_member,
    (SELECT count(*) FROM residents r WHERE r.household_id = h.id) AS residents,
    ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat"""

# One page after a cursor (the last id of the previous page): keyset pagination, stable while rows are added.
HOUSEHOLDS_PAGE_SQL = f"""
SELECT {HOUSEHOLD_COLUMNS}
FROM households h LEFT JOIN grids g ON g.id = h.grid_id
WHERE h.id > :after
  AND {optional("h.grid_id", "grid_id")}
  AND (CAST(:community_id AS bigint) IS NULL OR g.community_id = :community_id)
  AND (CAST(:grid_ids AS bigint[]) IS NULL OR h.grid_id = ANY (CAST(:grid_ids AS bigint[])))
  AND (CAST(:household_ids AS bigint[]) IS NULL OR h.id = ANY (CAST(:household_ids AS bigint[])))
ORDER BY h.id
LIMIT :limit
"""
HOUSEHOLD_SQL = f"SELECT {HOUSEHOLD_COLUMNS} FROM households h LEFT JOIN grids g ON g.id = h.grid_id WHERE h.id = :id"

RESIDENT_COLUMNS = "id, household_id, name, gender, birth_year, phone, id_masked, id_number, tags, relation"
RESIDENTS_SQL = f"SELECT {RESIDENT_COLUMNS} FROM residents WHERE household_id = :household_id ORDER BY id"
RESIDENT_SQL = f"SELECT {RESIDENT_COLUMNS} FROM residents WHERE id = :id"

# A new household stands in its building, in the building's grid, at the point given or on the building.
INSERT_HOUSEHOLD_SQL = """
INSERT INTO households (building_id, grid_id, unit, room, size, tags, is_party_member, source, source_id, geom)
SELECT b.id, b.grid_id, :unit, :room, :size, CAST(:tags AS text[]), :is_party_member, 'api', gen_random_uuid()::text,
       coalesce(ST_SetSRID(ST_GeomFromGeoJSON(:location), 4326), ST_PointOnSurface(b.geom))
FROM buildings b WHERE b.id = :building_id
RETURNING id
"""
INSERT_RESIDENT_SQL = """
INSERT INTO residents (household_id, name, gender, birth_year, phone, id_hash, id_masked, tags, relation, source,
                       source_id)
VALUES (:household_id, :name, :gender, :birth_year, :phone, :id_hash, :id_masked, CAST(:tags AS text[]), :relation,
        'api', gen_random_uuid()::text)
RETURNING id
"""
HOUSEHOLD_FIELDS = ("unit", "room", "size", "tags", "is_party_member")
RESIDENT_FIELDS = ("name", "gender", "birth_year", "phone", "id_hash", "id_masked", "tags", "relation")


def households_page(
    conn: Connection,
    *,
    after: int,
    limit: int,
    grid_id: int | None = None,
    community_id: int | None = None,
    grid_ids: list[int] | None = None,
    household_ids: list[int] | None = None,
) -> list[dict]:
    """Up to `limit` households with ids above `after`, by id, of a grid or community or every one visible.

    `grid_ids` / `household_ids`: the user's own, given again as a filter on top of row-level security, which
    tells the planner what the policy cannot (which grids, how many) so that a page is an index range and not a
    walk along every household of the district."""
    params = {
        "after": after,
        "limit": limit,
        "grid_id": grid_id,
        "community_id": community_id,
        "grid_ids": grid_ids,
        "household_ids": household_ids,
    }
    return [dict(row) for row in conn.execute(text(HOUSEHOLDS_PAGE_SQL), params).mappings()]


def household(conn: Connection, household_id: int) -> dict | None:
    row = conn.execute(text(HOUSEHOLD_SQL), {"id": household_id}).mappings().first()
    return None if row is None else dict(row)


def residents_of(conn: Connection, household_id: int) -> list[dict]:
    return [dict(row) for row in conn.execute(text(RESIDENTS_SQL), {"household_id": household_id}).mappings()]


def resident(conn: Connection, resident_id: int) -> dict | None:
    row = conn.execute(text(RESIDENT_SQL), {"id": resident_id}).mappings().first()
    return None if row is None else dict(row)


def building_grid(conn: Connection, building_id: int) -> tuple[bool, int | None]:
    """Whether the building is stored, and its grid."""
    row = conn.execute(text("SELECT grid_id FROM buildings WHERE id = :id"), {"id": building_id}).first()
    return (False, None) if row is None else (True, row.grid_id)


def create_household(conn: Connection, values: dict[str, Any], location: dict | None) -> int:
    params = {**values, "location": None if location is None else json.dumps(location)}
    return int(conn.scalar(text(INSERT_HOUSEHOLD_SQL), params))


def create_resident(conn: Connection, values: dict[str, Any]) -> int:
    return int(conn.scalar(text(INSERT_RESIDENT_SQL), values))


def _update(conn: Connection, table: str, allowed: tuple[str, ...], row_id: int, values: dict[str, Any]) -> bool:
    """Set `values` (keys from `allowed`, a whitelist: the column names come from it, never from the request);
    False when no row was visible to change."""
    columns = [c for c in allowed if c in values]
    if not columns:
        return conn.scalar(text(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE id = :id)"), {"id": row_id})
    sets = ", ".join(f"{c} = CAST(:{c} AS text[])" if c == "tags" else f"{c} = :{c}" for c in columns)
    extra = ", updated_at = now()" if table == "residents" else ""
    result = conn.execute(text(f"UPDATE {table} SET {sets}{extra} WHERE id = :id"), {**values, "id": row_id})
    return result.rowcount == 1


def update_household(conn: Connection, household_id: int, values: dict[str, Any]) -> bool:
    return _update(conn, "households", HOUSEHOLD_FIELDS, household_id, values)


def update_resident(conn: Connection, resident_id: int, values: dict[str, Any]) -> bool:
    return _update(conn, "residents", RESIDENT_FIELDS, resident_id, values)


def user_household_ids(conn: Connection, user_id: int) -> list[int]:
    """A party member's 中心户 household and those assigned to it (the helper row-level security uses)."""
    return list(conn.scalars(text("SELECT gridmap_user_households(:user)"), {"user": user_id}))


def id_number_registered(conn: Connection, id_hash: str, *, except_id: int | None = None) -> bool:
    """Whether a resident with this ID-number hash is stored, anywhere: the hash is unique over the whole table,
    so the check reads past the user's places (as gridmap's job) and says yes or no, nothing more."""
    sql = "SELECT gridmap_id_hash_taken(:hash, :except)"
    return bool(conn.scalar(text(sql), {"hash": id_hash, "except": except_id}))
