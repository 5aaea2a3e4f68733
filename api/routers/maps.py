"""Interactive maps rendered by maps/ from the stored layers."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.deps import ConnectionDep, SettingsDep
from api.mapdata import overview_from_db

router = APIRouter(prefix="/maps", tags=["maps"])


@router.get("/overview", response_class=HTMLResponse)
def overview(conn: ConnectionDep, settings: SettingsDep) -> HTMLResponse:
    """Grids with codes, buildings, service points by type and compounds (概览图)."""
    fmap = overview_from_db(conn, tiles=settings.tiles, asset_base_url="/static/vendor")
    return HTMLResponse(fmap.get_root().render())
