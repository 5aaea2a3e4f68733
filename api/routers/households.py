"""Households (户) of the signed-in user's places: a GeoJSON page by grid or community, one household, create and
change. Row-level security gives each user the households of their places (a party member: their 中心户's);
every write is audited. Residents' names and phones are under /residents, masked."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from api.access import FIELD_READERS, FIELD_WRITERS, audit, in_places, managed_grids, place_by_code
from api.accounts.roles import Principal
from api.deps import EngineDep, PrincipalDep, SettingsDep, require_role
from api.errors import NotFound
from api.openapi import GeoJSONResponse
from api.params import Id, Point, decode_cursor, feature_page
from api.storage import Connection, transaction, user_scope
from api.storage import households as households_db
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
        grid_id = place_by_code(conn, principal, "grid", grid_code)
        community_id = place_by_code(conn, principal, "community", community_code)
        mine = _own(conn, principal) if grid_id is None and community_id is None else {}
        rows = households_db.households_page(
            conn, after=after, limit=limit, grid_id=grid_id, community_id=community_id, **mine
        )
    return feature_page(request.url, [_feature(r) for r in rows], rows, limit)


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
