"""What the maps draw, read from the stored layers (api.mapdata hands it to maps/, which never reads the database)."""

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from api.storage.filters import optional

# Columns each overview layer needs; geometry is read as 'geometry'.
OVERVIEW_LAYERS = {
    "grids": "code, name, community_id, source",
    "buildings": "kind, name, floors, households, source",
    "service_points": "type, level, name, hours, source",
    "compounds": "name, source",
    "communities": "code, name, source",
}
# Each counter with the transaction that wrote it (xmin): a connection inside a transaction that wrote and was then
# rolled back saw a counter that a later change reuses; xmin is never reused so. The 中心户 map also draws the
# stored run, replaced whole (TRUNCATE + INSERT) by each run: its row's id and xmin stand for it.
DRAWN_VERSIONS_SQL = """
SELECT layer, version, xmin::text FROM layer_versions WHERE layer = ANY(:layers)
UNION ALL
SELECT 'center_runs', id, xmin::text FROM center_runs WHERE :center_run
ORDER BY 1, 2
"""


def drawn_versions(
    conn: Connection, layers: tuple[str, ...], *, center_run: bool = False
) -> tuple[tuple[str, int, str], ...]:
    """(layer, counter, writing transaction) of each drawn layer, and of the stored 中心户 run if `center_run`."""
    rows = conn.execute(text(DRAWN_VERSIONS_SQL), {"layers": list(layers), "center_run": center_run})
    return tuple((layer, int(version), xmin) for layer, version, xmin in rows)


def _read(conn: Connection, table: str, columns: str) -> gpd.GeoDataFrame:
    return gpd.read_postgis(
        text(f"SELECT id, {columns}, geom AS geometry FROM {table} ORDER BY id"),
        conn,
        geom_col="geometry",
        crs="EPSG:4326",
    )


# A layer's extent as one row (its geometry the bounding box) and whether any row came from OpenStreetMap.
EXTENT_SQL = """
SELECT 0 AS id, CASE WHEN bool_or(source LIKE 'osm:%') THEN 'osm:' ELSE '' END AS source,
       ST_SetSRID(ST_Extent(geom)::geometry, 4326) AS geometry
FROM {table} HAVING count(*) > 0"""


def overview_layers(conn: Connection, *, extent_only: tuple[str, ...] = ()) -> dict[str, gpd.GeoDataFrame]:
    """The layers of the overview map (`OVERVIEW_LAYERS`), by table; the tables in `extent_only` as their extent
    (one row, `source` 'osm:' if any row is OpenStreetMap-derived; no row when empty): for a map that draws them
    from the vector tiles and only fits itself to them."""
    return {
        table: (
            gpd.read_postgis(text(EXTENT_SQL.format(table=table)), conn, geom_col="geometry", crs="EPSG:4326")
            if table in extent_only
            else _read(conn, table, columns)
        )
        for table, columns in OVERVIEW_LAYERS.items()
    }


def stored_service_types(conn: Connection) -> list[str]:
    """The service types that have points stored (what a planner map can be drawn for)."""
    return list(conn.scalars(text("SELECT DISTINCT type FROM service_points ORDER BY type")))


def grid_outlines(conn: Connection, community_id: int | None) -> gpd.GeoDataFrame:
    """Grid codes and outlines (of one community, or all) for the planner map."""
    return gpd.read_postgis(
        text(f"SELECT code, community_id, geom FROM grids WHERE {optional('community_id', 'c')}"),
        conn,
        params={"c": community_id},
        geom_col="geom",
        crs="EPSG:4326",
    )


def osm_source(conn: Connection) -> bool:
    """Whether any stored building or road came from OpenStreetMap (the map then credits its contributors)."""
    return bool(
        conn.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM buildings WHERE source LIKE 'osm:%') "
                "OR EXISTS (SELECT 1 FROM walk_edges WHERE source LIKE 'osm:%')"
            )
        )
    )


# The 中心户 map of a community or grid (both optional).
IN_AREA = optional("g.community_id", "community_id") + "\n  AND " + optional("g.id", "grid_id")
CENTER_HOUSEHOLDS_SQL = f"""
SELECT h.id::text AS id, h.grid_id::text AS grid_id, c.household_id IS NOT NULL AS is_center, c.capacity,
       h.geom AS geometry
FROM households h
JOIN grids g ON g.id = h.grid_id
LEFT JOIN center_households c ON c.household_id = h.id
WHERE {IN_AREA}
ORDER BY h.id
"""
ASSIGNMENTS_SQL = f"""
SELECT a.household_id::text AS household_id, c.id::text AS center_id,
       CASE WHEN c.id IS NULL AND a.center_id IS NOT NULL THEN NULL ELSE a.walk_m END AS walk_m,
       CASE WHEN c.id IS NULL AND a.center_id IS NOT NULL THEN 'uncovered' ELSE a.status END AS status,
       CASE WHEN c.id IS NULL AND a.center_id IS NOT NULL THEN 'its center household was deleted since the run'
            ELSE a.reason END AS reason
FROM center_assignments a JOIN households h ON h.id = a.household_id
LEFT JOIN households c ON c.id = a.center_id  -- a center deleted since the run reads as none
JOIN grids g ON g.id = h.grid_id
WHERE {IN_AREA}
"""
GRIDS_SQL = f"""
SELECT id::text AS grid_id, code, geom AS geometry FROM grids
WHERE {optional("community_id", "community_id")}
  AND {optional("id", "grid_id")}
"""
COUNT_HOUSEHOLDS_SQL = f"SELECT count(*) FROM households h JOIN grids g ON g.id = h.grid_id WHERE {IN_AREA}"


def count_map_households(conn: Connection, *, community_id: int | None, grid_id: int | None) -> int:
    """How many households the 中心户 map of this community or grid would draw."""
    return int(conn.scalar(text(COUNT_HOUSEHOLDS_SQL), {"community_id": community_id, "grid_id": grid_id}))


def centers_map_layers(
    conn: Connection, *, community_id: int | None, grid_id: int | None
) -> tuple[gpd.GeoDataFrame, pd.DataFrame, gpd.GeoDataFrame]:
    """Households (by id only), the stored pairs and the grids of the 中心户 map of a community or grid."""
    params = {"community_id": community_id, "grid_id": grid_id}
    households = gpd.read_postgis(text(CENTER_HOUSEHOLDS_SQL), conn, params=params, geom_col="geometry", crs=4326)
    table = pd.read_sql(text(ASSIGNMENTS_SQL), conn, params=params)
    grids = gpd.read_postgis(text(GRIDS_SQL), conn, params=params, geom_col="geometry", crs=4326)
    return households, table, grids
