"""Read the stored layers that a map draws, and hand them to maps/ (which never touches the database)."""

import folium
import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from api.coverage_state import circles as service_circles
from api.coverage_state import siting
from api.coverage_store import COVERAGE_STATE_LAYERS, CoverageState
from api.settings import Settings
from maps.centers import centers_map
from maps.coverage import coverage_map
from maps.overview import overview_map

MAX_CIRCLE_POINTS = 100  # beyond this the planner map leaves circles off (ask /coverage/circles for some points)

# Columns each map layer needs; geometry is read as 'geometry'.
OVERVIEW_LAYERS = {
    "grids": "code, name, community_id, source",
    "buildings": "kind, name, floors, households, source",
    "service_points": "type, level, name, hours, source",
    "compounds": "name, source",
    "communities": "code, name, source",
}


# The stored layers each map draws, by their layer_versions counters (buildings and walk_edges also decide the
# OpenStreetMap credit); a rendered page stands for these counters (api.map_cache).
OVERVIEW_DRAWS = tuple(sorted(OVERVIEW_LAYERS))
PLANNER_DRAWS = COVERAGE_STATE_LAYERS  # the in-memory coverage, and the grids and OSM credit read beside it
CENTERS_DRAWS = ("buildings", "center_households", "grids", "households", "walk_edges")
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


def stored_service_types(conn: Connection) -> list[str]:
    """The service types that have points stored (what a planner map can be drawn for)."""
    return list(conn.scalars(text("SELECT DISTINCT type FROM service_points ORDER BY type")))


def overview_from_db(conn: Connection, *, tiles: str, asset_base_url: str | None) -> folium.Map:
    frames = {table: _read(conn, table, columns) for table, columns in OVERVIEW_LAYERS.items()}
    osm_data = any(frame["source"].str.startswith("osm:").any() for frame in frames.values() if len(frame))
    return overview_map(
        grids=frames["grids"],
        buildings=frames["buildings"],
        service_points=frames["service_points"],
        compounds=frames["compounds"],
        communities=frames["communities"],
        tiles=tiles,
        asset_base_url=asset_base_url,
        osm_data=osm_data,
    )


def planner_map_from_state(
    state: CoverageState,
    conn: Connection,
    settings: Settings,
    *,
    service_type: str,
    profile: str,
    community_id: int | None = None,
    suggest: int = 2,
    asset_base_url: str | None,
) -> folium.Map:
    """The planner map (十五分钟服务圈) of one type and profile from the in-memory coverage and the stored grids."""
    buildings = state.buildings
    if community_id is not None:
        buildings = buildings[buildings["community_id"] == community_id]
    grids = gpd.read_postgis(
        text("SELECT code, community_id, geom FROM grids WHERE CAST(:c AS bigint) IS NULL OR community_id = :c"),
        conn,
        params={"c": community_id},
        geom_col="geom",
        crs="EPSG:4326",
    )
    points = state.services[state.services["type"] == service_type]
    circles = None
    if 0 < len(points) <= MAX_CIRCLE_POINTS:
        circles = service_circles(state, points, profile=profile, levels=settings.coverage_levels)
    suggestions = None
    if suggest:
        suggestions = siting(
            state,
            service_type=service_type,
            profile=profile,
            level=max(settings.coverage_levels),
            k=suggest,
            kind="buildings",
            method="greedy",
        )
    return coverage_map(
        buildings=buildings,
        service_points=state.services,
        table=state.coverage.table([service_type]),
        service_type=service_type,
        profile=profile,
        levels=settings.coverage_levels,
        circles=circles,
        suggestions=suggestions,
        grids=grids if len(grids) else None,
        tiles=settings.tiles,
        asset_base_url=asset_base_url,
        osm_data=_osm_source(conn),
    )


def _osm_source(conn: Connection) -> bool:
    """Whether any stored building or road came from OpenStreetMap (the map then credits its contributors)."""
    return bool(
        conn.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM buildings WHERE source LIKE 'osm:%') "
                "OR EXISTS (SELECT 1 FROM walk_edges WHERE source LIKE 'osm:%')"
            )
        )
    )


CENTER_HOUSEHOLDS_SQL = """
SELECT h.id::text AS id, h.grid_id::text AS grid_id, c.household_id IS NOT NULL AS is_center, c.capacity,
       h.geom AS geometry
FROM households h
JOIN grids g ON g.id = h.grid_id
LEFT JOIN center_households c ON c.household_id = h.id
WHERE (CAST(:community_id AS bigint) IS NULL OR g.community_id = :community_id)
  AND (CAST(:grid_id AS bigint) IS NULL OR g.id = :grid_id)
ORDER BY h.id
"""
ASSIGNMENTS_SQL = """
SELECT a.household_id::text AS household_id, c.id::text AS center_id,
       CASE WHEN c.id IS NULL AND a.center_id IS NOT NULL THEN NULL ELSE a.walk_m END AS walk_m,
       CASE WHEN c.id IS NULL AND a.center_id IS NOT NULL THEN 'uncovered' ELSE a.status END AS status,
       CASE WHEN c.id IS NULL AND a.center_id IS NOT NULL THEN 'its center household was deleted since the run'
            ELSE a.reason END AS reason
FROM center_assignments a JOIN households h ON h.id = a.household_id
LEFT JOIN households c ON c.id = a.center_id  -- a center deleted since the run reads as none
JOIN grids g ON g.id = h.grid_id
WHERE (CAST(:community_id AS bigint) IS NULL OR g.community_id = :community_id)
  AND (CAST(:grid_id AS bigint) IS NULL OR g.id = :grid_id)
"""
GRIDS_SQL = """
SELECT id::text AS grid_id, code, geom AS geometry FROM grids
WHERE (CAST(:community_id AS bigint) IS NULL OR community_id = :community_id)
  AND (CAST(:grid_id AS bigint) IS NULL OR id = :grid_id)
"""


def count_map_households(conn: Connection, *, community_id: int | None, grid_id: int | None) -> int:
    """How many households the 中心户 map of this community or grid would draw."""
    return int(
        conn.scalar(
            text(
                "SELECT count(*) FROM households h JOIN grids g ON g.id = h.grid_id "
                "WHERE (CAST(:c AS bigint) IS NULL OR g.community_id = :c) "
                "AND (CAST(:g AS bigint) IS NULL OR g.id = :g)"
            ),
            {"c": community_id, "g": grid_id},
        )
    )


def centers_map_from_db(
    conn: Connection,
    *,
    community_id: int | None = None,
    grid_id: int | None = None,
    tiles: str,
    asset_base_url: str | None,
) -> tuple[folium.Map, int]:
    """The 中心户 map of the stored assignment (households by id only) and the number of households drawn."""
    params = {"community_id": community_id, "grid_id": grid_id}
    households = gpd.read_postgis(text(CENTER_HOUSEHOLDS_SQL), conn, params=params, geom_col="geometry", crs=4326)
    table = pd.read_sql(text(ASSIGNMENTS_SQL), conn, params=params)
    grids = gpd.read_postgis(text(GRIDS_SQL), conn, params=params, geom_col="geometry", crs=4326)
    fmap = centers_map(
        households=households,
        table=table,
        grids=grids if len(grids) else None,
        tiles=tiles,
        asset_base_url=asset_base_url,
        osm_data=_osm_source(conn),
    )
    return fmap, len(households)
