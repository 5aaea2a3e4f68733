"""Households (户) of the signed-in user's places: a GeoJSON page by grid or community, one household, create and
change. Row-level security gives each user the households of their places (a party member: their 中心户's);
every write is audited. Residents' names and phones are under /residents, masked."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, field_validator

from api.access import FIELD_READERS, FIELD_WRITERS, audit, in_places, managed_grids
from api.accounts.roles import Principal
from api.deps import EngineDep, PrincipalDep, SettingsDep, require_role
from api.errors import NotFound
from api.openapi import GeoJSONResponse
from api.params import Id, decode_cursor, encode_cursor
from api.storage import Connection, transaction, user_scope
from api.storage import households as households_db
from api.storage.places import place_id_by_code
from gis.workload import ALL_TAGS

router = APIRouter(prefix="/households", tags=["households 户"], dependencies=[Depends(require_role(*FIELD_READERS))])

PAGE_SIZE = 100
PAGE_SIZE_MAX = 500  # a page of a grid's 300–500 households at most
GridCode = Annotated[str, Query(pattern=r"^\d{15}$", description="A grid's 15-digit code")]
CommunityCode = Annotated[str, Query(pattern=r"^\d{12}$", description="A community's 12-digit code")]
Tag = Literal[ALL_TAGS]  # type: ignore[valid-type]
Text = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[^\x00-\x1f\x7f]+$")]


def _feature(row: dict) -> dict:
    properties = {k: row[k] for k in ("id", "building_id", "grid_code", "unit", "room", "size", "tags", "residents")}
    properties["is_party_member"] = row["is_party_member"]
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [round(row["lon"], 7), round(row["lat"], 7)]},
        "properties": properties,
    }


@router.get("", response_class=GeoJSONResponse)
def list_households(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    grid_code: GridCode | None = None,
    community_code: CommunityCode | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200, description="From the previous page's next link")] = None,
) -> dict:
    """A page of the households of the user's places (of one grid or community), by id, with a next link."""
    after = decode_cursor(cursor)
    limit = min(limit, settings.page_size_max)
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        grid_id = _place(conn, "grid", grid_code, principal)
        community_id = _place(conn, "community", community_code, principal)
        mine = _own(conn, principal) if grid_id is None and community_id is None else {}
        rows = households_db.households_page(
            conn, after=after, limit=limit, grid_id=grid_id, community_id=community_id, **mine
        )
    body: dict[str, Any] = {"type": "FeatureCollection", "features": [_feature(r) for r in rows], "links": []}
    body["numberReturned"] = len(rows)
    if len(rows) == limit:
        next_url = request.url.include_query_params(cursor=encode_cursor(rows[-1]["id"]), limit=limit)
        body["links"].append({"rel": "next", "type": "application/geo+json", "href": str(next_url)})
    return body


def _place(conn: Connection, kind: Literal["grid", "community"], code: str | None, principal: Principal) -> int | None:
    """The id of the place a code names, if it is one of the user's (else 404, as for a code that is not stored)."""
    if code is None:
        return None
    place_id = place_id_by_code(conn, kind, code)
    # a party member's households are their 中心户's, which the database picks: they filter by no place
    if place_id is None or not in_places(conn, principal, kind, place_id):
        raise NotFound(f"no {kind} {code}")
    return place_id


def _own(conn: Connection, principal: Principal) -> dict[str, list[int]]:
    """The user's grids (a party member: households), as a filter on top of row-level security; none for admins."""
    if principal.role == "party_member":
        return {"household_ids": households_db.user_household_ids(conn, principal.user_id)}
    grids = managed_grids(conn, principal)
    return {} if grids is None else {"grid_ids": sorted(grids)}


@router.get("/{household_id}", response_class=GeoJSONResponse)
def get_household(household_id: Id, engine: EngineDep, principal: PrincipalDep) -> dict:
    """One household of the user's places (404 for any other, stored or not)."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        row = households_db.household(conn, household_id)
    if row is None:
        raise NotFound(f"no household {household_id}")
    return _feature(row)


class Point(BaseModel):
    type: Literal["Point"]
    coordinates: Annotated[list[float], Field(min_length=2, max_length=2)]

    @field_validator("coordinates")
    @classmethod
    def _in_china(cls, value: list[float]) -> list[float]:
        lon, lat = value
        if not (73 <= lon <= 136 and 3 <= lat <= 54):
            raise ValueError("a point in China, [lon, lat] in WGS84")
        return value


class HouseholdChange(BaseModel):
    unit: Text | None = None
    room: Text | None = None
    size: Annotated[int, Field(ge=1, le=50)] | None = None
    tags: Annotated[list[Tag], Field(max_length=len(ALL_TAGS))] | None = None
    is_party_member: bool | None = None


class NewHousehold(HouseholdChange):
    building_id: Id
    room: Text
    size: Annotated[int, Field(ge=1, le=50)] = 1
    location: Point | None = Field(default=None, description="Where the door is; default: on the building")


WRITE = [Depends(require_role(*FIELD_WRITERS))]


@router.post("", status_code=201, dependencies=WRITE, response_class=GeoJSONResponse)
def create_household(body: NewHousehold, engine: EngineDep, principal: PrincipalDep) -> dict:
    """A household in a building of the user's grids (its grid is the building's)."""
    values = body.model_dump(exclude={"building_id", "location"}) | {"building_id": body.building_id}
    values["tags"] = sorted(set(values["tags"] or []))
    values["is_party_member"] = bool(values["is_party_member"])
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        stored, grid_id = households_db.building_grid(conn, body.building_id)
        if not stored or grid_id is None or not in_places(conn, principal, "grid", grid_id):
            raise NotFound(f"no building {body.building_id} in a grid of yours")
        location = None if body.location is None else body.location.model_dump()
        household_id = households_db.create_household(conn, values, location)
        audit(
            conn,
            principal,
            "create",
            "households",
            object_ids=[household_id],
        )
        row = households_db.household(conn, household_id)
    assert row is not None  # just written in this transaction
    return _feature(row)


@router.patch("/{household_id}", dependencies=WRITE, response_class=GeoJSONResponse)
def change_household(household_id: Id, body: HouseholdChange, engine: EngineDep, principal: PrincipalDep) -> dict:
    """Change a household of the user's places (only the fields given)."""
    values = body.model_dump(exclude_unset=True, exclude_none=True)
    if "tags" in values:
        values["tags"] = sorted(set(values["tags"]))
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        if not households_db.update_household(conn, household_id, values):
            raise NotFound(f"no household {household_id}")
        audit(
            conn,
            principal,
            "update",
            "households",
            object_ids=[household_id],
            detail={"fields": sorted(values)},
        )
        row = households_db.household(conn, household_id)
    assert row is not None
    return _feature(row)
