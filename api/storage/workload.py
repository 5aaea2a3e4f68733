"""What the workload tables (gis.workload) are computed from: households with their tags, grids, center households
and grid workers. Ids are read as text, the references gis.workload joins on."""

import pandas as pd
from sqlalchemy import Connection, text


def grid_inputs(conn: Connection) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Households (grid, tags), grids (community, code) and the center households."""
    households = pd.read_sql(
        text("SELECT id::text AS source_id, grid_id::text AS grid_ref, tags FROM households"), conn
    )
    grids = pd.read_sql(
        text("SELECT id::text AS source_id, community_id::text AS community_ref, code FROM grids ORDER BY code"), conn
    )
    centers = pd.read_sql(text("SELECT household_id::text AS household_ref FROM center_households"), conn)
    return households, grids, centers


def grid_workers(conn: Connection) -> pd.DataFrame:
    """Each grid worker (网格员) with the grids assigned to them."""
    return pd.read_sql(
        text(
            "SELECT w.id::text AS source_id, w.name, "
            "coalesce(array_agg(g.grid_id::text) FILTER (WHERE g.grid_id IS NOT NULL), '{}') AS grid_refs "
            "FROM grid_workers w LEFT JOIN grid_worker_grids g ON g.worker_id = w.id "
            "GROUP BY w.id, w.name ORDER BY w.id"
        ),
        conn,
    )
