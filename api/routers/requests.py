"""Residents' requests and micro-wishes (诉求 / 微心愿): 居民点单 (POST /requests), 支部下单, 党员接单, 办结 and
群众评单 (POST /requests/{id}/transitions with the expected version), lists and one request with its history, possible
duplicates. Row-level security gives each user the requests of their places, those they reported and those
dispatched to them; the requester's name and phone are always served masked; every write is audited."""

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field, field_validator

from api.access import FIELD_READERS, audit, case_grids, manages_grid, place_by_code, reporting_grids
from api.deps import EngineDep, PrincipalDep, SettingsDep, require_role
from api.errors import ClientIdConflict, InvalidParameter, NotFound, OutsideYourPlaces, StaleVersion
from api.offline import payload_sha256
from api.openapi import GeoJSONResponse
from api.params import Id, Point, decode_cursor, feature_page
from api.requests_view import feature, nearby_view, when
from api.residents import check_phone
from api.storage import Connection, transaction, user_scope
from api.storage import households as households_db
from api.storage import requests as requests_db
from api.workflows.requests import ACTIONS, STATES, Actor, Case, decide

router = APIRouter(prefix="/requests", tags=["requests 诉求"], dependencies=[Depends(require_role(*FIELD_READERS))])
services_router = APIRouter(tags=["requests 诉求"], dependencies=[Depends(require_role(*FIELD_READERS))])

PAGE_SIZE = 100
PAGE_SIZE_MAX = 500
DUPLICATE_METRES = 50.0  # the same service this close …
DUPLICATE_DAYS = 7  # … and this recent is suggested as a possible duplicate
GridCode = Annotated[str, Query(pattern=r"^\d{15}$", description="A grid's 15-digit code")]
CommunityCode = Annotated[str, Query(pattern=r"^\d{12}$", description="A community's 12-digit code")]
ServiceCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
Printable = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # line breaks and tabs allowed, other control characters not
State = Literal[STATES]  # type: ignore[valid-type]
Action = Literal[ACTIONS]  # type: ignore[valid-type]


