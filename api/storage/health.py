"""What /health reports of the database."""

from sqlalchemy import Connection, text


def versions(conn: Connection) -> tuple[str, str]:
    """PostGIS's library version and the schema's migration."""
    postgis = conn.scalar(text("SELECT postgis_lib_version()"))
    revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
    return postgis, revision
