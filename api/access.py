"""What a signed-in user may ask for: the roles each group of endpoints admits, and the places a request may name.

Row-level security keeps residents' rows inside each user's places whatever a query asks (docs/design.md §6);
these checks come on top: a role outside an endpoint's list gets 403, and a place outside the user's own is a 404
worded as for a place that does not exist, so that nobody learns which ids exist elsewhere.
"""

from typing import Literal

from api.accounts.roles import Principal
from api.errors import NotFound
from api.storage import Connection
from api.storage.audit import record
from api.storage.places import in_user_places, party_member_grid_ids, place_exists, place_id_by_code, user_grid_ids

# Layers of places and service points, coverage, siting, and the maps of them: no personal data.
PLANNING = ("admin", "street_leader", "community_secretary", "planner")
# 中心户, workload, grid checks and partitions, the 中心户 map: about residents, within the user's places.
MANAGING = ("admin", "street_leader", "community_secretary")
# Households and residents: read by whoever works with people (a party member: their 中心户's households only,
# which row-level security picks), written by the people who keep the registers.
FIELD_READERS = ("admin", "street_leader", "community_secretary", "grid_worker", "party_member")
FIELD_WRITERS = ("admin", "street_leader", "community_secretary", "grid_worker")

Place = Literal["street", "community", "grid"]


def managed_grids(conn: Connection, principal: Principal) -> set[int] | None:
    """The grids whose residents `principal` manages; None for an admin (all)."""
    return user_grid_ids(conn, principal.user_id)


def case_grids(conn: Connection, principal: Principal) -> list[int] | None:
    """The grids whose hazards and requests a user works with, for a case list to name on top of row-level security
    (as households name the user's grids): the policy alone does not tell the planner which grids, so a page walks
    the district's cases newest first, testing each. A managing role's or grid worker's places; a party member's
    grid scopes and their 中心户's households' grids; None for an admin (every case). A superset of what the policy
    shows in those grids: the policy still decides row by row."""
    if principal.role == "party_member":
        return sorted(party_member_grid_ids(conn, principal.user_id))
    grids = managed_grids(conn, principal)
    return None if grids is None else sorted(grids)


def in_places(conn: Connection, principal: Principal, kind: Place, place_id: int) -> bool:
    """Whether the place lies within the user's places (for the roles that have places of residents)."""
    return principal.role != "party_member" and in_user_places(conn, principal.user_id, kind, place_id)


def manages_grid(conn: Connection, principal: Principal, grid_id: int | None) -> bool:
    """Whether the user is a manager of a case in `grid_id` (api.workflows' MANAGER): a managing role whose places
    hold the grid (an admin: every grid; a case whose grid is gone: admins only)."""
    if principal.role not in MANAGING:
        return False
    return principal.role == "admin" or (grid_id is not None and in_places(conn, principal, "grid", grid_id))


def reporting_grids(conn: Connection, principal: Principal) -> set[int] | None:
    """The grids a user reports hazards and requests in (None: every grid, for an admin); a party member's: those
    of their grid scopes and of their 中心户's households, as row-level security lets them write (migration 0014)."""
    if principal.role == "party_member":
        return party_member_grid_ids(conn, principal.user_id)
    return managed_grids(conn, principal)


def place_by_code(
    conn: Connection, principal: Principal, kind: Literal["grid", "community"], code: str | None
) -> int | None:
    """The id of the place a code names if it lies in the user's places (None without a code); else a 404 worded as
    for a code that is not stored. A party member's rows are their 中心户's, which the database picks: they name
    no place."""
    if code is None:
        return None
    place_id = place_id_by_code(conn, kind, code)
    if place_id is None or not in_places(conn, principal, kind, place_id):
        raise NotFound(f"no {kind} {code}")
    return place_id


def require_place(conn: Connection, kind: Place, place_id: int | None, principal: Principal | None = None) -> None:
    """A 404 naming the id when a street, community or grid asked for is not stored or, with `principal`, lies
    outside their places (None: no filter)."""
    if place_id is None:
        return
    if not place_exists(conn, kind, place_id):
        raise NotFound(f"no {kind} {place_id}")
    if principal is not None and not in_user_places(conn, principal.user_id, kind, place_id):
        raise NotFound(f"no {kind} {place_id}")


def audit(
    conn: Connection,
    principal: Principal,
    action: str,
    object_table: str,
    object_ids: list[int],
    *,
    reason: str | None = None,
    detail: dict | None = None,
) -> None:
    """An audit entry for what the signed-in user just read unmasked or wrote, in the same transaction."""
    record(
        conn,
        user_id=principal.user_id,
        login=principal.login,
        action=action,
        object_table=object_table,
        object_ids=object_ids,
        reason=reason,
        detail=detail,
    )