class NewRequest(BaseModel):
    """A resident's request (居民点单), entered by a worker, a secretary or a party member for the resident."""

    service_code: ServiceCode
    location: Point
    description: Annotated[str, Field(min_length=1, max_length=2000, pattern=Printable)]
    household_id: Id | None = None
    resident_id: Id | None = None
    requester_name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")] | None = None
    requester_phone: Annotated[str, Field(max_length=40)] | None = None
    client_id: UUID | None = Field(default=None, description="Made by the phone: a retry is the same request")

    @field_validator("requester_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else check_phone(value).number

    @field_validator("description")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a description that says what is asked for")
        return value


def _with_duplicates(conn: Connection, row: dict) -> dict:
    body = feature(row)
    body["properties"]["possible_duplicates"] = nearby_view(_nearby(conn, row))
    return body


def _nearby(conn: Connection, row: dict) -> list[dict]:
    return requests_db.nearby(
        conn,
        service_code=row["service_code"],
        lon=row["lon"],
        lat=row["lat"],
        at=row["requested_at"],
        exclude=row["id"],
        metres=DUPLICATE_METRES,
        days=DUPLICATE_DAYS,
    )


@services_router.get("/services")
def list_services(engine: EngineDep, principal: PrincipalDep) -> list[dict]:
    """The kinds of request (Open311 service codes) with their deadline (办结时限, hours)."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        return requests_db.services(conn)


@router.post(
    "",
    status_code=201,
    response_class=GeoJSONResponse,
    responses={200: {"description": "An identical retry (same client_id): the request stored first"}},
)
def create_request(body: NewRequest, response: Response, engine: EngineDep, principal: PrincipalDep) -> dict:
    """Store a request in one of the user's grids (201), with possible duplicates nearby; the same client_id and
    content again returns the original (200), with other content 409."""
    digest = payload_sha256(body.model_dump(mode="json"))
    lon, lat = body.location.coordinates
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        if body.client_id is not None and (existing := requests_db.by_client_id(conn, str(body.client_id))):
            return _replay(conn, existing, digest, response)
        if not requests_db.services(conn, body.service_code):
            codes = ", ".join(s["code"] for s in requests_db.services(conn))
            raise InvalidParameter(f"service_code: no service {body.service_code!r} (one of {codes})")
        grid = requests_db.grid_at(conn, lon, lat)
        grids = reporting_grids(conn, principal)
        if grid is None or (grids is not None and grid["id"] not in grids):
            raise OutsideYourPlaces(f"location: [{lon}, {lat}] is not in a grid of yours")
        household_id = _household(conn, body)
        values: dict[str, Any] = body.model_dump(include={"service_code", "description", "resident_id"})
        values |= {"requester_name": body.requester_name, "requester_phone": body.requester_phone}
        values |= {"client_id": None if body.client_id is None else str(body.client_id), "payload_sha256": digest}
        values |= {"grid_id": grid["id"], "household_id": household_id, "lon": lon, "lat": lat}
        values |= {"source": "worker", "reported_by": principal.user_id}
        request_id = requests_db.insert(conn, values)
        if request_id is None:  # the same client_id stored meanwhile
            existing = requests_db.by_client_id(conn, str(body.client_id))
            if existing is None:
                raise ClientIdConflict("client_id is already used by another entry")
            return _replay(conn, existing, digest, response)
        requests_db.add_history(
            conn,
            request_id=request_id,
            version=1,
            action="submit",
            from_state=None,
            to_state="submitted",
            user_id=principal.user_id,
            role=principal.role,
            note=None,
            detail=json.dumps({"source": "worker"}),
        )
        audit(conn, principal, "create", "requests", object_ids=[request_id])
        row = requests_db.request(conn, request_id)
        assert row is not None  # just written in this transaction
        return _with_duplicates(conn, row)


def _replay(conn: Connection, existing: dict, digest: str, response: Response) -> dict:
    if existing["payload_sha256"] != digest:
        raise ClientIdConflict(f"client_id is stored with other content (request {existing['id']}); not changed")
    response.status_code = 200
    return _with_duplicates(conn, existing)


def _household(conn: Connection, body: NewRequest) -> int | None:
    """The household a request is from: given, or the resident's; each must be one the user sees."""
    household_id = body.household_id
    if body.resident_id is not None:
        resident = households_db.resident(conn, body.resident_id)
        if resident is None:
            raise NotFound(f"no resident {body.resident_id}")
        if household_id is not None and resident["household_id"] != household_id:
            raise InvalidParameter(f"resident_id: resident {body.resident_id} is not of household {household_id}")
        household_id = resident["household_id"]
    if household_id is not None and households_db.household(conn, household_id) is None:
        raise NotFound(f"no household {household_id}")
    return household_id


@router.get("", response_class=GeoJSONResponse)
def list_requests(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    grid_code: GridCode | None = None,
    community_code: CommunityCode | None = None,
    state: State | None = None,
    service_code: Annotated[str | None, Query(max_length=40, pattern=r"^[a-z0-9_]+$")] = None,
    overdue: Annotated[bool | None, Query(description="Only those open past their deadline (false: others)")] = None,
    assigned_to_me: Annotated[bool, Query(description="Only those dispatched to me (党员接单)")] = False,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200, description="From the previous page's next link")] = None,
) -> dict:
    """A page of the requests the user sees, newest first, with a next link."""
    before = decode_cursor(cursor)
    limit = min(limit, settings.page_size_max)
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        grid_id = place_by_code(conn, principal, "grid", grid_code)
        community_id = place_by_code(conn, principal, "community", community_code)
        # the user's grids named on top of row-level security (api.access.case_grids), as for households
        mine = case_grids(conn, principal) if grid_id is None and community_id is None else None
        rows = requests_db.page(
            conn,
            before=before,
            limit=limit,
            grid_id=grid_id,
            community_id=community_id,
            state=state,
            service_code=service_code,
            assigned_user_id=principal.user_id if assigned_to_me else None,
            overdue=overdue,
            grid_ids=mine,
            or_assigned_to=principal.user_id,
        )
    return feature_page(request.url, [feature(r) for r in rows], rows, limit)


@router.get("/{request_id}", response_class=GeoJSONResponse)
def get_request(request_id: Id, engine: EngineDep, principal: PrincipalDep) -> dict:
    """One request the user sees, with its history (404 for any other, stored or not)."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        row = requests_db.request(conn, request_id)
        if row is None:
            raise NotFound(f"no request {request_id}")
        body = feature(row)
        body["properties"]["history"] = [_history(h) for h in requests_db.history(conn, request_id)]
    return body


def _history(row: dict) -> dict:
    return {**row, "at": when(row["at"])}


@router.get("/{request_id}/duplicates")
def get_duplicates(request_id: Id, engine: EngineDep, principal: PrincipalDep) -> dict:
    """Requests of the same service within ~50 m and 7 days of this one (that the user sees)."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        row = requests_db.request(conn, request_id)
        if row is None:
            raise NotFound(f"no request {request_id}")
        found = _nearby(conn, row)
    body = {"request_id": request_id, "metres": DUPLICATE_METRES, "days": DUPLICATE_DAYS}
    return body | {"duplicates": nearby_view(found)}


