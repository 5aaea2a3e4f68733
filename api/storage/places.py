"""Streets, communities and grids asked for by id: whether they are stored."""

from sqlalchemy import Connection, text

PLACE_TABLES = {"street": "streets", "community": "communities", "grid": "grids"}


def place_exists(conn: Connection, kind: str, place_id: int) -> bool:
    """Whether a street, community or grid with this id is stored."""
    # the table name comes from the whitelist above; the id is a bound parameter
    sql = f"SELECT EXISTS (SELECT 1 FROM {PLACE_TABLES[kind]} WHERE id = :id)"
    return bool(conn.scalar(text(sql), {"id": place_id}))


# The places a user manages, from the same helper row-level security uses (migration 0007): the grids of their
# scopes for street leaders, community secretaries and grid workers, none for planners and party members.
USER_GRIDS_SQL = "SELECT gridmap_user_grids(:user)"
IS_ADMIN_SQL = "SELECT gridmap_is_admin(:user)"
# A party member's grids: those of their grid scopes and of their 中心户's households (where they report and work).
# The grids of a party member's scopes and of their 中心户's households (migration 0014: where row-level security
# lets them write field work)
PARTY_MEMBER_GRIDS_SQL = "SELECT gridmap_party_member_grids(:user)"


def user_grid_ids(conn: Connection, user_id: int) -> set[int] | None:
    """The ids of the grids `user_id` manages; None for an admin (every grid)."""
    if conn.scalar(text(IS_ADMIN_SQL), {"user": user_id}):
        return None
    return set(conn.scalars(text(USER_GRIDS_SQL), {"user": user_id}))


def party_member_grid_ids(conn: Connection, user_id: int) -> set[int]:
    return set(conn.scalars(text(PARTY_MEMBER_GRIDS_SQL), {"user": user_id}))


# Whether a place lies within a user's scopes: a community by its 12-digit code or its street's, a grid as above.
IN_USER_PLACES_SQL = {
    "grid": "SELECT :id IN (SELECT gridmap_user_grids(:user))",
    "community": """
        SELECT EXISTS (
            SELECT 1 FROM communities c JOIN streets st ON st.id = c.street_id
            JOIN user_scopes s ON s.user_id = :user
            WHERE c.id = :id
              AND ((s.level = 'community' AND s.code = st.code || c.code) OR (s.level = 'street' AND s.code = st.code))
        ) OR EXISTS (SELECT 1 FROM grids WHERE community_id = :id AND id IN (SELECT gridmap_user_grids(:user)))""",
    "street": """
        SELECT EXISTS (
            SELECT 1 FROM streets st JOIN user_scopes s ON s.user_id = :user AND s.level = 'street' AND s.code = st.code
            WHERE st.id = :id
        ) OR EXISTS (
            SELECT 1 FROM grids g JOIN communities c ON c.id = g.community_id
            WHERE c.street_id = :id AND g.id IN (SELECT gridmap_user_grids(:user)))""",
}


def in_user_places(conn: Connection, user_id: int, kind: str, place_id: int) -> bool:
    """Whether the street, community or grid `place_id` lies within `user_id`'s scopes (an admin's: all)."""
    if conn.scalar(text(IS_ADMIN_SQL), {"user": user_id}):
        return True
    return bool(conn.scalar(text(IN_USER_PLACES_SQL[kind]), {"id": place_id, "user": user_id}))


# A place by its code: a grid by its 15 digits, a community by its 12 (street code + its own 3 digits).
ID_BY_CODE_SQL = {
    "grid": "SELECT id FROM grids WHERE code = :code ORDER BY id LIMIT 1",
    "community": "SELECT c.id FROM communities c JOIN streets st ON st.id = c.street_id "
    "WHERE st.code || c.code = :code ORDER BY c.id LIMIT 1",
    "street": "SELECT id FROM streets WHERE code = :code ORDER BY id LIMIT 1",
}


def place_id_by_code(conn: Connection, kind: str, code: str) -> int | None:
    """The id of the street, community or grid with this code, or None."""
    return conn.scalar(text(ID_BY_CODE_SQL[kind]), {"code": code})
