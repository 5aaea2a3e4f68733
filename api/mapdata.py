"""The maps of the stored layers: what api.storage.maps reads, handed to maps/ (which never touches the database).

The map pages and `gridmap *-map` both build their maps here.
"""

import folium

from api.coverage_state import CoverageState, siting
from api.coverage_state import circles as service_circles
from api.settings import Settings
from api.storage import Connection
from api.storage import maps as maps_db
from api.storage.coverage import COVERAGE_STATE_LAYERS
from api.storage.maps import OVERVIEW_LAYERS
from maps.basemaps import BaseMap
from maps.centers import centers_map
from maps.coverage import coverage_map
from maps.overview import overview_map

MAX_CIRCLE_POINTS = 100  # beyond this the planner map leaves circles off (ask /coverage/circles for some points)

# The stored layers each map draws, by their layer_versions counters (buildings and walk_edges also decide the
# OpenStreetMap credit); a rendered page stands for these counters (api.map_cache).
OVERVIEW_DRAWS = tuple(sorted(OVERVIEW_LAYERS))
PLANNER_DRAWS = COVERAGE_STATE_LAYERS  # the in-memory coverage, and the grids and OSM credit read beside it
CENTERS_DRAWS = ("buildings", "center_households", "grids", "households", "walk_edges")


def overview_from_db(
    conn: Connection, *, tiles: str | BaseMap, asset_base_url: str | None, tile_prefix: str | None = None
) -> folium.Map:
    """The overview map; with `tile_prefix` (the API's page) grids, buildings and service points come from the
    vector tiles there, else (the CLI's file) inline."""
    # Drawn from the tiles, the buildings only fit the map and decide the OSM credit: their extent is read, not
    # every footprint (a district's 100k).
    frames = maps_db.overview_layers(conn, extent_only=("buildings",) if tile_prefix else ())
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
        tile_prefix=tile_prefix,
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
    tile_prefix: str | None = None,
) -> folium.Map:
    """The planner map (十五分钟服务圈) of one type and profile from the in-memory coverage and the stored grids;
    with `tile_prefix` (the API's page) buildings, grids and service points come from the vector tiles there."""
    buildings = state.buildings
    if community_id is not None:
        buildings = buildings[buildings["community_id"] == community_id]
    grids = maps_db.grid_outlines(conn, community_id)
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
        tiles=settings.base_map,
        asset_base_url=asset_base_url,
        osm_data=maps_db.osm_source(conn),
        tile_prefix=tile_prefix,
        in_grids=None if community_id is None else sorted(int(g) for g in buildings["grid_id"].dropna().unique()),
    )


def centers_map_from_db(
    conn: Connection,
    *,
    community_id: int | None = None,
    grid_id: int | None = None,
    tiles: str | BaseMap,
    asset_base_url: str | None,
) -> tuple[folium.Map, int]:
    """The 中心户 map of the stored assignment (households by id only) and the number of households drawn."""
    households, table, grids = maps_db.centers_map_layers(conn, community_id=community_id, grid_id=grid_id)
    fmap = centers_map(
        households=households,
        table=table,
        grids=grids if len(grids) else None,
        tiles=tiles,
        asset_base_url=asset_base_url,
        osm_data=maps_db.osm_source(conn),
    )
    return fmap, len(households)
