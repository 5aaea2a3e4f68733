"""GeoJSON read endpoints for the map layers, OGC API Features style (``/collections/{layer}/items``).

No resident data is served here (households: /households, within the user's places); for planners and up.
"""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from api.access import PLANNING
from api.deps import AggregatesConnectionDep, SettingsDep, require_role
from api.errors import InvalidParameter, NotFound, excerpt
from api.openapi import GeoJSONResponse
from api.params import Offset, parse_bbox
from api.storage import layers

router = APIRouter(prefix="/collections", tags=["layers"], dependencies=[Depends(require_role(*PLANNING))])

# Public layers and the properties each one serves (a whitelist: nothing else leaves the database).
COLLECTIONS: dict[str, dict] = {
    "streets": {"title": "街道 Streets", "properties": ["code", "name", "source"]},
    "communities": {"title": "社区 Communities", "properties": ["code", "name", "street_id", "source"]},
    "grids": {
        "title": "网格 Grids",
        "properties": ["code", "code_profile", "name", "community_id", "source"],
    },
    "compounds": {"title": "小区 Residential compounds", "properties": ["name", "source", "source_id"]},
    "buildings": {
        "title": "楼栋 Buildings",
        "properties": ["kind", "name", "floors", "households", "grid_id", "compound_id", "source", "source_id"],
    },
    "service_points": {
        "title": "服务阵地 Service points",
        "properties": ["type", "level", "name", "hours", "source", "source_id"],
    },
}


@router.get("")
def list_collections() -> dict:
    return {
        "collections": [
            {"id": name, "title": spec["title"], "links": [{"rel": "items", "href": f"/collections/{name}/items"}]}
            for name, spec in COLLECTIONS.items()
        ]
    }


@router.get("/{layer}/items", response_class=GeoJSONResponse)
def layer_items(
    # declared, not validated: another name is a 404 (OGC API Features), not a 422
    layer: Annotated[str, Path(description="A public layer", json_schema_extra={"enum": list(COLLECTIONS)})],
    request: Request,
    conn: AggregatesConnectionDep,
    settings: SettingsDep,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS84)")] = None,
    limit: Annotated[
        int | None, Query(ge=1, description="Features per page (default 1000; at most GRIDMAP_PAGE_SIZE_MAX, 5000)")
    ] = None,
    offset: Offset = 0,
) -> Response:
    """A page of features as a GeoJSON FeatureCollection, with the total and a link to the next page."""
    spec = COLLECTIONS.get(layer)
    if spec is None:
        raise NotFound(f"unknown layer {excerpt(layer)}; layers: {', '.join(COLLECTIONS)}")
    if limit is None:
        limit = min(1000, settings.page_size_max)
    if limit > settings.page_size_max:
        raise InvalidParameter(f"limit must be at most {settings.page_size_max}")
    features, matched = layers.features_page(
        conn, layer, spec["properties"], bbox=parse_bbox(bbox), limit=limit, offset=offset
    )
    links = []
    if offset + len(features) < matched:
        next_url = request.url.include_query_params(offset=offset + limit, limit=limit)
        links.append({"rel": "next", "type": "application/geo+json", "href": str(next_url)})
    body = {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": matched,
        "numberReturned": len(features),
        "links": links,
    }
    return Response(json.dumps(body, ensure_ascii=False), media_type="application/geo+json")
