"""The four ledgers (四本台账) as XLSX: GET /ledgers/{name}.xlsx for one street, community or grid of the user's
places over a period. Community secretaries and up (a ledger lists households and names: grid workers, party
members and planners may not download one); every download is audited. Names are masked unless the account may
unmask and gives a reason."""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.access import MANAGING, Place
from api.deps import EngineDep, PrincipalDep, require_role
from api.errors import Forbidden, InvalidParameter
from api.ledgers import period
from api.stored_ledgers import export_ledger

router = APIRouter(prefix="/ledgers", tags=["ledgers 台账"], dependencies=[Depends(require_role(*MANAGING))])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LedgerName = Literal["commitments", "fulfilment", "hardship", "requests"]
StreetCode = Annotated[str, Query(pattern=r"^\d{9}$", description="A street's 9-digit code")]
CommunityCode = Annotated[str, Query(pattern=r"^\d{12}$", description="A community's 12-digit code")]
GridCode = Annotated[str, Query(pattern=r"^\d{15}$", description="A grid's 15-digit code")]
From = Annotated[date, Query(alias="from", description="First day (YYYY-MM-DD, China time), inclusive")]
To = Annotated[date, Query(description="Last day (YYYY-MM-DD, China time), inclusive; at most 366 days")]
Reason = Annotated[str, Query(min_length=4, max_length=500, description="Why the unmasked names are needed")]


@router.get(
    "/{name}.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}, "description": "XLSX"}},
)
def download_ledger(
    name: LedgerName,
    engine: EngineDep,
    principal: PrincipalDep,
    from_: From,
    to: To,
    community_code: CommunityCode | None = None,
    street_code: StreetCode | None = None,
    grid_code: GridCode | None = None,
    unmasked: bool = False,
    reason: Reason | None = None,
) -> Response:
    """The ledger `name` (commitments 承诺, fulfilment 践诺, hardship 困难群众帮扶, requests 意见诉求) of one place
    (community_code, street_code or grid_code) from `from` to `to`."""
    span = period(from_, to)
    given: list[tuple[Place, str | None]] = [
        ("community", community_code),
        ("street", street_code),
        ("grid", grid_code),
    ]
    places = [(k, c) for k, c in given if c]
    if len(places) != 1:
        raise InvalidParameter("give exactly one of community_code, street_code, grid_code")
    if unmasked:
        if not principal.can_unmask:
            raise Forbidden("unmasked names need the account's own permission (gridmap users allow-unmasked)")
        if reason is None or not reason.strip():
            raise InvalidParameter("reason: say why the unmasked names are needed (it is written to the audit log)")
    (kind, code) = places[0]
    ledger = export_ledger(engine, name, kind, code, span, principal=principal, unmasked=unmasked, reason=reason)
    return Response(
        ledger.content,
        media_type=XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="{ledger.filename}"',
            "Cache-Control": "no-store",
            "X-Ledger-Rows": str(ledger.rows),
        },
    )
