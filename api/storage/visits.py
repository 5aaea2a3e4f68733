"""Visit rules, visits (走访) and the inputs of a due list, on a connection under the signed-in user's scope: row-level
security (migration 0009) shows each user the visits of their places (a party member: of their 中心户's
households) and their own. Visit rules hold no personal data and have no policy."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from api.errors import UnknownPhoto
from api.visits.rules import DEFAULT_VISIT_RULES, Rule

RULE_COLUMNS = "id, community_id, tag, role, kind, interval_days, active, label"
RULES_SQL = f"""
SELECT {RULE_COLUMNS} FROM visit_rules
WHERE community_id IS NULL OR community_id = ANY (CAST(:communities AS bigint[]))
ORDER BY id
"""
INSERT_RULE_SQL = """
INSERT INTO visit_rules (community_id, tag, role, kind, interval_days, active, label)
VALUES (:community_id, :tag, :role, :kind, :interval_days, :active, :label)
RETURNING id
"""
SEED_DEFAULTS_SQL = """
INSERT INTO visit_rules (community_id, tag, role, kind, interval_days, label)
VALUES (NULL, :tag, :role, :kind, :interval_days, :label)
ON CONFLICT DO NOTHING
"""


def _rule(row: Any) -> Rule:
    return Rule(**dict(row._mapping))


def rules_of(conn: Connection, community_ids: Sequence[int]) -> list[Rule]:
    """The default rules and the own rules of these communities."""
    rows = conn.execute(text(RULES_SQL), {"communities": [int(c) for c in community_ids]})
    return [_rule(r) for r in rows]


def replace_community_rules(conn: Connection, community_id: int, rules: Sequence[dict]) -> list[int]:
    """The community's own rules replaced by `rules` (tag, role, kind, interval_days, active, label); their ids."""
    conn.execute(text("DELETE FROM visit_rules WHERE community_id = :c"), {"c": community_id})
    return [int(conn.scalar(text(INSERT_RULE_SQL), {**r, "community_id": community_id})) for r in rules]


def seed_default_rules(conn: Connection) -> None:
    """The default rules stored again where missing (the tests' databases empty them with the places)."""
    for tag, role, interval, kind, label in DEFAULT_VISIT_RULES:
        params = {"tag": tag, "role": role, "interval_days": interval, "kind": kind, "label": label}
        conn.execute(text(SEED_DEFAULTS_SQL), params)


# The households of a due list: those of the given grids (or households) carrying a tag some rule names.
DUE_HOUSEHOLDS_SQL = """
SELECT h.id, h.building_id, h.grid_id, g.code AS grid_code, g.community_id, h.unit, h.room, h.tags
FROM households h JOIN grids g ON g.id = h.grid_id
WHERE (CAST(:grid_ids AS bigint[]) IS NULL OR h.grid_id = ANY (CAST(:grid_ids AS bigint[])))
  AND (CAST(:household_ids AS bigint[]) IS NULL OR h.id = ANY (CAST(:household_ids AS bigint[])))
  AND h.tags && CAST(:tags AS text[])
ORDER BY h.id
"""
# The latest visit of each kind by someone of the role, per household (index visits_household_idx).
LAST_VISITS_SQL = """
SELECT household_id, kind, max(visited_at) AS at
FROM visits
WHERE household_id = ANY (CAST(:households AS bigint[])) AND role = :role
GROUP BY household_id, kind
"""
COMMUNITIES_OF_GRIDS_SQL = "SELECT DISTINCT community_id FROM grids WHERE id = ANY (CAST(:grids AS bigint[]))"


def due_households(
    conn: Connection, *, tags: Sequence[str], grid_ids: list[int] | None = None, household_ids: list[int] | None = None
) -> list[dict]:
    params = {"grid_ids": grid_ids, "household_ids": household_ids, "tags": list(tags)}
    return [dict(r) for r in conn.execute(text(DUE_HOUSEHOLDS_SQL), params).mappings()]


def last_visits(conn: Connection, household_ids: Sequence[int], role: str) -> dict[int, dict[str, datetime]]:
    out: dict[int, dict[str, datetime]] = {}
    rows = conn.execute(text(LAST_VISITS_SQL), {"households": [int(h) for h in household_ids], "role": role})
    for household_id, kind, at in rows:
        out.setdefault(int(household_id), {})[kind] = at
    return out


COMMUNITIES_OF_HOUSEHOLDS_SQL = """
SELECT DISTINCT g.community_id FROM households h JOIN grids g ON g.id = h.grid_id
WHERE h.id = ANY (CAST(:households AS bigint[]))
"""
RULE_TAGS_SQL = "SELECT DISTINCT tag FROM visit_rules WHERE role = :role AND active ORDER BY tag"


def communities_of_households(conn: Connection, household_ids: Sequence[int]) -> list[int]:
    rows = conn.scalars(text(COMMUNITIES_OF_HOUSEHOLDS_SQL), {"households": [int(h) for h in household_ids]})
    return [int(c) for c in rows if c is not None]


def rule_tags(conn: Connection, role: str) -> list[str]:
    """The tags some active rule of `role` names (in any community): the households worth reading for a due list."""
    return list(conn.scalars(text(RULE_TAGS_SQL), {"role": role}))


def communities_of_grids(conn: Connection, grid_ids: Sequence[int]) -> list[int]:
    rows = conn.scalars(text(COMMUNITIES_OF_GRIDS_SQL), {"grids": [int(g) for g in grid_ids]})
    return [int(c) for c in rows if c is not None]


