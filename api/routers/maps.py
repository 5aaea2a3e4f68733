"""Interactive maps rendered by maps/ from the stored layers."""

from typing import Annotated

import geopandas as gpd
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from api.coverage_state import circles as service_circles
from api.coverage_state import siting
from api.deps import ConnectionDep, SettingsDep
from api.errors import InvalidParameter
from api.mapdata import overview_from_db
from api.routers.coverage import StateDep
from maps.coverage import coverage_map

router = APIRouter(prefix="/maps", tags=["maps"])

MAX_CIRCLE_POINTS = 100  # beyond this the circles are left off the map (ask /coverage/circles for some points)


@router.get("/overview", response_class=HTMLResponse)
def overview(conn: ConnectionDep, settings: SettingsDep) -> HTMLResponse:
    """Grids with codes, buildings, service points by type and compounds (概览图)."""
    fmap = overview_from_db(conn, tiles=settings.tiles, asset_base_url="/static/vendor")
    return HTMLResponse(fmap.get_root().render())


@router.get("/coverage", response_class=HTMLResponse)
def coverage(
    state: StateDep,
    conn: ConnectionDep,
    settings: SettingsDep,
    service_type: str = "party_center",
    profile: str = "standard",
    community_id: int | None = None,
    suggest: Annotated[int, Query(ge=0, le=10)] = 2,
) -> HTMLResponse:
    """Planner map (十五分钟服务圈): buildings by walking time to `service_type`, circles, gaps, suggested sites."""
    if service_type not in state.coverage.fields:
        raise InvalidParameter(f"service_type must be one of {', '.join(state.coverage.fields)}; got {service_type!r}")
    if profile not in settings.walk_profiles:
        raise InvalidParameter(f"profile must be one of {', '.join(settings.walk_profiles)}; got {profile!r}")
    buildings = state.buildings
    if community_id is not None:
        buildings = buildings[buildings["community_id"] == community_id]
        if not len(buildings):
            raise InvalidParameter(f"community {community_id} has no buildings")
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
    fmap = coverage_map(
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
        asset_base_url="/static/vendor",
        osm_data=bool(state.buildings["source_id"].size) and _osm_source(conn),
    )
    return HTMLResponse(fmap.get_root().render())


def _osm_source(conn) -> bool:
    """Whether any stored building or road came from OpenStreetMap (the map then credits its contributors)."""
    return bool(
        conn.scalar(
            text(
                "SELECT EXISTS (SELECT 1 FROM buildings WHERE source LIKE 'osm:%') "
                "OR EXISTS (SELECT 1 FROM walk_edges WHERE source LIKE 'osm:%')"
            )
        )
    )
