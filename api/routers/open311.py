"""Open311 GeoReport v2 (JSON) under /open311/v2/: discovery, services, service definitions, requests (GET, and POST
with a partner's api_key), one request; and gridmap's extension for the resident's rating (群众评单).

Who reads what (docs/fieldwork.md): services and discovery are open. GET requests with a partner's api_key — as
the api_key argument, or as the password of HTTP Basic, which clients built on `requests` send from a URL like
https://app:KEY@host/open311/v2 — answers that partner's own requests in full (row-level security passes only
those). Without a key, when GRIDMAP_OPEN311_PUBLIC_READS is on (the default, since the spec's GETs take no key and
the client libraries send none), every request is answered with its service, status, times and agency only, at the
point of its grid: no description, notes or media, no exact place. Residents' personal fields (name, phone, email,
account, household, resident) are never in any answer. Errors are the spec's ``[{"code", "description"}]``
(api.handlers)."""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import EngineDep, SettingsDep
from api.errors import ClientIdConflict, Forbidden, InvalidParameter, NotFound
from api.open311 import form, mapping
from api.open311.partners import Partner, basic_password, partner_for_key
from api.openapi import ERROR_RESPONSES
from api.routers.requests import TransitionBody, act
from api.settings import Settings
from api.storage import NOBODY, SYSTEM, Connection, Engine, partner_scope, transaction
from api.storage import open311 as open311_db
from api.storage import requests as requests_db
from api.storage.audit import record
from api.workflows.requests import Actor


class Open311JSON(JSONResponse):
    """JSON as the spec asks for it: Content-Type: application/json; charset=utf-8."""

    media_type = "application/json; charset=utf-8"


class Open311Error(BaseModel):
    """One error of the spec's list: the HTTP status and what is wrong."""

    code: int
    description: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": "GeoReport v2 errors: 404 not found, 403 missing or invalid api_key, 400 anything else",
        "content": {"application/json": {"schema": {"type": "array", "items": Open311Error.model_json_schema()}}},
    }
    for status in ERROR_RESPONSES
}
router = APIRouter(
    prefix="/open311/v2", tags=["Open311 GeoReport v2"], default_response_class=Open311JSON, responses=ERRORS
)
Arg = Annotated[str | None, Query(max_length=20000)]


async def form_fields(request: Request) -> dict[str, str]:
    """The form of a POST (application/x-www-form-urlencoded, as the spec says); files are refused."""
    fields = await request.form(max_files=0, max_fields=200)
    return {name: value for name, value in fields.multi_items() if isinstance(value, str)}


FormDep = Annotated[dict[str, str], Depends(form_fields)]


def _form_body(required: list[str], **fields: str) -> dict[str, Any]:
    """The OpenAPI description of a form body (read by `form_fields`, so FastAPI cannot infer it)."""
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}}


POST_FORM = _form_body(
    ["api_key", "service_code"],
    api_key="The key issued to the partner app",
    service_code="From services.json",
    lat="Latitude, WGS84",
    long="Longitude, WGS84",
    description="What is asked for (at most 4000 characters)",
    first_name="The requester's given name (kept, never served)",
    last_name="The requester's family name (kept, never served)",
    phone="The requester's phone (kept, never served)",
    email="Not kept",
    device_id="Not kept",
    account_id="Not kept",
    media_url="An http(s) link to a photo; served back to this partner only",
    client_id="gridmap's extension: a UUID made by the app, so that a retry is the same request",
)
RATING_FORM = _form_body(
    ["api_key", "rating"], api_key="The key of the partner that posted it", rating="1–5", comment="The resident's words"
)


def _key(request: Request, fields: Mapping[str, str] | None = None) -> str | None:
    """The api_key: an argument (query or form), or the password of HTTP Basic authentication."""
    key = request.query_params.get("api_key") or (fields or {}).get("api_key")
    return key or basic_password(request.headers.get("authorization", ""))


def _partner(engine: Engine, key: str | None) -> Partner:
    with transaction(engine, scope=NOBODY) as conn:
        return partner_for_key(conn, key)


