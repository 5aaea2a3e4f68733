"""Hazards (隐患排查): reported by whoever works in the field, managed by the managers of their places, worked on by
the user they are dispatched to. Each change names the version it was made on (409 when someone was first) and is
checked against the workflow's table (api.workflows.hazards); every change adds a history row and an audit entry.
Planners get 403: they see hazards as counts only (KPIs)."""

import dataclasses
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field

from api.access import FIELD_READERS, audit, case_grids, manages_grid, place_by_code, reporting_grids
from api.accounts.roles import Principal
from api.deps import EngineDep, PrincipalDep, SettingsDep, require_role
from api.errors import (
    ClientIdConflict,
    InvalidParameter,
    NotFound,
    OutsideYourPlaces,
    StaleVersion,
    UnknownCategory,
    UnknownPhoto,
)
from api.offline import payload_sha256
from api.openapi import GeoJSONResponse
from api.params import Id, Instant, Point, decode_cursor, feature_page
from api.storage import Connection, transaction, user_scope
from api.storage import hazards as hazards_db
from api.storage import households as households_db
from api.workflows import hazards as workflow
from api.workflows import parties_of

router = APIRouter(tags=["hazards 隐患"], dependencies=[Depends(require_role(*FIELD_READERS))])

PAGE_SIZE = 100
PAGE_SIZE_MAX = 500
DESCRIPTION_MAX = 2000
GridCode = Annotated[str, Query(pattern=r"^\d{15}$", description="A grid's 15-digit code")]
CommunityCode = Annotated[str, Query(pattern=r"^\d{12}$", description="A community's 12-digit code")]
CategoryCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", description="GET /hazard-categories")]
State = Literal[workflow.STATES]  # type: ignore[valid-type]
Action = Literal[workflow.ACTIONS]  # type: ignore[valid-type]


def _storable(value: str) -> str:
    """Text PostgreSQL can store as it came: no NUL (a lone surrogate is refused before, by the JSON parser)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Description = Annotated[str, Field(min_length=1, max_length=DESCRIPTION_MAX), AfterValidator(_storable)]
Note = Annotated[str, Field(min_length=1, max_length=workflow.NOTE_MAX), AfterValidator(_storable)]
Unit = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_storable)]


class NewHazard(BaseModel):
    category: CategoryCode
    severity: Literal["low", "medium", "high"] = "medium"
    location: Point = Field(description="Where the hazard is: a GeoJSON Point in China, in one of your grids")
    building_id: Id | None = None
    household_id: Id | None = None
    description: Description
    photo_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, description="A photo uploaded before with PUT /photos/{sha256}"
    )
    client_id: UUID | None = Field(
        default=None, description="Made by the phone for an entry sent offline: a retry returns the original"
    )


class TransitionRequest(BaseModel):
    action: Action
    version: Annotated[int, Field(ge=1, le=2**31 - 1, description="The version the change is made on")]
    note: Note | None = None
    hours: Annotated[int, Field(ge=1, le=workflow.MAX_EXTENSION_HOURS)] | None = Field(
        default=None, description="extend: hours to add (default: the category's)"
    )
    assigned_unit: Unit | None = Field(default=None, description="dispatch: the department or unit")
    assigned_user_id: Id | None = Field(default=None, description="dispatch: the user who does the work")


def _feature(row: dict) -> dict:
    iso = workflow.china_iso
    properties = {
        "id": row["id"],
        "client_id": None if row["client_id"] is None else str(row["client_id"]),
        "category": row["category"],
        "category_name": row["category_name"],
        "severity": row["severity"],
        "grid_id": row["grid_id"],
        "grid_code": row["grid_code"],
        "building_id": row["building_id"],
        "household_id": row["household_id"],
        "description": row["description"],
        "photo_sha256": row["photo_sha256"],
        "state": row["state"],
        "state_label": workflow.STATE_LABELS[row["state"]],
        "version": row["version"],
        "overdue": row["overdue"],
        "reported_by": row["reported_by"],
        "reported_at": iso(row["reported_at"]),
        "deadline": iso(row["deadline"]),
        "extensions": row["extensions"],
        "assigned_unit": row["assigned_unit"],
        "assigned_user_id": row["assigned_user_id"],
        "resume_state": row["resume_state"],
        "suspended_at": iso(row["suspended_at"]),
        "updated_at": iso(row["updated_at"]),
        "closed_at": iso(row["closed_at"]),
    }
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [round(row["lon"], 7), round(row["lat"], 7)]},
        "properties": properties,
    }


def _with_history(conn: Connection, row: dict) -> dict:
    feature = _feature(row)
    feature["properties"]["history"] = [
        {**entry, "at": workflow.china_iso(entry["at"])} for entry in hazards_db.history(conn, row["id"])
    ]
    return feature


@router.get("/hazard-categories")
def list_categories(engine: EngineDep, principal: PrincipalDep) -> dict:
    """The hazard categories with their deadlines (整改时限, hours)."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        return {"categories": hazards_db.categories(conn)}


