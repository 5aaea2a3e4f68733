"""Visits (走访) logged from the phone: one (`POST /visits`) or a batch kept offline (`POST /visits/batch`), and the
visits of a household or of grids in a period (`GET /visits`), under row-level security.

Offline protocol (api.offline): each visit carries the phone's ``client_id``. The first call stores it (201); the
same client_id with the same content (SHA-256 of the canonical JSON of the visit as validated) gives the stored
visit back (200, the same body); with other content it is refused (409 ``client_id_conflict``). A batch reports
each item's outcome in order, each in its own savepoint, so one bad item loses none of the others; the batch itself
answers 200. A GPS point farther than ``visit_far_m`` (200 m) from the household's building is stored and flagged
(``far``, ``distance_m``); a time more than ``visit_future_minutes`` ahead is refused (422). Every visit stored
is audited."""

import uuid
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.access import FIELD_READERS, audit, in_places, managed_grids
from api.accounts.roles import Principal
from api.batch import item_outcome
from api.deps import EngineDep, PrincipalDep, SettingsDep, require_role
from api.errors import ClientIdConflict, InvalidEntry, InvalidParameter, NotFound
from api.offline import payload_sha256
from api.params import Id, Instant, Point, decode_cursor, encode_cursor
from api.settings import Settings
from api.storage import Connection, transaction, user_scope
from api.storage import visits as visits_db
from api.storage.places import place_id_by_code
from api.visits.due import CHINA
from api.visits.rules import VISIT_KINDS

router = APIRouter(prefix="/visits", tags=["visits 走访"], dependencies=[Depends(require_role(*FIELD_READERS))])

Kind = Literal[VISIT_KINDS]  # type: ignore[valid-type]
PAGE_SIZE, PAGE_SIZE_MAX = 100, 500
NOTES_MAX = 2000
EARLIEST = datetime(2000, 1, 1, tzinfo=CHINA)  # older is a phone's clock gone wrong (and year 1 is BC in UTC)