@router.get("/discovery.json")
def discovery(request: Request) -> dict:
    """The service discovery file."""
    return mapping.discovery(str(request.url_for("services_list")).removesuffix("/services.json"))


@router.get("/services.json", name="services_list")
def services(engine: EngineDep, jurisdiction_id: Arg = None) -> list[dict]:
    """The kinds of request (service codes); jurisdiction_id is ignored (one jurisdiction)."""
    with transaction(engine, scope=NOBODY) as conn:
        return [mapping.service(row) for row in requests_db.services(conn)]


@router.get("/services/{service_code}.json")
def service_definition(service_code: str, engine: EngineDep, jurisdiction_id: Arg = None) -> dict:
    """A service's definition: gridmap's services have no attributes."""
    with transaction(engine, scope=NOBODY) as conn:
        if len(service_code) > 40 or not requests_db.services(conn, service_code):
            raise NotFound(f"service_code {service_code[:40]!r} was not found")
    return mapping.definition(service_code)


def _read(request: Request, engine: Engine, settings: Settings, **filters: object) -> list[dict]:
    """Requests as a partner (its own, in full) or as anyone (all, generalised)."""
    key = _key(request)
    if key is not None:
        partner = _partner(engine, key)
        with transaction(engine, scope=partner_scope(partner.id)) as conn:
            rows = open311_db.service_requests(conn, public=False, **filters)  # type: ignore[arg-type]
        return [mapping.service_request(row, public=False) for row in rows]
    if not settings.open311_public_reads:
        raise Forbidden("api_key is required to read requests here")
    with transaction(engine, scope=SYSTEM) as conn:  # the PUBLIC columns hold nothing personal
        rows = open311_db.service_requests(conn, public=True, **filters)  # type: ignore[arg-type]
    return [mapping.service_request(row, public=True) for row in rows]


@router.get("/requests.json")
def service_requests(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    service_request_id: Arg = None,
    service_code: Arg = None,
    start_date: Arg = None,
    end_date: Arg = None,
    status: Arg = None,
    page: Arg = None,
    page_size: Arg = None,
    jurisdiction_id: Arg = None,
    api_key: Arg = None,
) -> list[dict]:
    """Requests newest first: by service_request_id (comma list; overrides the rest), or by service_code, status
    (open, closed) and requested_datetime between start_date and end_date (the latest 90 days by default, at most
    90 days); page and page_size (at most 1000) page through them."""
    number, size = form.paging(page, page_size)
    ids = form.id_list(service_request_id)
    if ids is not None:
        return _read(request, engine, settings, ids=ids, limit=size, offset=(number - 1) * size)
    start, end = form.window(start_date, end_date, datetime.now(UTC))
    return _read(
        request,
        engine,
        settings,
        codes=form.code_list(service_code),
        states=form.status_list(status),
        start=start,
        end=end,
        limit=size,
        offset=(number - 1) * size,
    )


def _request_id(text: str) -> int:
    if not (text.isascii() and text.isdigit() and 0 < len(text) <= 18):
        raise NotFound(f"service_request_id {text[:40]!r} was not found")
    return int(text)


@router.get("/requests/{service_request_id}.json")
def service_request(
    service_request_id: str, request: Request, engine: EngineDep, settings: SettingsDep, api_key: Arg = None
) -> list[dict]:
    """One request, as a list of one (the spec's shape)."""
    found = _read(request, engine, settings, ids=[_request_id(service_request_id)], limit=1)
    if not found:
        raise NotFound(f"service_request_id {service_request_id} was not found")
    return found


