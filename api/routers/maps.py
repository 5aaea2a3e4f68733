"""Interactive maps rendered by maps/ from the stored layers."""

from collections.abc import Callable
from typing import Annotated

import folium
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.access import MANAGING, PLANNING, require_place
from api.coverage_state import CoverageState
from api.deps import AggregatesConnectionDep, ConnectionDep, PrincipalDep, SettingsDep, require_page_role
from api.errors import InvalidParameter
from api.map_cache import CACHE_CONTROL, MapPageCache, etag_matches
from api.mapdata import (
    CENTERS_DRAWS,
    OVERVIEW_DRAWS,
    PLANNER_DRAWS,
    centers_map_from_db,
    overview_from_db,
    planner_map_from_state,
)
from api.params import Id, Profile, ServiceType
from api.routers.coverage import StateDep
from api.storage import Connection
from api.storage.centers import require_stored_run
from api.storage.maps import count_map_households, drawn_versions
from maps import render_html

router = APIRouter(
    prefix="/maps",
    tags=["maps"],
    responses={303: {"description": "Not signed in: to /login (Location), and back to the page after signing in"}},
)

MAX_MAP_HOUSEHOLDS = 50_000  # a larger 中心户 map does not load on a phone or an office PC: ask for one community
ASSETS = "/static/vendor"
TILES = "/tiles"  # the street- and district-wide layers are drawn from the vector tiles (api.routers.tiles)


def cached_page(
    request: Request,
    conn: Connection,
    variant: tuple,
    draws: tuple[str, ...],
    build: Callable[[], folium.Map],
    *,
    center_run: bool = False,
    state: CoverageState | None = None,
) -> Response:
    """The page of `variant` (kind, parameters, settings) at the current counters of the layers it `draws`: from
    the app's map cache, built and rendered once per change of those layers (api.map_cache); 304 when the
    browser's copy (If-None-Match) is that page. `state`: the in-memory coverage the page draws, which must be of
    the same counters for the page to be kept."""
    cache: MapPageCache = request.app.state.map_cache
    versions: tuple[tuple[str, int, str], ...] | None = drawn_versions(conn, draws, center_run=center_run)
    if state is not None and versions is not None and {layer: v for layer, v, _ in versions} != state.versions:
        versions = None  # a layer moved since the coverage was read: serve this page, keep nothing
    page = cache.page(
        variant,
        versions,
        render=lambda: render_html(build()),
        still_current=lambda: drawn_versions(conn, draws, center_run=center_run) == versions,
    )
    body, etag, extra = page.representation(request.headers.get("accept-encoding"))
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, **extra}
    if_none_match = request.headers.get("if-none-match")
    if etag_matches(if_none_match, page.etag) or etag_matches(if_none_match, page.gzip_etag):
        return Response(status_code=304, headers=headers)
    return HTMLResponse(body, headers=headers)


PLANNING_PAGE = [Depends(require_page_role(*PLANNING))]


@router.get("/overview", response_class=HTMLResponse, dependencies=PLANNING_PAGE)
def overview(request: Request, conn: AggregatesConnectionDep, settings: SettingsDep) -> Response:
    """Grids with codes, buildings, service points by type and compounds (概览图)."""
    return cached_page(
        request,
        conn,
        ("overview", settings.base_map),
        OVERVIEW_DRAWS,
        lambda: overview_from_db(conn, tiles=settings.base_map, asset_base_url=ASSETS, tile_prefix=TILES),
    )


@router.get("/coverage", response_class=HTMLResponse, dependencies=PLANNING_PAGE)
def coverage(
    request: Request,
    state: StateDep,
    conn: AggregatesConnectionDep,
    settings: SettingsDep,
    service_type: ServiceType = "party_center",
    profile: Profile = "standard",
    community_id: Id | None = None,
    suggest: Annotated[int, Query(ge=0, le=10)] = 2,
) -> Response:
    """Planner map (十五分钟服务圈): buildings by walking time to `service_type`, circles, gaps, suggested sites."""
    if service_type not in state.coverage.fields:
        raise InvalidParameter(f"service_type must be one of {', '.join(state.coverage.fields)}; got {service_type!r}")
    if profile not in settings.walk_profiles:
        raise InvalidParameter(f"profile must be one of {', '.join(settings.walk_profiles)}; got {profile!r}")
    if community_id is not None and not (state.buildings["community_id"] == community_id).any():
        raise InvalidParameter(f"community {community_id} has no buildings")
    variant = (
        "coverage",
        service_type,
        profile,
        community_id,
        suggest,
        settings.base_map,
        settings.walk_profiles[profile],
        tuple(settings.coverage_levels),
        settings.max_snap_m,
    )
    return cached_page(
        request,
        conn,
        variant,
        PLANNER_DRAWS,
        lambda: planner_map_from_state(
            state,
            conn,
            settings,
            service_type=service_type,
            profile=profile,
            community_id=community_id,
            suggest=suggest,
            asset_base_url=ASSETS,
            tile_prefix=TILES,
        ),
        state=state,
    )


@router.get("/centers", response_class=HTMLResponse, dependencies=[Depends(require_page_role(*MANAGING))])
def centers(
    request: Request,
    conn: ConnectionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    community_id: Id | None = None,
    grid_id: Id | None = None,
) -> Response:
    """中心户 map of the stored assignment in the user's places: grids with codes, center households and the
    households each looks after (lines), uncovered households, per-grid load in the tooltips (run POST
    /centers/assign first). Row-level security draws only the user's households; the page is kept per user."""
    require_place(conn, "community", community_id, principal)
    require_place(conn, "grid", grid_id, principal)
    require_stored_run(conn)
    drawn = count_map_households(conn, community_id=community_id, grid_id=grid_id)
    if drawn == 0:
        raise InvalidParameter("no households in that community or grid")
    if drawn > MAX_MAP_HOUSEHOLDS:
        raise InvalidParameter(f"{drawn} households are too many for one map: give community_id or grid_id")
    return cached_page(
        request,
        conn,
        ("centers", principal.user_id, community_id, grid_id, settings.base_map),
        CENTERS_DRAWS,
        lambda: centers_map_from_db(
            conn, community_id=community_id, grid_id=grid_id, tiles=settings.base_map, asset_base_url=ASSETS
        )[0],
        center_run=True,
    )