class NewVisit(BaseModel):
    """A visit as the phone sends it. Unknown fields are refused (a misspelt ``note`` would be lost otherwise)."""

    model_config = ConfigDict(extra="forbid")
    client_id: uuid.UUID = Field(description="Made by the phone once per visit: a retry sends the same")
    household_id: Id
    kind: Kind = "routine"
    visited_at: Instant = Field(description="ISO 8601 with its offset, e.g. 2026-12-06T09:30:00+08:00")
    location: Point | None = Field(default=None, description="Where the phone was: GeoJSON Point, WGS84, in China")
    notes: Annotated[str, Field(max_length=NOTES_MAX)] | None = None
    photo_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        default=None, description="A photo uploaded first with PUT /photos/{sha256}"
    )

    @field_validator("notes")
    @classmethod
    def _storable(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("notes may not contain the NUL character")
        if value is not None and any("\ud800" <= c <= "\udfff" for c in value):
            raise ValueError("notes must be valid Unicode text (no lone surrogates)")
        return value

    @field_validator("visited_at")
    @classmethod
    def _recent_enough(cls, value: datetime) -> datetime:
        if value < EARLIEST:
            raise ValueError(f"a visit before {EARLIEST.date().isoformat()} is no visit gridmap keeps")
        return value


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(CHINA).isoformat()


def shown(row: dict) -> dict:
    """A visit as served (the same for the first answer and every replay)."""
    location = None if row["lon"] is None else {"type": "Point", "coordinates": [row["lon"], row["lat"]]}
    return {
        "id": row["id"],
        "client_id": str(row["client_id"]),
        "household_id": row["household_id"],
        "grid_code": row["grid_code"],
        "user_id": row["user_id"],
        "role": row["role"],
        "kind": row["kind"],
        "visited_at": _iso(row["visited_at"]),
        "received_at": _iso(row["received_at"]),
        "location": location,
        "distance_m": None if row["distance_m"] is None else round(row["distance_m"], 1),
        "far": row["far"],
        "notes": row["notes"],
        "photo_sha256": row["photo_sha256"],
    }


def _replay(existing: dict, digest: str) -> tuple[int, dict]:
    if existing["payload_sha256"] != digest:
        raise ClientIdConflict(
            f"client_id {existing['client_id']} is stored with other content (visit {existing['id']}): "
            "a new visit needs a new client_id"
        )
    return 200, existing


def record_visit(
    conn: Connection, principal: Principal, visit: NewVisit, settings: Settings, now: datetime
) -> tuple[int, dict]:
    """Store `visit` (201) or give back the one stored under its client_id (200); the stored row."""
    digest = payload_sha256(visit.model_dump(mode="json"))
    existing = visits_db.visit_by_client_id(conn, visit.client_id)
    if existing is not None:
        return _replay(existing, digest)
    ahead = visit.visited_at - now
    if ahead > timedelta(minutes=settings.visit_future_minutes):
        raise InvalidEntry(
            f"visited_at: {visit.visited_at.isoformat()} is {ahead.total_seconds() / 60:.0f} minutes in the future "
            f"(at most {settings.visit_future_minutes:g} minutes are allowed for a phone's clock)"
        )
    if visits_db.visible_household(conn, visit.household_id) is None:
        raise NotFound(f"no household {visit.household_id}")
    values = visit.model_dump(exclude={"location"}) | {
        "location": None if visit.location is None else visit.location.model_dump(),
        "user_id": principal.user_id,
        "role": principal.role,
        "payload_sha256": digest,
    }
    new_id = visits_db.insert_visit(conn, values, settings.visit_far_m)
    if new_id is None:  # a retry of the same visit stored it meanwhile, or the client_id is someone else's
        existing = visits_db.visit_by_client_id(conn, visit.client_id)
        if existing is None:
            raise ClientIdConflict(f"client_id {visit.client_id} is taken: a new visit needs a new client_id")
        return _replay(existing, digest)
    row = visits_db.visit(conn, new_id)
    assert row is not None  # just written in this transaction
    audit(conn, principal, "create", "visits", [new_id], detail={"household_id": visit.household_id, "far": row["far"]})
    return 201, row


@router.post("", status_code=201, responses={200: {"description": "Stored before under this client_id (a retry)"}})
def post_visit(
    body: NewVisit, response: Response, engine: EngineDep, principal: PrincipalDep, settings: SettingsDep
) -> dict:
    """Log a visit (201), or get back the one already stored under this client_id (200); see the module's
    offline protocol."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        status, row = record_visit(conn, principal, body, settings, datetime.now(CHINA))
    response.status_code = status
    return shown(row)


class Batch(BaseModel):
    items: list[Any]


@router.post("/batch")
def post_batch(
    body: Annotated[list[Any] | Batch, Body(description="A JSON array of visits, or {items: [...]}")],
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> dict:
    """Visits kept on a phone while offline, in one call: each item's outcome in order (``status`` 201 stored, 200
    stored before, 409, 404 or 422 with ``code`` and ``detail``); each item in its own savepoint, so a bad item
    loses none of the others. The call itself answers 200 whenever the batch is well formed."""
    items = body.items if isinstance(body, Batch) else body
    if len(items) > settings.visit_batch_max:
        raise InvalidParameter(f"items: at most {settings.visit_batch_max} visits in a batch, got {len(items)}")
    now = datetime.now(CHINA)
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:

        def store(visit: NewVisit) -> tuple[int, dict]:
            with conn.begin_nested():  # a savepoint: an item refused leaves the others
                status, row = record_visit(conn, principal, visit, settings, now)
            return status, {"visit": shown(row)}

        results = [item_outcome(index, item, NewVisit, store) for index, item in enumerate(items)]
    counts = {name: sum(1 for r in results if r["status"] == s) for name, s in (("stored", 201), ("replayed", 200))}
    return {"results": results, **counts, "refused": len(results) - sum(counts.values())}


GridCode = Annotated[str, Query(pattern=r"^\d{15}$", description="A grid's 15-digit code")]
Day = Annotated[date | None, Query(description="A day (China time), inclusive")]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=CHINA)


@router.get("")
def list_visits(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    household_id: Id | None = None,
    grid_code: GridCode | None = None,
    from_: Annotated[date | None, Query(alias="from", description="First day (China time)")] = None,
    to: Annotated[date | None, Query(description="Last day (China time), inclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200, description="From the previous page's next link")] = None,
) -> dict:
    """Visits of a household, of a grid, or of all the user's places, newest first, in pages."""
    if from_ is not None and to is not None and to < from_:
        raise InvalidParameter(f"to ({to}) is before from ({from_})")
    before = decode_cursor(cursor) or 2**63 - 1
    limit = min(limit, settings.page_size_max)
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        filters: dict[str, Any] = {}
        if household_id is not None:
            if visits_db.visible_household(conn, household_id) is None:
                raise NotFound(f"no household {household_id}")
            filters["household_id"] = household_id
        if grid_code is not None:
            grid_id = place_id_by_code(conn, "grid", grid_code)
            if grid_id is None or not in_places(conn, principal, "grid", grid_id):
                raise NotFound(f"no grid {grid_code}")
            filters["grid_ids"] = [grid_id]
        elif household_id is None and principal.role != "party_member":
            grids = managed_grids(conn, principal)
            if grids is not None:  # as a filter on top of row-level security (an index range, not a scan)
                filters["grid_ids"] = sorted(grids)
        rows = visits_db.visits_page(
            conn,
            before=before,
            limit=limit,
            start=None if from_ is None else _day_start(from_),
            end=None if to is None else _day_start(to + timedelta(days=1)),
            **filters,
        )
    body: dict[str, Any] = {"visits": [shown(r) for r in rows], "links": [], "numberReturned": len(rows)}
    if len(rows) == limit:
        next_url = request.url.include_query_params(cursor=encode_cursor(rows[-1]["id"]), limit=limit)
        body["links"].append({"rel": "next", "href": str(next_url)})
    return body
