"""The worker map (/maps/worker and `gridmap worker-map`) of one signed-in grid worker or party member, read on a
connection under their scope and handed to maps/worker.py (which never reads the database).

Their grids: a grid worker's places, a party member's grid scopes and their 中心户's households' grids
(api.access.reporting_grids, where they may also report). Today's due list and walking order are GET /visits/due's
(api.visits.today). Households appear by unit and room only, special care as a count; requesters' names never."""

from datetime import datetime

import folium

from api.access import reporting_grids
from api.accounts.roles import Principal
from api.settings import Settings
from api.storage import Connection
from api.storage import accounts as accounts_db
from api.storage import hazards as hazards_db
from api.storage import worker_map as worker_db
from api.storage.maps import osm_source
from api.tour_graphs import TourGraphs
from api.visits.due import CHINA
from api.visits.today import due_today
from api.workflows.hazards import STATE_LABELS as HAZARD_STATES
from api.workflows.requests import STATE_LABELS as REQUEST_STATES
from gis.workload import CARE_TAGS
from maps.worker import worker_map

WORKER_ROLES = ("grid_worker", "party_member")
# The stored layers the page draws besides the field work (api.map_cache keys the page by their counters).
WORKER_DRAWS = ("buildings", "grids", "households", "walk_edges")


def worker_grid_ids(conn: Connection, principal: Principal) -> list[int]:
    """The grids the worker map shows for this user (none for an admin: the map is a field worker's)."""
    return sorted(reporting_grids(conn, principal) or [])


def page_stamp(conn: Connection, principal: Principal) -> tuple:
    """What the page stands for besides the layers' counters: the day (due dates move at midnight, China time),
    the hour (hazards and requests go overdue) and the field work of the user's grids."""
    now = datetime.now(CHINA)
    grids = worker_grid_ids(conn, principal)
    return (now.date().isoformat(), now.hour, tuple(grids), worker_db.field_work_stamp(conn, grids, principal.user_id))


def worker_map_from_db(
    conn: Connection,
    principal: Principal,
    settings: Settings,
    graphs: TourGraphs,
    *,
    api_base: str | None,
    asset_base_url: str | None,
) -> folium.Map:
    """The worker map of `principal`, read on `conn` (under their scope)."""
    grids = worker_grid_ids(conn, principal)
    hazards = worker_db.open_hazards(conn, grids, principal.user_id)
    hazards["state_label"] = hazards["state"].map(HAZARD_STATES)
    requests = worker_db.open_requests(conn, grids, principal.user_id)
    requests["state_label"] = requests["state"].map(REQUEST_STATES)
    return worker_map(
        grids=worker_db.grids(conn, grids),
        buildings=worker_db.buildings(conn, grids, CARE_TAGS),
        households=worker_db.households(conn, grids),
        hazards=hazards,
        requests=requests,
        due=due_today(conn, principal, settings, graphs),
        categories=[(c["code"], c["name"]) for c in hazards_db.categories(conn)],
        user={"id": principal.user_id, "login": principal.login},
        api_base=api_base,
        tiles=settings.base_map,
        asset_base_url=asset_base_url,
        osm_data=osm_source(conn),
    )


def principal_for_login(conn: Connection, login: str) -> Principal | None:
    """The enabled account with this login as a `Principal` (the CLI draws that user's map under their scope)."""
    row = accounts_db.principal_by_login(conn, login)
    if row is None:
        return None
    scopes = tuple((level, code) for level, _, code in (s.partition(":") for s in row.scopes))
    return Principal(row.user_id, row.login, row.role, scopes, row.center_household_id, row.can_unmask)
