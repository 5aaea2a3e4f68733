"""Hazards (隐患) and their history, read and written on a connection under the signed-in user's scope: row-level
security (migration 0009) shows each user the hazards of their grids, the ones they reported and the ones
dispatched to them. A change is `UPDATE … WHERE version = :expected` and its history row is appended in the same
transaction; the workflow (api.workflows.hazards) decides what the change is."""

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, text

from api.storage.filters import optional
from api.workflows.hazards import OVERDUE_STATES

_OVERDUE_IN = ", ".join(f"'{s}'" for s in OVERDUE_STATES)  # constants of the workflow, not values from a request
OVERDUE_SQL = f"(h.state IN ({_OVERDUE_IN}) AND h.deadline < now())"

HAZARD_COLUMNS = f"""
    h.id, h.client_id, h.category, c.name AS category_name, c.deadline_hours AS category_hours, h.severity,
    h.grid_id, g.code AS grid_code, h.building_id, h.household_id, ST_X(h.location) AS lon, ST_Y(h.location) AS lat,
    h.description, h.photo_sha256, h.state, h.version, h.reported_by, h.reported_at, h.deadline, h.extensions,
    h.assigned_unit, h.assigned_user_id, h.resume_state, h.suspended_at, h.updated_at, h.closed_at,
    h.payload_sha256, {OVERDUE_SQL} AS overdue, now() AS now"""
FROM_HAZARDS = """
FROM hazards h JOIN hazard_categories c ON c.code = h.category LEFT JOIN grids g ON g.id = h.grid_id"""
HAZARD_SQL = f"SELECT {HAZARD_COLUMNS} {FROM_HAZARDS} WHERE h.id = :id"
BY_CLIENT_ID_SQL = "SELECT id, payload_sha256 FROM hazards WHERE client_id = :client_id"

# Keyset pagination by id; every filter optional. Row-level security keeps the page inside the user's places.
HAZARDS_PAGE_SQL = f"""
SELECT {HAZARD_COLUMNS} {FROM_HAZARDS}
WHERE h.id > :after
  AND {optional("h.grid_id", "grid_id")}
  AND (CAST(:community_id AS bigint) IS NULL OR g.community_id = :community_id)
  AND (CAST(:grid_ids AS bigint[]) IS NULL OR h.grid_id = ANY (CAST(:grid_ids AS bigint[])))
  AND {optional("h.state", "state", "text")}
  AND {optional("h.category", "category", "text")}
  AND (CAST(:overdue AS boolean) IS NULL OR {OVERDUE_SQL} = :overdue)
  AND (CAST(:reported_from AS timestamptz) IS NULL OR h.reported_at >= :reported_from)
  AND (CAST(:reported_to AS timestamptz) IS NULL OR h.reported_at < :reported_to)
ORDER BY h.id
LIMIT :limit
"""

HISTORY_SQL = """
SELECT version, action, from_state, to_state, user_id, role, at, note, detail
FROM hazard_history WHERE case_id = :id ORDER BY version
"""

INSERT_HAZARD_SQL = """
INSERT INTO hazards (client_id, category, severity, grid_id, building_id, household_id, location, description,
                     photo_sha256, state, version, reported_by, reported_at, deadline, payload_sha256)
SELECT :client_id, c.code, :severity, :grid_id, :building_id, :household_id,
       ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :description, :photo_sha256, 'reported', 1, :reported_by, now(),
       now() + make_interval(hours => c.deadline_hours), :payload_sha256
FROM hazard_categories c WHERE c.code = :category
ON CONFLICT (client_id) DO NOTHING
RETURNING id
"""

INSERT_HISTORY_SQL = """
INSERT INTO hazard_history (case_id, version, action, from_state, to_state, user_id, role, at, note, detail)
VALUES (:case_id, :version, :action, :from_state, :to_state, :user_id, :role, coalesce(:at, now()), :note,
        CAST(:detail AS jsonb))
"""

# The fields a transition may change (api.workflows.hazards.Hazard), guarded by the version the change was made on.
UPDATE_SQL = """
UPDATE hazards SET state = :state, version = :version + 1, deadline = :deadline, extensions = :extensions,
       assigned_unit = :assigned_unit, assigned_user_id = :assigned_user_id, resume_state = :resume_state,
       suspended_at = :suspended_at, closed_at = :closed_at, updated_at = now()
WHERE id = :id AND version = :version
"""

CATEGORIES_SQL = """
SELECT code, name, deadline_hours, standard_code FROM hazard_categories WHERE active ORDER BY code = 'other', code
"""
CATEGORY_SQL = "SELECT code, name, deadline_hours FROM hazard_categories WHERE code = :code AND active"
PHOTO_SQL = "SELECT EXISTS (SELECT 1 FROM photos WHERE sha256 = :sha256)"
GRID_AT_SQL = """
SELECT id FROM grids WHERE ST_Covers(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) ORDER BY id LIMIT 1
"""
HOUSEHOLD_PLACE_SQL = "SELECT building_id, grid_id FROM households WHERE id = :id"

