"""十五分钟服务圈 for planners: coverage statistics, uncovered buildings, service circles, siting, what-if scenarios.

Statistics and uncovered buildings are read from the stored coverage (``building_coverage``), refreshed first when
the network, the buildings or the service points changed. Circles, siting and scenarios work on the in-memory copy
(api.coverage_state); a scenario stores nothing. No resident's personal data is served: counts only.
"""

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator

from api.access import PLANNING, require_place
from api.coverage_state import CoverageCache, CoverageState, apply_changes, circles, compare, refresh, siting
from api.deps import AggregatesConnectionDep, EngineDep, SettingsDep, require_role
from api.errors import InvalidParameter, NotFound, excerpt
from api.openapi import GeoJSONResponse
from api.params import Id, Minutes, Offset, Profile, ServiceType
from api.settings import Settings
from api.storage import coverage_stats as queries
from api.storage.coverage import stored_run

router = APIRouter(
    prefix="/coverage", tags=["coverage 十五分钟服务圈"], dependencies=[Depends(require_role(*PLANNING))]
)


def coverage_cache(request: Request) -> CoverageCache:
    return request.app.state.coverage_cache


def current_state(
    request: Request, engine: EngineDep, settings: SettingsDep, conn: AggregatesConnectionDep
) -> CoverageState:
    state, _ = coverage_cache(request).get(engine, settings, conn)
    return state


StateDep = Annotated[CoverageState, Depends(current_state)]


def _check_profile(settings: Settings, profile: str) -> float:
    if profile not in settings.walk_profiles:
        raise InvalidParameter(f"profile must be one of {', '.join(settings.walk_profiles)}; got {excerpt(profile)}")
    return settings.walk_profiles[profile]


def _check_type(state: CoverageState, service_type: str) -> None:
    """A type of the catalogue with no stored point (and not a 完整社区 type) has no coverage to read."""
    if service_type not in state.coverage.fields:
        raise InvalidParameter(
            f"no coverage for service_type {excerpt(service_type)}: no point of that type is stored; "
            f"types with coverage: {', '.join(state.coverage.fields)}"
        )


def _geojson(frame) -> Response:
    return Response(frame.to_json(drop_id=True, to_wgs84=True), media_type="application/geo+json")


@router.get("/status")
def status(state: StateDep, conn: AggregatesConnectionDep) -> dict:
    """The stored run: input version, when and how long it took, counts per type."""
    run = stored_run(conn)
    return {
        "input_version": state.input_version,
        "computed_at": run["computed_at"].isoformat() if run else None,
        "seconds": run["seconds"] if run else None,
        "counts": run["counts"] if run else None,
        "service_types": state.service_types(),
    }


@router.post("/refresh")
def refresh_coverage(engine: EngineDep, settings: SettingsDep, force: bool = False) -> dict:
    """Recompute and store the coverage if an input changed (or `force`)."""
    run, state = refresh(engine, settings, force=force)
    return {"recomputed": state is not None, "input_version": run["input_version"], "counts": run["counts"]}


@router.get("/stats", response_model=dict)
def stats(
    state: StateDep,
    conn: AggregatesConnectionDep,
    settings: SettingsDep,
    by: Literal["grid", "community", "street", "all"] = "grid",
    service_type: ServiceType | None = None,
    group_id: Annotated[Id | None, Query(description="Only this grid, community or street (as `by`)")] = None,
) -> Response:
    """Buildings, households and residents covered / not covered per group, service type, profile and level."""
    if service_type is not None:
        _check_type(state, service_type)
    if group_id is not None and by == "all":
        raise InvalidParameter("group_id needs by=grid, community or street")
    if by != "all":
        require_place(conn, by, group_id)
    rows = queries.gap_stats_json(
        conn,
        by=by,
        profiles=settings.walk_profiles,
        levels=settings.coverage_levels,
        service_type=service_type,
        group_id=group_id,
    )
    # Written here, in the threadpool, from the rows encoded once per state: serialising the dict after return ran
    # on the event loop (~25 ms for the sample street's grids) and held up every other request.
    head = json.dumps({"input_version": state.input_version, "by": by}, ensure_ascii=False, separators=(",", ":"))
    return Response(head[:-1].encode() + b',"rows":' + rows + b"}", media_type="application/json")


@router.get("/completeness")
def completeness(
    state: StateDep,
    conn: AggregatesConnectionDep,
    settings: SettingsDep,
    by: Literal["community", "grid", "street"] = "community",
    profile: Profile = "standard",
    level: Minutes | None = None,
) -> dict:
    """完整社区 check: per group, which required facility types are missing within the level (default 15 min)."""
    _check_profile(settings, profile)
    level = float(level if level is not None else max(settings.coverage_levels))
    rows = queries.gap_stats(conn, by=by, profiles={profile: settings.walk_profiles[profile]}, levels=[level])
    return {"profile": profile, "level": level, "rows": queries.completeness(rows, profile=profile, level=level)}