@router.get("/hazards", response_class=GeoJSONResponse)
def list_hazards(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    grid_code: GridCode | None = None,
    community_code: CommunityCode | None = None,
    state: State | None = None,
    category: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,39}$")] = None,
    overdue: bool | None = None,
    reported_from: Annotated[Instant | None, Query(alias="from", description="reported at or after")] = None,
    reported_to: Annotated[Instant | None, Query(alias="to", description="reported before")] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200, description="From the previous page's next link")] = None,
) -> dict:
    """A page of the hazards the user sees (their grids', those they reported or were dispatched), by id."""
    after = decode_cursor(cursor)
    limit = min(limit, settings.page_size_max)
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        grid_id = place_by_code(conn, principal, "grid", grid_code)
        community_id = place_by_code(conn, principal, "community", community_code)
        rows = hazards_db.hazards_page(
            conn,
            after=after,
            limit=limit,
            grid_id=grid_id,
            community_id=community_id,
            grid_ids=case_grids(conn, principal) if grid_id is None and community_id is None else None,
            state=state,
            category=category,
            overdue=overdue,
            reported_from=reported_from,
            reported_to=reported_to,
        )
    return feature_page(request.url, [_feature(r) for r in rows], rows, limit)


@router.get("/hazards/{hazard_id}", response_class=GeoJSONResponse)
def get_hazard(hazard_id: Id, engine: EngineDep, principal: PrincipalDep) -> dict:
    """One hazard the user sees, with its history (404 for any other, stored or not)."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        row = hazards_db.hazard(conn, hazard_id)
        if row is None:
            raise NotFound(f"no hazard {hazard_id}")
        return _with_history(conn, row)


@router.post(
    "/hazards",
    status_code=201,
    response_class=GeoJSONResponse,
    responses={200: {"description": "A retry of an entry already stored (same client_id and content): the original"}},
)
def report_hazard(body: NewHazard, response: Response, engine: EngineDep, principal: PrincipalDep) -> dict:
    """Report a hazard (上报) in one of the user's grids; due after its category's hours. With a client_id, a retry
    of the same entry returns the stored one (200) and other content under that id is refused (409)."""
    digest = payload_sha256(body.model_dump(mode="json"))
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        if body.client_id is not None and (known := _retry(conn, body.client_id, digest)) is not None:
            response.status_code = 200
            return known
        values = _checked(conn, body, principal) | {"payload_sha256": digest, "reported_by": principal.user_id}
        hazard_id = hazards_db.insert_hazard(conn, values)
        if hazard_id is None:  # the client_id was stored meanwhile, or is another user's
            assert body.client_id is not None
            if (known := _retry(conn, body.client_id, digest)) is not None:
                response.status_code = 200
                return known
            raise ClientIdConflict(f"client_id {body.client_id} is already used for another entry")
        row = hazards_db.hazard(conn, hazard_id)
        assert row is not None  # just written in this transaction
        hazards_db.append_history(
            conn,
            hazard_id,
            version=1,
            action="report",
            from_state=None,
            to_state="reported",
            user_id=principal.user_id,
            role=principal.role,
            note=None,
            detail={"category": body.category, "severity": body.severity},
            at=row["reported_at"],
        )
        audit(conn, principal, "create", "hazards", object_ids=[hazard_id])
        return _with_history(conn, row)


def _retry(conn: Connection, client_id: UUID, digest: str) -> dict | None:
    """The stored hazard of a retried entry; 409 when the client_id holds other content."""
    known = hazards_db.by_client_id(conn, client_id)
    if known is None:
        return None
    if known["payload_sha256"] != digest:
        raise ClientIdConflict(
            f"client_id {client_id} is already stored as hazard {known['id']} with different content"
        )
    row = hazards_db.hazard(conn, known["id"])
    assert row is not None
    return _with_history(conn, row)


def _checked(conn: Connection, body: NewHazard, principal: Principal) -> dict:
    """The columns of a new hazard, each reference checked: 422 for an unknown category or photo or a location
    outside the user's grids, 404 for a building or household that is not theirs."""
    if hazards_db.category(conn, body.category) is None:
        raise UnknownCategory(f"category {body.category!r} is not a hazard category (GET /hazard-categories)")
    if body.photo_sha256 is not None and not hazards_db.photo_visible(conn, body.photo_sha256):
        raise UnknownPhoto(f"photo {body.photo_sha256} is not uploaded (PUT /photos/{{sha256}} first)")
    mine = reporting_grids(conn, principal)
    lon, lat = body.location.coordinates
    location_grid = hazards_db.grid_at(conn, lon, lat)
    if location_grid is None or (mine is not None and location_grid not in mine):
        raise OutsideYourPlaces(f"location [{lon}, {lat}] lies in none of your grids")
    grid_id, building_id = location_grid, body.building_id
    if body.household_id is not None:
        place = hazards_db.household_place(conn, body.household_id)
        if place is None or (mine is not None and place[1] not in mine):
            raise NotFound(f"no household {body.household_id} in a grid of yours")
        if building_id is not None and building_id != place[0]:
            raise InvalidParameter(f"household {body.household_id} is not in building {building_id}")
        building_id, grid_id = place[0], place[1] if place[1] is not None else grid_id
    if building_id is not None and body.household_id is None:
        stored, building_grid = households_db.building_grid(conn, building_id)
        if not stored or building_grid is None or (mine is not None and building_grid not in mine):
            raise NotFound(f"no building {building_id} in a grid of yours")
        grid_id = building_grid
    return {
        "client_id": body.client_id,
        "category": body.category,
        "severity": body.severity,
        "grid_id": grid_id,
        "building_id": building_id,
        "household_id": body.household_id,
        "lon": lon,
        "lat": lat,
        "description": body.description,
        "photo_sha256": body.photo_sha256,
    }


