"""Mapbox vector tiles of the layers (``/tiles/{layer}/{z}/{x}/{y}.pbf``, Web Mercator XYZ), for Leaflet.VectorGrid
(served from ``/static/vendor/vectorgrid/``).

Layers of places, service points and coverage carry no personal data: for planners and up (PLANNING), read with
the SYSTEM scope and kept in api.tile_cache per layer version. Field-work layers (hazards, requests, visits counted
per building) are personal: for FIELD_READERS, read under the user's scope so that row-level security picks their
rows, made for each request and never kept (a cache per user would hold little that is asked twice and could not
be checked as easily to never mix users). Both kinds answer If-None-Match with 304.

A tile with no feature is ``204 No Content``: Leaflet.VectorGrid's fetch takes any 2xx and decodes the empty body
as a tile with no layers, and a 404 would read as an unknown layer.
"""

import re
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response

from api.access import FIELD_READERS, PLANNING
from api.deps import EngineDep, PrincipalDep, SettingsDep
from api.errors import Forbidden, InvalidParameter, NotFound, excerpt
from api.map_cache import etag_matches
from api.settings import Settings
from api.storage import SYSTEM, connect, user_scope
from api.storage import tiles as storage
from api.tile_cache import Tile, TileCache

router = APIRouter(prefix="/tiles", tags=["tiles"])

MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 22
# Browsers keep a tile but ask again each time (ETag → 304); never in a shared cache (personal layers).
CACHE_CONTROL = "private, no-cache"
INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only


def _coordinate(name: str, value: str, size: int) -> int:
    """A tile coordinate in 0..size-1, or a 400 naming it."""
    if not INTEGER.fullmatch(value):
        raise InvalidParameter(f"{name} must be an integer, got {excerpt(value)}")
    number = int(value) if len(value) <= 12 else -1  # a longer one is out of range; int() of it is not needed
    if not 0 <= number < size:
        raise InvalidParameter(f"{name} must be in 0..{size - 1}, got {excerpt(value, 24)}")
    return number


def coverage_budget_m(settings: Settings) -> float:
    """Walking metres that count as covered on the coverage tiles: the standard profile at the widest level."""
    speed = settings.walk_profiles.get("standard") or next(iter(settings.walk_profiles.values()))
    return max(settings.coverage_levels) * 60 * speed


def tile_cache(request: Request) -> TileCache:
    cache = getattr(request.app.state, "tile_cache", None)
    if cache is None:
        cache = request.app.state.tile_cache = TileCache(
            max_bytes=int(request.app.state.settings.tile_cache_mb * 2**20)
        )
    return cache


@router.get(
    "/{layer}/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses={
        200: {"content": {MEDIA_TYPE: {}}, "description": "The tile (Mapbox Vector Tile 2.1)"},
        204: {"description": "No feature in this tile"},
        304: {"description": "Unchanged since the ETag sent in If-None-Match"},
    },
)
def vector_tile(
    layer: Annotated[str, Path(description="A tile layer", json_schema_extra={"enum": list(storage.LAYERS)})],
    z: Annotated[str, Path(description=f"Zoom, 0..{MAX_ZOOM}")],
    x: Annotated[str, Path(description="Column, 0..2^z-1")],
    y: Annotated[str, Path(description="Row from the north, 0..2^z-1")],
    request: Request,
    principal: PrincipalDep,
    engine: EngineDep,
    settings: SettingsDep,
    if_none_match: Annotated[str | None, Header()] = None,
    crs: Annotated[
        str | None,
        Query(description="'gcj02': the tile of AMap's GCJ-02 map, features shifted to where AMap draws them"),
    ] = None,
) -> Response:
    """One tile of a layer: places, service points and coverage for planners and up; hazards, requests and visits
    (per building) within the user's own scope. With ``crs=gcj02`` for maps on an AMap base."""
    spec = storage.LAYERS.get(layer)
    if spec is None:
        raise NotFound(f"unknown layer {excerpt(layer)}; layers: {', '.join(storage.LAYERS)}")
    admitted = FIELD_READERS if spec.personal else PLANNING
    if principal.role not in admitted:
        raise Forbidden(f"the {layer} tiles need the role {' or '.join(admitted)}; signed in as {principal.role}")
    zoom = _coordinate("z", z, MAX_ZOOM + 1)
    column, row = _coordinate("x", x, 2**zoom), _coordinate("y", y, 2**zoom)
    if crs is not None and crs not in storage.CRS:
        raise InvalidParameter(f"crs must be one of {', '.join(storage.CRS)} or absent, got {excerpt(crs, 24)}")
    if spec.personal:
        with connect(engine, scope=user_scope(principal.user_id)) as conn:
            found = Tile.of(storage.tile(conn, layer, zoom, column, row, crs=crs)[0])
    else:
        cache, key = tile_cache(request), (layer, zoom, column, row, crs)
        with connect(engine, scope=SYSTEM) as conn:
            kept = cache.get(key, storage.versions(conn, layer))
            if kept is None:
                body, drawn_at = storage.tile(
                    conn, layer, zoom, column, row, budget_m=coverage_budget_m(settings), crs=crs
                )
                found = Tile.of(body)
                cache.put(key, drawn_at, found)  # the tile and its versions were read in one snapshot
            else:
                found = kept
    headers = {"ETag": found.etag, "Cache-Control": CACHE_CONTROL}
    if etag_matches(if_none_match, found.etag):
        return Response(status_code=304, headers=headers)
    if not found.body:
        return Response(status_code=204, headers=headers)
    return Response(found.body, media_type=MEDIA_TYPE, headers=headers)
