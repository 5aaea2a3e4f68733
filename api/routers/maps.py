"""Interactive maps rendered by maps/ from the stored layers."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from api.deps import ConnectionDep, SettingsDep
from api.errors import InvalidParameter
from api.mapdata import overview_from_db, planner_map_from_state
from api.routers.coverage import StateDep

router = APIRouter(prefix="/maps", tags=["maps"])


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