@router.get("/uncovered", response_class=GeoJSONResponse)
def uncovered(
    state: StateDep,
    conn: AggregatesConnectionDep,
    settings: SettingsDep,
    service_type: ServiceType,
    profile: Profile = "standard",
    level: Minutes | None = None,
    grid_id: Id | None = None,
    community_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, description="At most GRIDMAP_PAGE_SIZE_MAX (default 5000)")] = 1000,
    offset: Offset = 0,
) -> Response:
    """Buildings that do not reach a point of `service_type` within the level, farthest first (GeoJSON)."""
    _check_type(state, service_type)
    speed = _check_profile(settings, profile)
    require_place(conn, "grid", grid_id)
    require_place(conn, "community", community_id)
    if limit > settings.page_size_max:
        raise InvalidParameter(f"limit must be at most {settings.page_size_max}")
    level = float(level if level is not None else max(settings.coverage_levels))
    body = queries.uncovered_geojson(
        conn,
        service_type=service_type,
        speed=speed,
        budget_m=level * 60.0 * speed,
        grid_id=grid_id,
        community_id=community_id,
        limit=limit,
        offset=offset,
    )
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/geo+json")


@router.get("/circles", response_class=GeoJSONResponse)
def service_circles(
    state: StateDep,
    settings: SettingsDep,
    service_point_id: Annotated[list[Id] | None, Query()] = None,
    service_type: ServiceType | None = None,
    profile: Profile = "standard",
    max_points: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Network service circles per point and level, with the Euclidean circle as a reference ring (GeoJSON)."""
    _check_profile(settings, profile)
    points = state.services
    if service_point_id:
        wanted = {str(i) for i in service_point_id}
        missing = wanted - set(points["source_id"])
        if missing:
            raise NotFound(f"no service point {excerpt(', '.join(sorted(missing)), 200)}")
        points = points[points["source_id"].isin(wanted)]
    elif service_type is not None:
        _check_type(state, service_type)
        points = points[points["type"] == service_type]
    else:
        raise InvalidParameter("give service_point_id (one or more) or service_type")
    if len(points) > max_points:
        raise InvalidParameter(f"{len(points)} points selected; at most max_points={max_points} per request")
    frame = circles(state, points, profile=profile, levels=settings.coverage_levels)
    return _geojson(frame.rename(columns={"service_id": "service_point_id"}))


class SitingRequest(BaseModel):
    service_type: ServiceType
    profile: Profile = "standard"
    level: Minutes | None = Field(default=None, description="Minutes; default the largest level")
    k: int = Field(default=5, ge=1, le=50, description="How many new sites")
    candidates: Literal["buildings", "nodes"] = "buildings"
    method: Literal["greedy", "exact"] = "greedy"


@router.post("/siting", response_class=GeoJSONResponse)
def suggest_sites(body: SitingRequest, state: StateDep, settings: SettingsDep) -> Response:
    """Top-k new sites for a type that cover the most uncovered residents; existing points stay (GeoJSON)."""
    _check_type(state, body.service_type)
    _check_profile(settings, body.profile)
    level = float(body.level if body.level is not None else max(settings.coverage_levels))
    sites = siting(
        state,
        service_type=body.service_type,
        profile=body.profile,
        level=level,
        k=body.k,
        kind=body.candidates,
        method=body.method,
    )
    return _geojson(sites.rename(columns={"gain": "residents_gained", "buildings": "buildings_gained"}))


class Change(BaseModel):
    action: Literal["add", "move", "remove"]
    service_type: ServiceType | None = Field(default=None, description="For add: the new point's type")
    service_point_id: Id | Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="For move and remove: the point's id; for add, optionally the new point's"
    )
    lon: float | None = Field(default=None, ge=73, le=136)
    lat: float | None = Field(default=None, ge=3, le=54)

    @model_validator(mode="after")
    def _complete(self) -> "Change":
        if self.action in ("add", "move") and (self.lon is None or self.lat is None):
            raise ValueError(f"{self.action} needs lon and lat")
        if self.action == "add" and not self.service_type:
            raise ValueError("add needs service_type")
        if self.action in ("move", "remove") and self.service_point_id is None:
            raise ValueError(f"{self.action} needs service_point_id")
        return self


class ScenarioRequest(BaseModel):
    changes: list[Change] = Field(min_length=1, max_length=50)
    profile: Profile = "standard"
    level: Minutes | None = None
    by: Literal["grid", "community"] = "grid"


@router.post("/scenario")
def scenario(body: ScenarioRequest, state: StateDep, settings: SettingsDep) -> dict:
    """What if points were added, moved or removed: before / after statistics per touched type (nothing stored)."""
    _check_profile(settings, body.profile)
    level = float(body.level if body.level is not None else max(settings.coverage_levels))
    after, touched = apply_changes(state, [c.model_dump() for c in body.changes])
    return {
        "input_version": state.input_version,
        "results": compare(state, after, touched, profile=body.profile, level=level, by=body.by),
    }
