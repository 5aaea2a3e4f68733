"""What the leader map (/maps/leader) reads: requests as points with their week and category, hazards that are not
about one household, the grids of the scope with their names, the request categories, and a fingerprint of the
two case tables for the page cache. No resident's field is read: no description, name, phone, household or
resident id. Read under gridmap's own scope and cut to the caller's grids by `grid_ids` (api.leader_map)."""

from datetime import datetime

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from api.storage.filters import optional

# Requests received in the period (not rejected, not merged as duplicates), with only what the map needs.
REQUEST_POINTS_SQL = f"""
SELECT q.service_code AS category, q.requested_at, q.location AS geometry
FROM requests q
WHERE q.grid_id = ANY (CAST(:grid_ids AS bigint[]))
  AND q.requested_at >= :start AND q.requested_at < :end
  AND q.state NOT IN ('rejected', 'duplicate')
  AND {optional("q.service_code", "category", "text")}
ORDER BY q.id
"""
# Hazards reported in the period, open or not, that concern a place rather than one household (a hazard tied to
# a household is counted in its grid's rates, never drawn where it is).
HAZARD_POINTS_SQL = """
SELECT h.category, coalesce(c.name, h.category) AS category_name, h.state, h.severity, h.reported_at,
       h.location AS geometry
FROM hazards h LEFT JOIN hazard_categories c ON c.code = h.category
WHERE h.grid_id = ANY (CAST(:grid_ids AS bigint[]))
  AND h.reported_at >= :start AND h.reported_at < :end
  AND h.state <> 'rejected' AND h.household_id IS NULL
ORDER BY h.id
"""
HAZARDS_AT_HOUSEHOLDS_SQL = """
SELECT count(*) FROM hazards h
WHERE h.grid_id = ANY (CAST(:grid_ids AS bigint[]))
  AND h.reported_at >= :start AND h.reported_at < :end
  AND h.state <> 'rejected' AND h.household_id IS NOT NULL
"""
GRIDS_SQL = """
SELECT g.id AS grid_id, g.code, coalesce(g.name, g.code) AS name, g.community_id, g.geom AS geometry
FROM grids g WHERE g.id = ANY (CAST(:grid_ids AS bigint[])) ORDER BY g.code
"""
COMMUNITIES_SQL = """
SELECT c.id, coalesce(c.name, c.code) AS name FROM communities c
WHERE c.id IN (SELECT g.community_id FROM grids g WHERE g.id = ANY (CAST(:grid_ids AS bigint[])))
ORDER BY c.id
"""
COMMUNITY_GRIDS_SQL = "SELECT id FROM grids WHERE community_id = :community_id"
COMMUNITY_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM communities WHERE id = :community_id)"
CATEGORIES_SQL = "SELECT code, name FROM services WHERE active ORDER BY code"
# Moves with every insert, update or delete of a request or hazard (each update sets updated_at): the page cache's
# stand-in for a layer counter, which the case tables do not have.
CASES_FINGERPRINT_SQL = """
SELECT (SELECT concat_ws('/', count(*), max(id), max(updated_at)) FROM requests)
    || '|' || (SELECT concat_ws('/', count(*), max(id), max(updated_at)) FROM hazards)
"""


def request_points(
    conn: Connection, grid_ids: list[int], start: datetime, end: datetime, category: str | None
) -> gpd.GeoDataFrame:
    params = {"grid_ids": grid_ids, "start": start, "end": end, "category": category}
    return gpd.read_postgis(text(REQUEST_POINTS_SQL), conn, params=params, geom_col="geometry", crs=4326)


def hazard_points(conn: Connection, grid_ids: list[int], start: datetime, end: datetime) -> gpd.GeoDataFrame:
    params = {"grid_ids": grid_ids, "start": start, "end": end}
    return gpd.read_postgis(text(HAZARD_POINTS_SQL), conn, params=params, geom_col="geometry", crs=4326)


def hazards_at_households(conn: Connection, grid_ids: list[int], start: datetime, end: datetime) -> int:
    params = {"grid_ids": grid_ids, "start": start, "end": end}
    return int(conn.scalar(text(HAZARDS_AT_HOUSEHOLDS_SQL), params) or 0)


def scope_grids(conn: Connection, grid_ids: list[int]) -> gpd.GeoDataFrame:
    return gpd.read_postgis(text(GRIDS_SQL), conn, params={"grid_ids": grid_ids}, geom_col="geometry", crs=4326)


def scope_communities(conn: Connection, grid_ids: list[int]) -> list[tuple[int, str]]:
    return [(int(r.id), str(r.name)) for r in conn.execute(text(COMMUNITIES_SQL), {"grid_ids": grid_ids})]


def community_grids(conn: Connection, community_id: int) -> set[int] | None:
    """The grids of a community; None when no such community is stored."""
    if not conn.scalar(text(COMMUNITY_EXISTS_SQL), {"community_id": community_id}):
        return None
    return set(conn.scalars(text(COMMUNITY_GRIDS_SQL), {"community_id": community_id}))


def categories(conn: Connection) -> pd.DataFrame:
    """Request categories (services): code and name."""
    return pd.read_sql(text(CATEGORIES_SQL), conn)


def cases_fingerprint(conn: Connection) -> str:
    return str(conn.scalar(text(CASES_FINGERPRINT_SQL)))