Note = Annotated[str, Field(max_length=2000, pattern=Printable)]


class TransitionBody(BaseModel):
    """An action on a request, made against the version the client last saw."""

    action: Action
    version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    note: Note | None = None
    assigned_user_id: Id | None = Field(default=None, description="dispatch: a party member of the community")
    assigned_unit: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")] | None = Field(
        default=None, description="dispatch: a co-building unit (共建单位) by name"
    )
    rating: Annotated[int, Field(ge=1, le=5)] | None = Field(default=None, description="rate: 1–5 (满意度)")
    comment: Note | None = Field(default=None, description="rate: the resident's words")
    reason: Note | None = Field(default=None, description="reject: why (shown as status_notes)")
    duplicate_of: Id | None = Field(default=None, description="duplicate: the request this one repeats")


@router.post("/{request_id}/transitions", response_class=GeoJSONResponse)
def transition(request_id: Id, body: TransitionBody, engine: EngineDep, principal: PrincipalDep) -> dict:
    """Take an action: 409 stale_version when the request is not at `version` any more, 409 invalid_transition
    from a state the action does not start from, 403 for a role or person it is not for."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        row = requests_db.request(conn, request_id)
        if row is None:
            raise NotFound(f"no request {request_id}")
        manages = manages_grid(conn, principal, row["grid_id"])
        actor = Actor(role=principal.role, user_id=principal.user_id, manages=manages)
        row = act(conn, row, body, actor, version=body.version)
        audit(conn, principal, "update", "requests", object_ids=[request_id], detail={"action": body.action})
        return feature(row)


def act(conn: Connection, row: dict, body: TransitionBody, actor: Actor, *, version: int) -> dict:
    """Check and make one action on a stored request (shared with Open311's rating): the change, its history row
    in the same transaction; the request as it is now."""
    request_id = row["id"]
    if row["version"] != version:
        raise StaleVersion(
            f"request {request_id} is at version {row['version']}, not {version}: reload it", row["version"]
        )
    case = Case(row["state"], row["assigned_user_id"], row["assigned_unit"], row["partner_id"], row["reported_by"])
    fields = body.model_dump(exclude={"action", "version"})
    change = decide(case, body.action, actor, now=datetime.now(UTC), subject=f"request {request_id}", **fields)
    if body.action == "dispatch" and body.assigned_user_id is not None:
        if not requests_db.member_in_community(conn, body.assigned_user_id, row["community_id"]):
            raise InvalidParameter(f"assigned_user_id: {body.assigned_user_id} is no party member of this community")
    if body.action == "duplicate" and body.duplicate_of is not None:
        _check_parent(conn, request_id, body.duplicate_of)
    new_version = requests_db.apply(conn, request_id, version, change.values)
    if new_version is None:
        now = requests_db.request(conn, request_id)
        current = version if now is None else now["version"]
        raise StaleVersion(f"request {request_id} was changed meanwhile (now version {current}): reload it", current)
    requests_db.add_history(
        conn,
        request_id=request_id,
        version=new_version,
        action=change.action,
        from_state=change.from_state,
        to_state=change.to_state,
        user_id=actor.user_id,
        role=actor.role or ("open311_partner" if actor.partner_id else None),
        note=body.note or body.reason or body.comment,
        detail=json.dumps(change.detail | ({"partner_id": actor.partner_id} if actor.partner_id else {})),
    )
    changed = requests_db.request(conn, request_id)
    assert changed is not None
    return changed


def _check_parent(conn: Connection, request_id: int, parent_id: int) -> None:
    if parent_id == request_id:
        raise InvalidParameter("duplicate_of: a request cannot repeat itself")
    parent = requests_db.request(conn, parent_id)
    if parent is None:
        raise NotFound(f"no request {parent_id}")
    if parent["state"] == "duplicate":
        raise InvalidParameter(f"duplicate_of: request {parent_id} is itself a duplicate of {parent['duplicate_of']}")
