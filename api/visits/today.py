"""Today's due list (应访清单) of a signed-in visitor, on a connection under their scope: the households their role's
visit rules say are due or overdue, most overdue first, and a suggested walking order through their buildings.

One computation for GET /visits/due and for the worker map (/maps/worker): whose households (`due_scope`), the
rules (api.visits.rules), due dates (api.visits.due) and the tour (api.tour_graphs on gis.tours)."""

from datetime import datetime
from typing import Any

from api.access import in_places, managed_grids
from api.accounts.roles import Principal
from api.errors import Forbidden, InvalidParameter, NotFound
from api.settings import Settings
from api.storage import Connection
from api.storage import households as households_db
from api.storage import visits as visits_db
from api.storage.places import place_id_by_code
from api.tour_graphs import TourGraphs, walking_order
from api.visits.due import CHINA, china_date, default_reference, due_households
from api.visits.rules import RULE_ROLES, effective_rules


def due_scope(
    conn: Connection, principal: Principal, grid_code: str | None, role: str | None
) -> tuple[str, list[int] | None, list[int] | None]:
    """The rules' role, and the grids or households whose due list this is."""
    if principal.role in ("grid_worker", "party_member"):
        if role is not None and role != principal.role:
            raise Forbidden(f"a {principal.role} sees their own due list (role={principal.role})")
        if principal.role == "party_member":
            if grid_code is not None:  # their households are their 中心户's, picked by the database, not by a place
                raise NotFound(f"no grid {grid_code}")
            return "party_member", None, households_db.user_household_ids(conn, principal.user_id)
        grids = sorted(managed_grids(conn, principal) or [])
    else:
        if grid_code is None:
            raise InvalidParameter("grid_code: a community secretary, street leader or admin names the grid")
        grids = []
        role = role or (principal.role if principal.role in RULE_ROLES else "grid_worker")
    if grid_code is not None:
        grid_id = place_id_by_code(conn, "grid", grid_code)
        if grid_id is None or not in_places(conn, principal, "grid", grid_id):
            raise NotFound(f"no grid {grid_code}")
        grids = [grid_id]
    return role or principal.role, grids, None


def _shown_rule(reason: dict) -> dict:
    last = reason["last_visit"]
    return reason | {
        "last_visit": None if last is None else last.astimezone(CHINA).isoformat(),
        "due_date": reason["due_date"].isoformat(),
    }


def _shown(entry: dict) -> dict:
    last = entry["last_visit"]
    return entry | {
        "rules": [_shown_rule(r) for r in entry["rules"]],
        "last_visit": None if last is None else last.astimezone(CHINA).isoformat(),
        "due_date": entry["due_date"].isoformat(),
    }


def due_today(
    conn: Connection,
    principal: Principal,
    settings: Settings,
    graphs: TourGraphs,
    *,
    grid_code: str | None = None,
    role: str | None = None,
    position: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """The due list as GET /visits/due serves it: households due or overdue today, most overdue first, and a
    walking order through their buildings from `position` (lon, lat; default: the grids' centre)."""
    today = china_date(datetime.now(CHINA))
    reference = settings.visits_since or default_reference(today)
    due_role, grid_ids, household_ids = due_scope(conn, principal, grid_code, role)
    households: list[dict] = []
    if (grid_ids is None or grid_ids) and (household_ids is None or household_ids):
        tags = visits_db.rule_tags(conn, due_role)
        households = visits_db.due_households(conn, tags=tags, grid_ids=grid_ids, household_ids=household_ids)
    communities = sorted({h["community_id"] for h in households if h["community_id"] is not None})
    rules = visits_db.rules_of(conn, communities)
    by_community: dict[int | None, list] = {c: effective_rules(rules, c) for c in communities}
    last = visits_db.last_visits(conn, [h["id"] for h in households], due_role)
    due = due_households(households, by_community, last, role=due_role, today=today, reference=reference)
    walk: dict[str, Any] = {"building_ids": [], "legs_m": [], "total_m": 0.0, "method": "none"}
    start = None
    tour_grids = sorted({g for g in (grid_ids or []) if g is not None}) or sorted(
        {h["grid_id"] for h in households if h["grid_id"] is not None}
    )
    if tour_grids:
        start = position if position is not None else visits_db.grids_centre(conn, tour_grids)
    if due and start is not None:
        area = graphs.area(conn, tour_grids)
        walk = walking_order(
            area,
            start,
            [d["building_id"] for d in due],
            time_limit_s=settings.tour_time_limit_ms / 1000,
            max_stops=settings.tour_max_stops,
        )
    return {
        "role": due_role,
        "today": today.isoformat(),
        "reference_date": reference.isoformat(),
        "position": None if start is None else {"type": "Point", "coordinates": list(start)},
        "count": len(due),
        "households": [_shown(d) for d in due],
        "walk_order": walk,
    }