@router.post("/requests.json", status_code=201, responses={200: {"description": "An identical retry (same client_id)"}})
def post_service_request(request: Request, response: Response, engine: EngineDep, fields: FormDep) -> list[dict]:
    """Create a request (a form, with the partner's api_key): ``[{service_request_id, service_notice, account_id}]``,
    201; the same client_id with the same content again: 200 and the same answer."""
    partner = _partner(engine, _key(request, fields))
    posted = form.posted(fields)
    digest = posted.payload_sha256(partner.id)
    with transaction(engine, scope=partner_scope(partner.id)) as conn:
        if posted.client_id and (existing := requests_db.by_client_id(conn, posted.client_id)):
            return _replay(existing, digest, response)
        found = requests_db.services(conn, posted.service_code)
        if not found:
            raise NotFound(f"service_code {posted.service_code!r} was not found (GET services.json lists them)")
        grid = requests_db.grid_at(conn, posted.lon, posted.lat)
        if grid is None:
            raise InvalidParameter(f"lat/long: ({posted.lat}, {posted.lon}) is outside the area this gridmap serves")
        values = {
            "client_id": posted.client_id,
            "service_code": posted.service_code,
            "grid_id": grid["id"],
            "lon": posted.lon,
            "lat": posted.lat,
            "description": posted.description,
            "requester_name": posted.requester_name,
            "requester_phone": posted.requester_phone,
            "media_url": posted.media_url,
            "source": "open311",
            "partner_id": partner.id,
            "payload_sha256": digest,
        }
        request_id = requests_db.insert(conn, values)
        if request_id is None:
            existing = requests_db.by_client_id(conn, posted.client_id or "")
            if existing is None:
                raise ClientIdConflict("client_id is already used by another entry")
            return _replay(existing, digest, response)
        requests_db.add_history(
            conn,
            request_id=request_id,
            version=1,
            action="submit",
            from_state=None,
            to_state="submitted",
            user_id=None,
            role="open311_partner",
            note=None,
            detail=json.dumps({"source": "open311", "partner_id": partner.id}),
        )
        _audit(conn, partner, "create", request_id)
    response.status_code = 201
    return [_created(request_id, found[0]["deadline_hours"])]


def _created(request_id: int, deadline_hours: int) -> dict:
    """The spec's answer to a POST; account_id is a person's account: not kept, not returned (the spec allows)."""
    return {"service_request_id": str(request_id), "service_notice": mapping.notice(deadline_hours), "account_id": None}


def _replay(existing: dict, digest: str, response: Response) -> list[dict]:
    if existing["payload_sha256"] != digest:
        raise ClientIdConflict("client_id is stored with other content; not changed")
    response.status_code = 200
    hours = round((existing["deadline"] - existing["requested_at"]).total_seconds() / 3600)
    return [_created(existing["id"], hours)]


def _audit(conn: Connection, partner: Partner, action: str, request_id: int, detail: dict | None = None) -> None:
    record(
        conn,
        user_id=None,
        login=f"open311:{partner.name}",
        action=action,
        object_table="requests",
        object_ids=[request_id],
        detail={"partner_id": partner.id} | (detail or {}),
    )


@router.post("/requests/{service_request_id}/rating.json", openapi_extra=RATING_FORM)
def rate_service_request(service_request_id: str, request: Request, engine: EngineDep, fields: FormDep) -> list[dict]:
    """gridmap's extension for 群众评单: the partner that posted a completed request sends the resident's rating
    (rating 1–5, comment); the request is closed. 409 when it is not completed."""
    partner = _partner(engine, _key(request, fields))
    request_id = _request_id(service_request_id)
    rating = fields.get("rating", "")
    if not (rating.isascii() and rating.isdigit() and 1 <= int(rating) <= 5):
        raise InvalidParameter(f"rating: a whole number from 1 to 5; got {rating[:20]!r}")
    comment = form.text_field(fields, "comment", 2000)
    with transaction(engine, scope=partner_scope(partner.id)) as conn:
        row = requests_db.request(conn, request_id)
        if row is None:
            raise NotFound(f"service_request_id {request_id} was not found")
        body = TransitionBody(action="rate", version=row["version"], rating=int(rating), comment=comment)
        act(conn, row, body, Actor(partner_id=partner.id), version=row["version"])
        _audit(conn, partner, "update", request_id, {"action": "rate"})
        rows = open311_db.service_requests(conn, public=False, ids=[request_id], limit=1)
    return [mapping.service_request(rows[0], public=False)]


@router.api_route("/{path:path}.xml", methods=["GET", "POST"], include_in_schema=False)
def xml(path: str) -> None:
    """XML is the spec's other format; gridmap serves JSON only (discovery.json says so)."""
    raise InvalidParameter("this gridmap serves GeoReport v2 as JSON only: ask for the .json resource")
