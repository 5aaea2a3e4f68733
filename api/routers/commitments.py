"""Party members' commitments (承诺) and their fulfilment (践诺): list, record, and record fulfilment.

Community secretaries and up keep them for the party-member households of their places; a party member records
and fulfils their own (党员亮诺、践诺: the commitment is theirs to make; the branch sees it at once in its ledger).
Grid workers and planners have no part in it. Names are served masked (张*明); every write is audited."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, model_validator

from api.access import MANAGING, audit, in_places, managed_grids, place_by_code
from api.accounts.roles import Principal
from api.deps import EngineDep, PrincipalDep, require_role
from api.errors import Forbidden, InvalidParameter, InvalidTransition, NotFound
from api.ledgers import CHINA
from api.params import Id, Instant, decode_cursor, next_links
from api.privacy import mask_name
from api.storage import Connection, transaction, user_scope
from api.storage import commitments as commitments_db
from api.storage.ledgers import place_grids

ROLES = (*MANAGING, "party_member")
router = APIRouter(prefix="/commitments", tags=["commitments 承诺践诺"], dependencies=[Depends(require_role(*ROLES))])

PAGE_SIZE = 100
PAGE_SIZE_MAX = 500
CLOCK_SKEW = timedelta(minutes=5)  # a phone's clock a little ahead is not "the future"
Content = Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$")]
Note = Annotated[str, Field(max_length=2000, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")]
State = Literal["made", "fulfilled", "cancelled"]


def _shown(row: dict) -> dict:
    """A commitment as served: the member's name masked."""
    return {
        "id": row["id"],
        "household_id": row["household_id"],
        "resident_id": row["resident_id"],
        "user_id": row["user_id"],
        "grid_code": row["grid_code"],
        "member_name": mask_name(row["member_name"]),
        "year": row["year"],
        "content": row["content"],
        "made_at": row["made_at"].isoformat(),
        "promised_by": row["promised_by"].isoformat(),
        "state": row["state"],
        "fulfilled_at": row["fulfilled_at"].isoformat() if row["fulfilled_at"] else None,
        "fulfilment_note": row["fulfilment_note"],
    }


@router.get("")
def list_commitments(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    community_code: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
    grid_code: Annotated[str | None, Query(pattern=r"^\d{15}$")] = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    state: State | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_SIZE_MAX)] = PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict:
    """A page of the commitments of the user's places (a party member: their own), by id, with a next link."""
    after = decode_cursor(cursor)
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        grids = _grids(conn, principal, community_code, grid_code)
        user_id = principal.user_id if principal.role == "party_member" else None
        rows = commitments_db.commitments_page(
            conn, after=after, limit=limit, grid_ids=grids, user_id=user_id, year=year, state=state
        )
    return {"commitments": [_shown(r) for r in rows], "links": next_links(request.url, rows, limit)}


def _grids(conn: Connection, principal: Principal, community: str | None, grid: str | None) -> list[int] | None:
    """The grids asked for (404 for a place outside the user's, as for one not stored), else the user's own (None:
    every one, for an admin or a party member, whose rows row-level security and their account pick)."""
    if community and grid:
        raise InvalidParameter("give community_code or grid_code, not both")
    for kind, code in (("community", community), ("grid", grid)):
        if code:
            place_id = place_by_code(conn, principal, kind, code)  # type: ignore[arg-type]
            assert place_id is not None  # a code was given
            return place_grids(conn, kind, place_id)  # type: ignore[arg-type]
    if principal.role == "party_member":
        return None
    grids = managed_grids(conn, principal)
    return None if grids is None else sorted(grids)


class NewCommitment(BaseModel):
    household_id: Id | None = Field(default=None, description="The party member's household (党员户)")
    resident_id: Id | None = Field(default=None, description="The party member among its residents")
    user_id: Id | None = Field(default=None, description="Their party_member account")
    content: Content
    made_at: Instant | None = Field(default=None, description="承诺时间; default now")
    promised_by: date | None = Field(default=None, description="承诺期限; default the end of the year")
    year: Annotated[int, Field(ge=2000, le=2100)] | None = Field(default=None, description="Default: made_at's")

    @model_validator(mode="after")
    def _dates(self) -> "NewCommitment":
        if self.made_at is not None and self.made_at > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("made_at is in the future")
        made = (self.made_at or datetime.now(UTC)).astimezone(CHINA).date()
        if made.year < 2000:
            raise ValueError("made_at is before 2000")
        self.year = self.year or made.year
        self.promised_by = self.promised_by or date(self.year, 12, 31)
        if self.promised_by < made:
            raise ValueError(f"promised_by ({self.promised_by}) is before the commitment was made ({made})")
        return self