# Where a due list's walk starts by default: a point inside the grids (their centre when it lies inside).
GRIDS_CENTRE_SQL = """
SELECT ST_X(p), ST_Y(p) FROM (
    SELECT CASE WHEN ST_Contains(u, ST_Centroid(u)) THEN ST_Centroid(u) ELSE ST_PointOnSurface(u) END AS p
    FROM (SELECT ST_Union(geom) AS u FROM grids WHERE id = ANY (CAST(:grids AS bigint[]))) a
) c
"""


def grids_centre(conn: Connection, grid_ids: Sequence[int]) -> tuple[float, float] | None:
    row = conn.execute(text(GRIDS_CENTRE_SQL), {"grids": [int(g) for g in grid_ids]}).first()
    return None if row is None or row[0] is None else (float(row[0]), float(row[1]))


VISIBLE_HOUSEHOLD_SQL = "SELECT id, grid_id, building_id FROM households WHERE id = :id"


def visible_household(conn: Connection, household_id: int) -> dict | None:
    """The household if the user's scope shows it (row-level security), else None."""
    row = conn.execute(text(VISIBLE_HOUSEHOLD_SQL), {"id": household_id}).mappings().first()
    return None if row is None else dict(row)


VISIT_COLUMNS = """
    v.id, v.client_id, v.household_id, g.code AS grid_code, v.user_id, v.role, v.kind, v.visited_at, v.received_at,
    ST_X(v.location) AS lon, ST_Y(v.location) AS lat, v.distance_m, v.far, v.notes, v.photo_sha256,
    v.payload_sha256"""
VISIT_BY_CLIENT_SQL = f"SELECT {VISIT_COLUMNS} FROM visits v LEFT JOIN grids g ON g.id = v.grid_id WHERE client_id = :c"
VISIT_SQL = f"SELECT {VISIT_COLUMNS} FROM visits v LEFT JOIN grids g ON g.id = v.grid_id WHERE v.id = :id"
# Stored with the household's grid, the visitor and their role, and the distance to the household's building
# (metres on the spheroid; 0 inside it). A client_id stored meanwhile (a retry racing this one) inserts nothing.
INSERT_VISIT_SQL = """
INSERT INTO visits (client_id, household_id, grid_id, user_id, role, kind, visited_at, location, distance_m, far,
                    notes, photo_sha256, payload_sha256)
SELECT :client_id, h.id, h.grid_id, :user_id, :role, :kind, :visited_at, p.pt, d.m, coalesce(d.m > :far_m, false),
       :notes, :photo_sha256, :payload_sha256
FROM households h
JOIN buildings b ON b.id = h.building_id
CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_GeomFromGeoJSON(:location), 4326) AS pt) p
CROSS JOIN LATERAL (SELECT ST_Distance(b.geom::geography, p.pt::geography) AS m) d
WHERE h.id = :household_id
ON CONFLICT (client_id) DO NOTHING
RETURNING id
"""


def visit_by_client_id(conn: Connection, client_id: uuid.UUID) -> dict | None:
    row = conn.execute(text(VISIT_BY_CLIENT_SQL), {"c": client_id}).mappings().first()
    return None if row is None else dict(row)


def visit(conn: Connection, visit_id: int) -> dict | None:
    row = conn.execute(text(VISIT_SQL), {"id": visit_id}).mappings().first()
    return None if row is None else dict(row)


PHOTO_FOREIGN_KEY = "visits_photo_sha256_fkey"


def insert_visit(conn: Connection, values: dict[str, Any], far_m: float) -> int | None:
    """The new visit's id, or None when its client_id is stored already (by a concurrent retry). A photo_sha256
    naming no stored photo: `UnknownPhoto` (the foreign key checks it whoever uploaded the photo; the statement
    runs in a savepoint, so the caller's transaction goes on)."""
    location = values.get("location")
    params = {**values, "location": None if location is None else json.dumps(location), "far_m": far_m}
    try:
        with conn.begin_nested():
            found = conn.scalar(text(INSERT_VISIT_SQL), params)
    except IntegrityError as exc:
        if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) == PHOTO_FOREIGN_KEY:
            raise UnknownPhoto(
                f"photo_sha256: no photo {values['photo_sha256']} is stored; PUT /photos/{{sha256}} first"
            ) from None
        raise
    return None if found is None else int(found)


# A page of visits, newest first (by id: the order they were received), of a household or of grids, in a period.
VISITS_PAGE_SQL = f"""
SELECT {VISIT_COLUMNS}
FROM visits v LEFT JOIN grids g ON g.id = v.grid_id
WHERE v.id < :before
  AND (CAST(:household_id AS bigint) IS NULL OR v.household_id = :household_id)
  AND (CAST(:grid_ids AS bigint[]) IS NULL OR v.grid_id = ANY (CAST(:grid_ids AS bigint[])))
  AND (CAST(:household_ids AS bigint[]) IS NULL OR v.household_id = ANY (CAST(:household_ids AS bigint[])))
  AND (CAST(:start AS timestamptz) IS NULL OR v.visited_at >= :start)
  AND (CAST(:end AS timestamptz) IS NULL OR v.visited_at < :end)
ORDER BY v.id DESC
LIMIT :limit
"""


def visits_page(
    conn: Connection,
    *,
    before: int,
    limit: int,
    household_id: int | None = None,
    grid_ids: list[int] | None = None,
    household_ids: list[int] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[dict]:
    params = {
        "before": before,
        "limit": limit,
        "household_id": household_id,
        "grid_ids": grid_ids,
        "household_ids": household_ids,
        "start": start,
        "end": end,
    }
    return [dict(r) for r in conn.execute(text(VISITS_PAGE_SQL), params).mappings()]
