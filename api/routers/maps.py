"""Interactive maps rendered by maps/ from the stored layers."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from api.deps import ConnectionDep, SettingsDep
from api.errors import InvalidParameter
from api.mapdata import centers_map_from_db, count_map_households, overview_from_db, planner_map_from_state
from api.routers.coverage import StateDep

router = APIRouter(prefix="/maps", tags=["maps"])

MAX_MAP_HOUSEHOLDS = 50_000  # a larger 中心户 map does not load on a phone or an office PC: ask for one community


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
    if community_id is not None and not (state.buildings["community_id"] == community_id).any():
        raise InvalidParameter(f"community {community_id} has no buildings")
    fmap = planner_map_from_state(
        state,
        conn,
        settings,
        service_type=service_type,
        profile=profile,
        community_id=community_id,
        suggest=suggest,
        asset_base_url="/static/vendor",
    )
    return HTMLResponse(fmap.get_root().render())


@router.get("/centers", response_class=HTMLResponse)
def centers(
    conn: ConnectionDep,
    settings: SettingsDep,
    community_id: int | None = None,
    grid_id: int | None = None,
) -> HTMLResponse:
    """中心户 map of the stored assignment: grids with codes, center households and the households each looks
    after (lines), uncovered households, per-grid load in the tooltips (run POST /centers/assign first)."""
    if conn.scalar(text("SELECT count(*) FROM center_runs")) == 0:
        raise InvalidParameter("no 中心户 assignment is stored yet: POST /centers/assign first")
    drawn = count_map_households(conn, community_id=community_id, grid_id=grid_id)
    if drawn == 0:
        raise InvalidParameter("no households in that community or grid")
    if drawn > MAX_MAP_HOUSEHOLDS:
        raise InvalidParameter(f"{drawn} households are too many for one map: give community_id or grid_id")
    fmap, _ = centers_map_from_db(
        conn, community_id=community_id, grid_id=grid_id, tiles=settings.tiles, asset_base_url="/static/vendor"
    )
    return HTMLResponse(fmap.get_root().render())
