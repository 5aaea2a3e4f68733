"""What the worker map (/maps/worker) draws of a user's grids, read on a connection under the user's scope: row-level
security lets through only the households, hazards and requests of their places (a party member: their 中心户's
households), so the counts per building are of what the user may see. No names: households by unit and room."""

from collections.abc import Sequence

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from api.storage.hazards import OVERDUE_SQL

GRIDS_SQL = "SELECT id, code, name, geom AS geometry FROM grids WHERE id = ANY (CAST(:grids AS bigint[])) ORDER BY id"
# Buildings of the grids with the households the user may see in each, and how many of them need special care.
BUILDINGS_SQL = """
SELECT b.id, b.name, b.kind, ST_X(ST_PointOnSurface(b.geom)) AS lon, ST_Y(ST_PointOnSurface(b.geom)) AS lat,
       count(h.id) AS households, count(h.id) FILTER (WHERE h.tags && CAST(:care AS text[])) AS care,
       b.geom AS geometry
FROM buildings b LEFT JOIN households h ON h.building_id = b.id
WHERE b.grid_id = ANY (CAST(:grids AS bigint[]))
GROUP BY b.id
ORDER BY b.id
"""
HOUSEHOLDS_SQL = """
SELECT h.id, h.building_id, h.unit, h.room FROM households h JOIN buildings b ON b.id = h.building_id
WHERE b.grid_id = ANY (CAST(:grids AS bigint[]))
ORDER BY h.building_id, h.unit, h.room, h.id
"""
OPEN_HAZARDS_SQL = f"""
SELECT h.id, h.category, c.name AS category_name, h.severity, h.state, h.description, h.building_id,
       {OVERDUE_SQL} AS overdue,
       ST_X(h.location) AS lon, ST_Y(h.location) AS lat
FROM hazards h JOIN hazard_categories c ON c.code = h.category
WHERE h.state NOT IN ('closed', 'rejected') AND (h.grid_id = ANY (CAST(:grids AS bigint[])) OR h.reported_by = :user)
ORDER BY h.id
"""
OPEN_REQUESTS_SQL = """
SELECT r.id, s.name AS service_name, r.state, r.description, r.deadline < now() AS overdue,
       ST_X(r.location) AS lon, ST_Y(r.location) AS lat
FROM requests r JOIN services s ON s.code = r.service_code
WHERE r.state IN ('submitted', 'dispatched', 'accepted')
  AND (r.grid_id = ANY (CAST(:grids AS bigint[])) OR r.assigned_user_id = :user)
ORDER BY r.id
"""
# What the page stands for besides the layers' counters: the field work of the grids the user may see (a visit
# logged, a hazard or request reported or moved on changes one of these figures).
FIELD_WORK_STAMP_SQL = """
SELECT (SELECT count(*) || ':' || coalesce(max(v.id), 0) FROM visits v
        JOIN households h ON h.id = v.household_id WHERE h.grid_id = ANY (CAST(:grids AS bigint[]))),
       (SELECT count(*) || ':' || coalesce(max(id), 0) || ':' || coalesce(sum(version), 0) FROM hazards
        WHERE grid_id = ANY (CAST(:grids AS bigint[])) OR reported_by = :user),
       (SELECT count(*) || ':' || coalesce(max(id), 0) || ':' || coalesce(sum(version), 0) FROM requests
        WHERE grid_id = ANY (CAST(:grids AS bigint[])) OR assigned_user_id = :user)
"""


def _params(grid_ids: Sequence[int], user_id: int) -> dict:
    return {"grids": [int(g) for g in grid_ids], "user": int(user_id)}


def grids(conn: Connection, grid_ids: Sequence[int]) -> gpd.GeoDataFrame:
    return gpd.read_postgis(text(GRIDS_SQL), conn, params=_params(grid_ids, 1), geom_col="geometry", crs=4326)


def buildings(conn: Connection, grid_ids: Sequence[int], care_tags: Sequence[str]) -> gpd.GeoDataFrame:
    params = {"grids": [int(g) for g in grid_ids], "care": list(care_tags)}
    return gpd.read_postgis(text(BUILDINGS_SQL), conn, params=params, geom_col="geometry", crs=4326)


def households(conn: Connection, grid_ids: Sequence[int]) -> pd.DataFrame:
    return pd.read_sql(text(HOUSEHOLDS_SQL), conn, params={"grids": [int(g) for g in grid_ids]})


def open_hazards(conn: Connection, grid_ids: Sequence[int], user_id: int) -> pd.DataFrame:
    return pd.read_sql(text(OPEN_HAZARDS_SQL), conn, params=_params(grid_ids, user_id))


def open_requests(conn: Connection, grid_ids: Sequence[int], user_id: int) -> pd.DataFrame:
    return pd.read_sql(text(OPEN_REQUESTS_SQL), conn, params=_params(grid_ids, user_id))


def field_work_stamp(conn: Connection, grid_ids: Sequence[int], user_id: int) -> tuple[str, ...]:
    row = conn.execute(text(FIELD_WORK_STAMP_SQL), _params(grid_ids, user_id)).one()
    return tuple(str(v) for v in row)
