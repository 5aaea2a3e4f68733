"""The FastAPI application factory; no side effects at import."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.accounts.tokens import load_keys
from api.coverage_state import CoverageCache
from api.handlers import install_error_handlers
from api.map_cache import MapPageCache
from api.middleware import install_middleware
from api.openapi import ERROR_RESPONSES, install_openapi
from api.routers import (
    auth,
    centers,
    commitments,
    coverage,
    grids,
    hazards,
    health,
    households,
    kpis,
    layers,
    ledgers,
    login,
    maps,
    ogc,
    open311,
    photos,
    requests,
    residents,
    tiles,
    visit_rules,
    visits,
    visits_due,
    workload,
)
from api.settings import Settings, get_settings, id_hash_key
from api.storage.database import app_database_url, make_engine
from api.tour_graphs import TourGraphs
from gis.tours import warm_up

STATIC_DIR = Path(__file__).resolve().parents[1] / "maps" / "static"

OPENAPI_URL = "/openapi.json"


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for `settings`. Raises api.errors.InsecureConfiguration (one line) when the signing key or the key
    of ID-number hashes will not do outside development."""
    settings = settings or get_settings()
    keys = load_keys(settings)  # first: a bad key stops start-up before anything else is set up
    if settings.environment != "development":
        id_hash_key(settings)  # checked now rather than at the first write of a resident

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = make_engine(
            settings.app_database_url or app_database_url(settings.database_url),
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
        warm_up()  # the walking order's compiled loops, before the first due list rather than during it
        try:
            yield
        finally:
            app.state.engine.dispose()

    app = FastAPI(
        title="gridmap 社区网格地图服务",
        description="Streets, communities, grids, buildings and service points as GeoJSON; interactive maps.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served below with gridmap's own Swagger UI files
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        responses=ERROR_RESPONSES,  # every error is {code, detail} (api.handlers), a 422 too
    )
    install_openapi(app, settings)
    app.state.settings = settings
    app.state.keys = keys
    app.state.coverage_cache = CoverageCache()
    app.state.tour_graphs = TourGraphs()
    app.state.map_cache = MapPageCache(
        max_entries=settings.map_cache_entries, max_bytes=int(settings.map_cache_mb * 2**20)
    )
    install_error_handlers(app)
    install_middleware(app, settings)  # after the error handlers: uses their 500 handler
    app.include_router(health.router)
    app.include_router(auth.router)
    app.include_router(login.router)
    app.include_router(layers.router)
    app.include_router(ogc.router)
    app.include_router(coverage.router)
    app.include_router(centers.router)
    app.include_router(workload.router)
    app.include_router(households.router)
    app.include_router(residents.router)
    app.include_router(hazards.router)
    app.include_router(requests.router)
    app.include_router(requests.services_router)
    app.include_router(open311.router)
    app.include_router(grids.router)
    app.include_router(visit_rules.router)
    app.include_router(visits_due.router)
    app.include_router(visits.router)
    app.include_router(photos.router)
    app.include_router(maps.router)
    app.include_router(commitments.router)
    app.include_router(ledgers.router)
    app.include_router(kpis.router)
    app.include_router(tiles.router)
    # Leaflet and friends are served by gridmap itself: CDNs are blocked or absent on office networks.
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=OPENAPI_URL,
            title=f"{app.title} — API docs",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png",
        )

    return app
