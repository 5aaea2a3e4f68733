"""Interactive maps rendered by maps/ from the stored layers."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

import folium
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.access import MANAGING, PLANNING, require_place
from api.coverage_state import CoverageState
from api.deps import AggregatesConnectionDep, ConnectionDep, PrincipalDep, SettingsDep, require_page_role
from api.errors import InvalidParameter
from api.leader_map import LEADER_DRAWS, check_category, leader_map_from_db, leader_query, scope_grids
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
from api.storage import leader as leader_db
from api.storage.centers import require_stored_run
from api.storage.maps import count_map_households, drawn_versions
from api.worker_map import WORKER_DRAWS, WORKER_ROLES, page_stamp, worker_map_from_db
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
    also: Callable[[], tuple] = tuple,
) -> Response:
    """The page of `variant` (kind, parameters, settings) at the current counters of the layers it `draws`: from
    the app's map cache, built and rendered once per change of those layers (api.map_cache); 304 when the
    browser's copy (If-None-Match) is that page. `state`: the in-memory coverage the page draws, which must be of
    the same counters for the page to be kept. `also`: what else the page depends on that has no layer counter
    (e.g. a fingerprint of the case tables), read before and after rendering like the counters."""
    cache: MapPageCache = request.app.state.map_cache

    def current() -> tuple:
        return (*drawn_versions(conn, draws, center_run=center_run), *also())

    versions: tuple | None = current()
    if state is not None and {layer: v for layer, v, _ in versions or ()} != state.versions:
        versions = None  # a layer moved since the coverage was read: serve this page, keep nothing
    page = cache.page(
        variant, versions, render=lambda: render_html(build()), still_current=lambda: current() == versions
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


# --- leader map (诉求热力与热点) ----------------------------------------------------------------------------------


@router.get("/leader", response_class=HTMLResponse, dependencies=[Depends(require_page_role(*MANAGING))])
def leader(
    request: Request,
    conn: AggregatesConnectionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    from_: Annotated[
        str | None, Query(alias="from", description="First day YYYY-MM-DD (default: 12 months ago)")
    ] = None,
    to: Annotated[str | None, Query(description="Last day YYYY-MM-DD, inclusive (default: today)")] = None,
    community_id: Annotated[str | None, Query(description="One community within the user's places")] = None,
    category: Annotated[str | None, Query(description="A request category (service code); default all")] = None,
) -> Response:
    """Leader map (诉求热力与热点): weekly heat of residents' requests, Gi* hotspots, hazards clustered, request
    closure and hazard overdue rate per grid, in the user's street or community; counts below 5 suppressed, no
    resident's data. Kept per user, parameters, hour (overdue moves with the clock) and data versions."""
    query = leader_query(from_, to, community_id, category)
    mine, grids = scope_grids(conn, principal.user_id, admin=principal.role == "admin", community_id=query.community_id)
    check_category(leader_db.categories(conn), query.category)
    as_of = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    variant = ("leader", principal.user_id, tuple(mine), *query.key(), as_of, settings.base_map)

    return cached_page(
        request,
        conn,
        variant,
        LEADER_DRAWS,
        lambda: leader_map_from_db(
            conn, grids, query, tiles=settings.base_map, asset_base_url=ASSETS, form=True, as_of=as_of, user_grids=mine
        ),
        also=lambda: (("cases", 0, leader_db.cases_fingerprint(conn)),),
    )


# --- worker map (网格员工作图) -----------------------------------------------------------------------------------


@router.get("/worker", response_class=HTMLResponse, dependencies=[Depends(require_page_role(*WORKER_ROLES))])
def worker(request: Request, conn: ConnectionDep, principal: PrincipalDep, settings: SettingsDep) -> Response:
    """网格员工作图, for the signed-in grid worker or party member: their grids, their buildings by visit status
    (已走访 / 待走访 / 逾期) with counts, open hazards and requests, today's walking order, their position; a visit or a
    hazard logged from a building's popup, queued on the phone while offline. Row-level security draws only what
    the user may see; the page is kept per user and per state of their field work (api.worker_map)."""
    return cached_page(
        request,
        conn,
        ("worker", principal.user_id, settings.base_map),
        WORKER_DRAWS,
        lambda: worker_map_from_db(
            conn, principal, settings, request.app.state.tour_graphs, api_base="", asset_base_url=ASSETS
        ),
        also=lambda: page_stamp(conn, principal),  # a new stamp replaces the user's page, as new counters do
    )