# The grids a user reports hazards in: a party member's are the grids of their scopes and of their 中心户's
# households (gridmap_user_grids gives party members none); the other field roles', those of their scopes.
# Whether a user may be dispatched a hazard of a grid: enabled, of a field role, and the grid within their places.
ASSIGNEE_SQL = """
SELECT u.role, u.disabled,
       u.role = 'admin' OR :grid IN (SELECT gridmap_user_grids(u.id))
       OR (u.role = 'party_member' AND :grid IN (
           SELECT g.id FROM user_scopes s JOIN grids g ON g.code = s.code WHERE s.user_id = u.id AND s.level = 'grid'
           UNION SELECT h.grid_id FROM households h WHERE h.id IN (SELECT gridmap_user_households(u.id))
       )) AS covers
FROM users u WHERE u.id = :id
"""


def categories(conn: Connection) -> list[dict]:
    return [dict(row) for row in conn.execute(text(CATEGORIES_SQL)).mappings()]


def category(conn: Connection, code: str) -> dict | None:
    row = conn.execute(text(CATEGORY_SQL), {"code": code}).mappings().first()
    return None if row is None else dict(row)


def photo_visible(conn: Connection, sha256: str) -> bool:
    """Whether the photo is uploaded and the user may see it (their own, or shown by a row they see)."""
    return bool(conn.scalar(text(PHOTO_SQL), {"sha256": sha256}))


def grid_at(conn: Connection, lon: float, lat: float) -> int | None:
    """The grid covering the point (the first by id, should grids touch)."""
    return conn.scalar(text(GRID_AT_SQL), {"lon": lon, "lat": lat})


def household_place(conn: Connection, household_id: int) -> tuple[int, int | None] | None:
    """The building and grid of a household the user sees (None: not stored or not theirs)."""
    row = conn.execute(text(HOUSEHOLD_PLACE_SQL), {"id": household_id}).first()
    return None if row is None else (row.building_id, row.grid_id)


def assignee(conn: Connection, user_id: int, grid_id: int | None) -> dict | None:
    """The role of a user to be dispatched a hazard, whether the account is disabled, and whether the grid lies
    within their places; None when no such user is stored."""
    row = conn.execute(text(ASSIGNEE_SQL), {"id": user_id, "grid": grid_id}).mappings().first()
    return None if row is None else dict(row)


def by_client_id(conn: Connection, client_id: UUID) -> dict | None:
    """The hazard a phone's client_id stands for, if the user sees it: its id and the hash of what was sent."""
    row = conn.execute(text(BY_CLIENT_ID_SQL), {"client_id": client_id}).mappings().first()
    return None if row is None else dict(row)


def insert_hazard(conn: Connection, values: dict[str, Any]) -> int | None:
    """A new hazard in state reported, version 1, due after its category's hours; None when its client_id is
    already stored (a retry, or another entry's: the caller tells which)."""
    return conn.scalar(text(INSERT_HAZARD_SQL), values)


def append_history(
    conn: Connection,
    case_id: int,
    *,
    version: int,
    action: str,
    from_state: str | None,
    to_state: str,
    user_id: int,
    role: str,
    note: str | None,
    detail: dict[str, Any],
    at: datetime | None = None,
) -> None:
    params = {
        "case_id": case_id,
        "version": version,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "user_id": user_id,
        "role": role,
        "at": at,
        "note": note,
        "detail": json.dumps(detail, ensure_ascii=False),
    }
    conn.execute(text(INSERT_HISTORY_SQL), params)


def hazard(conn: Connection, hazard_id: int) -> dict | None:
    """One hazard the user sees, with the overdue flag and the transaction's time (`now`)."""
    row = conn.execute(text(HAZARD_SQL), {"id": hazard_id}).mappings().first()
    return None if row is None else dict(row)


def history(conn: Connection, hazard_id: int) -> list[dict]:
    return [dict(row) for row in conn.execute(text(HISTORY_SQL), {"id": hazard_id}).mappings()]


def hazards_page(
    conn: Connection,
    *,
    after: int,
    limit: int,
    grid_id: int | None = None,
    community_id: int | None = None,
    grid_ids: list[int] | None = None,
    state: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    reported_from: datetime | None = None,
    reported_to: datetime | None = None,
) -> list[dict]:
    """Up to `limit` hazards with ids above `after`, by id; `reported_to` is exclusive.

    `grid_ids`: the user's grids (api.access.case_grids), given again on top of row-level security so that the
    planner reads them through hazards_grid_idx instead of walking every hazard by id, testing the policy on each."""
    params = {
        "after": after,
        "limit": limit,
        "grid_id": grid_id,
        "community_id": community_id,
        "grid_ids": grid_ids,
        "state": state,
        "category": category,
        "overdue": overdue,
        "reported_from": reported_from,
        "reported_to": reported_to,
    }
    return [dict(row) for row in conn.execute(text(HAZARDS_PAGE_SQL), params).mappings()]


def update_hazard(conn: Connection, hazard_id: int, expected_version: int, fields: dict[str, Any]) -> bool:
    """Write the workflow's fields if the hazard is still at `expected_version` (False: someone changed it first;
    the row lock makes a concurrent change wait for the first one and then find the version moved)."""
    params = {**fields, "id": hazard_id, "version": expected_version}
    return conn.execute(text(UPDATE_SQL), params).rowcount == 1
