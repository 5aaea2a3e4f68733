"""KPIs per grid, community or street over a period (GET /kpis): visits done vs due, hazard closure and overdue
rates, request closure, satisfaction; each with the counts behind it and its `n`.

Aggregates only, so planners may read them as well as community secretaries and up; read under gridmap's own
scope (planners see no field-work row) and cut to the user's places: a place is answered only when all of its grids
are the user's (else 404, as for a place not stored), and without a code every such place of the level is."""

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from api.access import MANAGING, PLANNING
from api.deps import EngineDep, PrincipalDep, require_role
from api.errors import NotFound
from api.ledgers import period
from api.ledgers.kpis import SMALL_N, place_kpis
from api.storage import SYSTEM, transaction
from api.storage import kpis as kpis_db
from api.storage.ledgers import place_grids
from api.storage.places import place_id_by_code

ROLES = tuple(dict.fromkeys((*MANAGING, *PLANNING)))
router = APIRouter(prefix="/kpis", tags=["kpis 考核指标"], dependencies=[Depends(require_role(*ROLES))])

Level = Literal["grid", "community", "street"]
CODE_DIGITS = {"grid": 15, "community": 12, "street": 9}


@router.get("")
def kpis(
    engine: EngineDep,
    principal: PrincipalDep,
    level: Level,
    from_: Annotated[date, Query(alias="from", description="First day (YYYY-MM-DD, China time), inclusive")],
    to: Annotated[date, Query(description="Last day (YYYY-MM-DD, China time), inclusive; at most 366 days")],
    code: Annotated[
        str | None, Query(pattern=r"^\d{9}(\d{3}){0,2}$", description="The place's code (9, 12 or 15 digits)")
    ] = None,
) -> dict:
    """The KPIs of one place (`code`) or of every place of `level` within the user's places."""
    span = period(from_, to)
    as_of = datetime.now(UTC)
    with transaction(engine, scope=SYSTEM) as conn:
        mine = kpis_db.user_grids(conn, principal.user_id, admin=principal.role == "admin")
        if code is not None:
            place_id = place_id_by_code(conn, level, code) if len(code) == CODE_DIGITS[level] else None
            grids = [] if place_id is None else place_grids(conn, level, place_id)
            if place_id is None or not set(grids) <= mine:
                raise NotFound(f"no {level} {code}")
            wanted = [place_id]
        else:
            by_place = kpis_db.place_grid_sets(conn, level, sorted(mine))
            wanted = [p for p, grids in by_place.items() if grids <= mine]
            grids = sorted({g for p in wanted for g in by_place[p]})
        counts = kpis_db.kpi_counts(conn, level, grids, span.start, span.end, span.days, as_of)
        named = kpis_db.places(conn, level, wanted)
    return {
        "level": level,
        "from": span.first.isoformat(),
        "to": span.last.isoformat(),
        "days": span.days,
        "as_of": as_of.isoformat(),
        "small_n": SMALL_N,
        "places": [
            {"code": p["code"], "name": p["name"]}
            | place_kpis(*(counts[f].get(p["id"]) for f in ("visits", "hazards", "requests")))
            for p in named
        ],
    }