def _member(conn: Connection, principal: Principal, body: NewCommitment) -> dict:
    """Whose commitment it is, checked: a party member's own; else a party-member household of the user's places
    (422 when the household is not a party member's) and/or a party_member account."""
    if principal.role == "party_member":
        if body.user_id not in (None, principal.user_id):
            raise Forbidden("a party member records their own commitments only")
        household = body.household_id or commitments_db.own_household(conn, principal.user_id)
        if body.household_id is not None and body.household_id != commitments_db.own_household(conn, principal.user_id):
            raise Forbidden("a party member records their own commitments only (household_id is not theirs)")
        grid = None if household else commitments_db.user_grid(conn, principal.user_id)
        mine = principal.user_id
        return {"household_id": household, "resident_id": body.resident_id, "user_id": mine, "grid_id": grid}
    if body.household_id is None and body.user_id is None:
        raise InvalidParameter("household_id or user_id: whose commitment it is")
    grid = None
    if body.household_id is not None:
        party = commitments_db.party_household(conn, body.household_id)
        if party is None:
            raise NotFound(f"no household {body.household_id}")
        if not party:
            raise InvalidParameter(f"household {body.household_id} is not a party member's household (党员户)")
    if body.user_id is not None:
        if not commitments_db.is_party_user(conn, body.user_id):
            raise InvalidParameter(f"user {body.user_id} is not a party member's account")
        if body.household_id is None:
            grid = commitments_db.user_grid(conn, body.user_id)
            if grid is None or not in_places(conn, principal, "grid", grid):
                raise NotFound(f"no party member {body.user_id} in a grid of yours")
    if body.resident_id is not None and commitments_db.resident_household(conn, body.resident_id) != body.household_id:
        raise InvalidParameter(f"resident {body.resident_id} is not of household {body.household_id}")
    return {
        "household_id": body.household_id,
        "resident_id": body.resident_id,
        "user_id": body.user_id,
        "grid_id": grid,
    }


@router.post("", status_code=201)
def create_commitment(body: NewCommitment, engine: EngineDep, principal: PrincipalDep) -> dict:
    """Record a commitment (承诺) of a party member of the user's places, or a party member's own."""
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        member = _member(conn, principal, body)
        if member["household_id"] is None and member["grid_id"] is None:
            raise InvalidParameter("the party member has no household or grid to keep the commitment in")
        values = member | {
            "content": body.content,
            "made_at": body.made_at or datetime.now(UTC),
            "promised_by": body.promised_by,
            "year": body.year,
            "created_by": principal.user_id,
        }
        commitment_id = commitments_db.create_commitment(conn, values)
        audit(conn, principal, "create", "commitments", object_ids=[commitment_id])
        row = commitments_db.commitment(conn, commitment_id)
    assert row is not None
    return _shown(row)


class Fulfilment(BaseModel):
    state: State = "fulfilled"
    fulfilled_at: Instant | None = Field(default=None, description="践诺时间; default now (state fulfilled)")
    fulfilment_note: Note | None = Field(default=None, description="践诺情况")


@router.patch("/{commitment_id}")
def record_fulfilment(commitment_id: Id, body: Fulfilment, engine: EngineDep, principal: PrincipalDep) -> dict:
    """Record a commitment fulfilled (践诺), cancelled, or open again. A cancelled commitment is not fulfilled."""
    now = datetime.now(UTC)
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        row = commitments_db.commitment(conn, commitment_id)
        if row is None or (principal.role == "party_member" and row["user_id"] != principal.user_id):
            raise NotFound(f"no commitment {commitment_id}")
        if row["state"] == "cancelled" and body.state == "fulfilled":
            raise InvalidTransition(
                f"commitment {commitment_id} is cancelled: it cannot be fulfilled", state="cancelled", action="fulfil"
            )
        fulfilled_at = None
        if body.state == "fulfilled":
            fulfilled_at = body.fulfilled_at or row["fulfilled_at"] or now
            if fulfilled_at > now + CLOCK_SKEW:
                raise InvalidParameter("fulfilled_at is in the future")
            if fulfilled_at < row["made_at"]:
                raise InvalidParameter(f"fulfilled_at is before the commitment was made ({row['made_at'].isoformat()})")
        elif body.fulfilled_at is not None:
            raise InvalidParameter(f"fulfilled_at goes with state fulfilled, not {body.state}")
        note = body.fulfilment_note if body.fulfilment_note is not None else row["fulfilment_note"]
        values = {"state": body.state, "fulfilled_at": fulfilled_at, "fulfilment_note": note}
        if not commitments_db.record_fulfilment(conn, commitment_id, values):
            raise NotFound(f"no commitment {commitment_id}")
        audit(conn, principal, "update", "commitments", object_ids=[commitment_id], detail={"state": body.state})
        changed = commitments_db.commitment(conn, commitment_id)
    assert changed is not None
    return _shown(changed)
