"""Streets, communities and grids asked for by id: whether they are stored."""

from sqlalchemy import Connection, text

PLACE_TABLES = {"street": "streets", "community": "communities", "grid": "grids"}


def place_exists(conn: Connection, kind: str, place_id: int) -> bool:
    """Whether a street, community or grid with this id is stored."""
    # the table name comes from the whitelist above; the id is a bound parameter
    sql = f"SELECT EXISTS (SELECT 1 FROM {PLACE_TABLES[kind]} WHERE id = :id)"
    return bool(conn.scalar(text(sql), {"id": place_id}))
