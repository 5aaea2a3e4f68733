"""Health: the service answers and its database (with PostGIS) does too."""

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from api.deps import OpenConnectionDep
from api.storage import health as health_db

router = APIRouter(tags=["health"])


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    return RedirectResponse("/maps/overview")


@router.get("/health")
def health(conn: OpenConnectionDep) -> dict:
    postgis, revision = health_db.versions(conn)
    return {"status": "ok", "database": "ok", "postgis": postgis, "schema_revision": revision}
