"""Health: the service answers and its database (with PostGIS) does too."""

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from sqlalchemy import text

from api.deps import ConnectionDep

router = APIRouter(tags=["health"])


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/maps/overview")


@router.get("/health")
def health(conn: ConnectionDep) -> dict:
    postgis = conn.scalar(text("SELECT postgis_lib_version()"))
    revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
    return {"status": "ok", "database": "ok", "postgis": postgis, "schema_revision": revision}