@router.post("/hazards/{hazard_id}/transitions", response_class=GeoJSONResponse)
def change_hazard(hazard_id: Id, body: TransitionRequest, engine: EngineDep, principal: PrincipalDep) -> dict:
    """Take an action on a hazard at the version the user saw: 409 stale_version when it has moved on,
    409 invalid_transition when the action is not allowed from its state, 403 when the user may not."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        row = hazards_db.hazard(conn, hazard_id)
        if row is None:
            raise NotFound(f"no hazard {hazard_id}")
        parties = parties_of(
            manages=manages_grid(conn, principal, row["grid_id"]),
            user_id=principal.user_id,
            assigned_user_id=row["assigned_user_id"],
            reported_by=row["reported_by"],
        )
        act = workflow.Act(**body.model_dump())
        subject = f"hazard {hazard_id}"
        step = workflow.apply(
            _case(row), act, parties, now=row["now"], category_hours=row["category_hours"], subject=subject
        )
        if body.assigned_user_id is not None:
            _check_assignee(conn, body.assigned_user_id, row["grid_id"])
        if not hazards_db.update_hazard(conn, hazard_id, body.version, _fields(step.after)):
            current = hazards_db.hazard(conn, hazard_id)
            version = current["version"] if current else body.version
            raise StaleVersion(f"hazard {hazard_id} was changed meanwhile (now version {version})", version)
        hazards_db.append_history(
            conn,
            hazard_id,
            version=step.after.version,
            action=body.action,
            from_state=step.before.state,
            to_state=step.after.state,
            user_id=principal.user_id,
            role=principal.role,
            note=body.note,
            detail=step.detail,
            at=row["now"],
        )
        audit(
            conn,
            principal,
            "update",
            "hazards",
            object_ids=[hazard_id],
            detail={"action": body.action, "version": step.after.version},
        )
        changed = hazards_db.hazard(conn, hazard_id)
        assert changed is not None
        return _with_history(conn, changed)


CASE_FIELDS = tuple(f.name for f in dataclasses.fields(workflow.Hazard))


def _case(row: dict) -> workflow.Hazard:
    return workflow.Hazard(**{name: row[name] for name in CASE_FIELDS})


def _fields(hazard: workflow.Hazard) -> dict:
    """The columns a transition writes (the storage bumps the version it guards)."""
    return {name: getattr(hazard, name) for name in CASE_FIELDS if name != "version"}


def _check_assignee(conn: Connection, user_id: int, grid_id: int | None) -> None:
    """A hazard is dispatched to an enabled field user whose places hold its grid (else 404, as for no user)."""
    found = hazards_db.assignee(conn, user_id, grid_id)
    if found is None or found["disabled"] or found["role"] not in FIELD_READERS or not found["covers"]:
        raise NotFound(f"no user {user_id} working in the hazard's grid")
