"""The due list (应访清单) of the signed-in visitor: the households their role's visit rules say are due or overdue
today, most overdue first, and a suggested walking order through their buildings along the walk network.

Whose households: a grid worker's grids (or one of them, ``grid_code``); a party member's 中心户 households; a
community secretary, street leader or admin names a grid (``grid_code``) and sees the list of their own role's
rules there, or of another visiting role (``role``, e.g. the grid worker's list of that grid; admins: grid_worker
by default). Rules: api.visits.rules; due dates and the reference date of households never visited:
api.visits.due; the tour: gis.tours on the network around the grids (api.tour_graphs). No names: household ids,
buildings, rooms and tags only. The computation is api.visits.today's (the worker map draws the same)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from api.access import FIELD_READERS
from api.deps import EngineDep, PrincipalDep, SettingsDep, require_role
from api.errors import InvalidParameter
from api.storage import transaction, user_scope
from api.tour_graphs import TourGraphs
from api.visits.rules import RULE_ROLES
from api.visits.today import due_today

router = APIRouter(prefix="/visits", tags=["visits 走访"], dependencies=[Depends(require_role(*FIELD_READERS))])

RuleRole = Literal[RULE_ROLES]  # type: ignore[valid-type]
GridCode = Annotated[str, Query(pattern=r"^\d{15}$", description="A grid's 15-digit code")]
Lon = Annotated[float | None, Query(ge=73, le=136, description="The worker's position, WGS84 (default: grid centre)")]
Lat = Annotated[float | None, Query(ge=3, le=54, description="The worker's position, WGS84 (default: grid centre)")]


@router.get("/due")
def due_list(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    grid_code: GridCode | None = None,
    role: Annotated[RuleRole | None, Query(description="Whose rules (managers only; default: one's own)")] = None,
    lon: Lon = None,
    lat: Lat = None,
) -> dict:
    """The households due or overdue today for the signed-in visitor, most overdue first, and a walking order
    through their buildings from ``lon``/``lat`` (default: the grid's centre)."""
    if (lon is None) != (lat is None):
        raise InvalidParameter("lon and lat: give both (the worker's position) or neither (the grid's centre)")
    position = (lon, lat) if lon is not None and lat is not None else None
    graphs: TourGraphs = request.app.state.tour_graphs
    with transaction(engine, scope=user_scope(principal.user_id)) as conn:
        return due_today(conn, principal, settings, graphs, grid_code=grid_code, role=role, position=position)
