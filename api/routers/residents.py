"""Residents (居民) of a household of the user's places: masked by default (张*明, 138****5678, 110105********1234).
An unmasked read needs the account's own permission and a stated reason, and is written to the audit log in the
same transaction as the read; so is every change. Masking happens here, on the server."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, field_validator, model_validator

from api.access import FIELD_READERS, FIELD_WRITERS, audit
from api.accounts.roles import Principal
from api.deps import EngineDep, PrincipalDep, SettingsDep, require_role
from api.errors import Forbidden, IdNumberTaken, InvalidParameter, NotFound
from api.params import Id
from api.residents import check_id_number, check_phone, id_number_hash, mask_id_number, mask_name, mask_phone
from api.settings import Settings, id_hash_key
from api.storage import Connection, transaction, user_scope
from api.storage import households as households_db
from gis.workload import ALL_TAGS

router = APIRouter(prefix="/residents", tags=["residents 居民"], dependencies=[Depends(require_role(*FIELD_READERS))])

Tag = Literal[ALL_TAGS]  # type: ignore[valid-type]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
IdNumberText = Annotated[str, Field(max_length=40, description="公民身份号码: stored as a keyed hash and masked")]
Reason = Annotated[str, Query(min_length=4, max_length=500, description="Why the unmasked data is needed")]


def _shown(row: dict, unmasked: bool) -> dict:
    """A resident as served: masked unless `unmasked`; the ID number in clear only where an admin kept it."""
    phone = row["phone"]
    return {
        "id": row["id"],
        "household_id": row["household_id"],
        "name": row["name"] if unmasked else mask_name(row["name"]),
        "gender": row["gender"],
        "birth_year": row["birth_year"],
        "phone": phone if unmasked or phone is None else mask_phone(phone),
        "id_number": (row["id_number"] or row["id_masked"]) if unmasked else row["id_masked"],
        "tags": row["tags"],
        "relation": row["relation"],
        "masked": not unmasked,
    }


def _may_unmask(principal: Principal, unmasked: bool, reason: str | None) -> None:
    if not unmasked:
        return
    if not principal.can_unmask:
        raise Forbidden("reading residents' data unmasked needs its own permission (gridmap users allow-unmasked)")
    if reason is None or not reason.strip():
        raise InvalidParameter("reason: say why the unmasked data is needed (it is written to the audit log)")


@router.get("")
def list_residents(
    household_id: Id,
    engine: EngineDep,
    principal: PrincipalDep,
    unmasked: bool = False,
    reason: Reason | None = None,
) -> dict:
    """The residents of one household of the user's places (404 for any other household)."""
    _may_unmask(principal, unmasked, reason)
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        if households_db.household(conn, household_id) is None:
            raise NotFound(f"no household {household_id}")
        rows = households_db.residents_of(conn, household_id)
        if unmasked and rows:
            audit(
                conn,
                principal,
                "read_unmasked",
                "residents",
                object_ids=[r["id"] for r in rows],
                reason=reason,
            )
    return {"household_id": household_id, "residents": [_shown(r, unmasked) for r in rows]}


class ResidentChange(BaseModel):
    name: Name | None = None
    id_number: IdNumberText | None = None
    gender: Literal["男", "女"] | None = None
    birth_year: Annotated[int, Field(ge=1900, le=2100)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    tags: Annotated[list[Tag], Field(max_length=len(ALL_TAGS))] | None = None
    relation: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[^\x00-\x1f\x7f]+$")] | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else check_phone(value).number

    @model_validator(mode="after")
    def _agrees(self) -> "ResidentChange":
        """The ID number checked and written one way; gender and birth year given beside it must say what it says."""
        if self.id_number is not None:
            checked = check_id_number(self.id_number)
            self.id_number = checked.number
            if self.gender is not None and self.gender != checked.gender:
                raise ValueError(f"gender {self.gender} disagrees with the ID number ({checked.gender})")
            if self.birth_year is not None and self.birth_year != checked.birth_year:
                raise ValueError(f"birth_year {self.birth_year} disagrees with the ID number ({checked.birth_year})")
        return self


class NewResident(ResidentChange):
    household_id: Id
    name: Name


WRITE = [Depends(require_role(*FIELD_WRITERS))]


def _stored_values(values: dict, settings: Settings) -> dict:
    """The columns a change writes: an ID number becomes its keyed hash and its masked form, never itself; the
    gender and birth year it states fill those not given."""
    number = values.pop("id_number", None)
    if "tags" in values:
        values["tags"] = sorted(set(values["tags"] or []))
    if number is not None:
        checked = check_id_number(number)
        values |= {"id_hash": id_number_hash(checked, id_hash_key(settings)), "id_masked": mask_id_number(number)}
        values["gender"] = values.get("gender") or checked.gender
        values["birth_year"] = values.get("birth_year") or checked.birth_year
    return values


def _unique_id(conn: Connection, values: dict, resident_id: int | None = None) -> None:
    if "id_hash" in values and households_db.id_number_registered(conn, values["id_hash"], except_id=resident_id):
        raise IdNumberTaken("this ID number is already registered in gridmap (a person is stored once)")


@router.post("", status_code=201, dependencies=WRITE)
def create_resident(body: NewResident, engine: EngineDep, principal: PrincipalDep, settings: SettingsDep) -> dict:
    """A resident of a household of the user's places; answered masked."""
    values = {"id_hash": None, "id_masked": None} | _stored_values(body.model_dump(), settings)
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        if households_db.household(conn, body.household_id) is None:
            raise NotFound(f"no household {body.household_id}")
        _unique_id(conn, values)
        resident_id = households_db.create_resident(conn, values)
        audit(
            conn,
            principal,
            "create",
            "residents",
            object_ids=[resident_id],
        )
        row = households_db.resident(conn, resident_id)
    assert row is not None  # just written in this transaction
    return _shown(row, unmasked=False)


@router.patch("/{resident_id}", dependencies=WRITE)
def change_resident(
    resident_id: Id, body: ResidentChange, engine: EngineDep, principal: PrincipalDep, settings: SettingsDep
) -> dict:
    """Change a resident of the user's places (only the fields given); answered masked."""
    values = _stored_values(body.model_dump(exclude_unset=True, exclude_none=True), settings)
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        if households_db.resident(conn, resident_id) is None:
            raise NotFound(f"no resident {resident_id}")
        _unique_id(conn, values, resident_id)
        if not households_db.update_resident(conn, resident_id, values):
            raise NotFound(f"no resident {resident_id}")
        audit(
            conn,
            principal,
            "update",
            "residents",
            object_ids=[resident_id],
            detail={"fields": sorted(values)},
        )
        row = households_db.resident(conn, resident_id)
    assert row is not None
    return _shown(row, unmasked=False)
