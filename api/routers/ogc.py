"""OGC API Features (Part 1: Core, GeoJSON) at /ogc, for GIS tools: QGIS and GDAL's OAPIF driver read it as they are.

Signed in as the rest of the API (a bearer token; README "GIS tools"). Each user sees the collections of their role:
the layers of places (as /collections serves them) for planners and up, read whole (nothing personal); households,
hazards and requests for those who work with residents, read under the user's own scope, so that row-level security
lets through the rows of their places only, and never for planners. Of hazards and requests only the state, the
category, the place and the times are served: descriptions, addresses, requesters, households and who reported or
took a case stay out (free text names people; the field-work endpoints serve it where a role may read it).
"""

import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from api.access import FIELD_READERS, PLANNING, managed_grids
from api.accounts.roles import Principal
from api.deps import EngineDep, PrincipalDep
from api.errors import Forbidden, InvalidParameter, NotFound, excerpt
from api.openapi import GeoJSONResponse
from api.params import parse_bbox, parse_count
from api.routers import layers
from api.storage import SYSTEM, Connection, connect, user_scope
from api.storage import ogc as ogc_db
from api.storage.database import DB_INT_MAX

router = APIRouter(prefix="/ogc", tags=["OGC API Features"])

LIMIT_DEFAULT = 100
LIMIT_MAX = 1000  # a larger limit is served as this one (OGC API Features: no error), and the next link says so
GEOJSON = "application/geo+json"
JSON = "application/json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


@dataclass(frozen=True)
class Collection:
    title: str
    source: ogc_db.Source
    roles: tuple[str, ...]
    personal: bool = False  # read under the user's scope (row-level security), not whole


PERSONAL = tuple(r for r in FIELD_READERS if r != "planner")
COLLECTIONS: dict[str, Collection] = {
    **{
        name: Collection(spec["title"], ogc_db.Source(name, tuple(spec["properties"])), PLANNING)
        for name, spec in layers.COLLECTIONS.items()
    },
    "households": Collection(
        "户 Households (of your places)",
        ogc_db.Source("households", ("building_id", "grid_id", "unit", "room", "size", "tags", "is_party_member")),
        PERSONAL,
        personal=True,
    ),
    "hazards": Collection(
        "隐患 Hazards (of your places)",
        ogc_db.Source(
            "hazards",
            ("category", "severity", "state", "grid_id", "building_id", "reported_at", "deadline", "closed_at"),
            geometry="location",
        ),
        PERSONAL,
        personal=True,
    ),
    "requests": Collection(
        "诉求 Requests (of your places)",
        ogc_db.Source(
            "requests",
            ("service_code", "state", "grid_id", "building_id", "requested_at", "deadline", "closed_at"),
            geometry="location",
        ),
        PERSONAL,
        personal=True,
    ),
}


Param = Annotated[str | None, Query()]
# declared, not validated: another name is a 404 naming it (OGC API Features), not FastAPI's 422
CollectionId = Annotated[str, Path(description="A collection", json_schema_extra={"enum": list(COLLECTIONS)})]
FeatureId = Annotated[str, Path(description="A feature's id", json_schema_extra={"pattern": "^[1-9][0-9]{0,18}$"})]


def _json(body: dict, media_type: str = JSON) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), media_type=media_type)


def _link(href: object, rel: str, media_type: str, title: str | None = None) -> dict:
    link = {"href": str(href), "rel": rel, "type": media_type}
    return link | {"title": title} if title else link


def _collection(name: str, principal: Principal) -> Collection:
    collection = COLLECTIONS.get(name)
    if collection is None:
        raise NotFound(f"no collection {excerpt(name)}; collections: GET /ogc/collections")
    if principal.role not in collection.roles:
        # the collection's name is not repeated: the body of a refusal says nothing of what it refused
        roles = " or ".join(collection.roles)
        raise Forbidden(f"this collection needs the role {roles}; signed in as {principal.role}")
    return collection


def _connect(engine: EngineDep, collection: Collection, principal: Principal) -> AbstractContextManager[Connection]:
    """Personal collections under the user's scope; the layers of places whole (they hold nothing personal)."""
    return connect(engine, scope=user_scope(principal.user_id) if collection.personal else SYSTEM)


def _grid_filter(conn: Connection, collection: Collection, principal: Principal) -> list[int] | None:
    """Households: the user's grids named again on top of row-level security (as /households does)."""
    if collection.source.table != "households" or principal.role == "party_member":
        return None
    grids = managed_grids(conn, principal)
    return None if grids is None else sorted(grids)


def _describe(request: Request, name: str, collection: Collection, bbox: ogc_db.BBox | None) -> dict:
    url = request.url_for("ogc_collection", collection_id=name)
    items = request.url_for("ogc_items", collection_id=name)
    body: dict = {
        "id": name,
        "title": collection.title,
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            _link(url, "self", JSON, "this collection"),
            _link(items, "items", GEOJSON, "its features"),
            _link(f"{items}?f=json", "items", JSON, "its features as JSON"),
        ],
    }
    if bbox is not None:
        body["extent"] = {"spatial": {"bbox": [list(bbox)], "crs": CRS84}}
    return body


@router.get("", name="ogc_landing")
def landing(request: Request, principal: PrincipalDep) -> Response:
    """The landing page: links to the API definition, the conformance classes and the collections."""
    return _json(
        {
            "title": "gridmap 社区网格地图服务 — OGC API Features",
            "description": "Layers of places for planners; households, hazards and requests within your places.",
            "links": [
                _link(request.url_for("ogc_landing"), "self", JSON, "this page"),
                _link(request.url_for("openapi"), "service-desc", "application/vnd.oai.openapi+json;version=3.1"),
                _link(request.url_for("docs"), "service-doc", "text/html", "the API documentation"),
                _link(request.url_for("ogc_conformance"), "conformance", JSON, "conformance classes"),
                _link(request.url_for("ogc_collections"), "data", JSON, "the collections"),
            ],
        }
    )


@router.get("/conformance", name="ogc_conformance")
def conformance(principal: PrincipalDep) -> Response:
    return _json({"conformsTo": CONFORMANCE})


@router.get("/collections", name="ogc_collections")
def collections(request: Request, engine: EngineDep, principal: PrincipalDep) -> Response:
    """The collections the user's role may read, each with the extent of what the user sees of it."""
    described = []
    for name, collection in COLLECTIONS.items():
        if principal.role not in collection.roles:
            continue
        with _connect(engine, collection, principal) as conn:
            bbox = ogc_db.extent(conn, collection.source, _grid_filter(conn, collection, principal))
        described.append(_describe(request, name, collection, bbox))
    self_url = request.url_for("ogc_collections")
    return _json({"links": [_link(self_url, "self", JSON, "the collections")], "collections": described})


@router.get("/collections/{collection_id}", name="ogc_collection")
def collection(collection_id: CollectionId, request: Request, engine: EngineDep, principal: PrincipalDep) -> Response:
    found = _collection(collection_id, principal)
    with _connect(engine, found, principal) as conn:
        bbox = ogc_db.extent(conn, found.source, _grid_filter(conn, found, principal))
    return _json(_describe(request, collection_id, found, bbox))


def _format(f: str | None) -> str:
    if f in (None, "geojson"):
        return GEOJSON
    if f == "json":
        return JSON
    raise InvalidParameter(f"f must be geojson or json; got {excerpt(f)}")


def _own_links(request: Request, collection_id: str, media_type: str) -> list[dict]:
    """self, the same in the other media type (alternate), and the collection."""
    other = JSON if media_type == GEOJSON else GEOJSON
    return [
        _link(request.url, "self", media_type),
        _link(request.url.include_query_params(f="json" if other == JSON else "geojson"), "alternate", other),
        _link(request.url_for("ogc_collection", collection_id=collection_id), "collection", JSON, "the collection"),
    ]


ALSO_JSON: dict[int | str, dict] = {200: {"content": {JSON: {}}}}  # with f=json


@router.get("/collections/{collection_id}/items", name="ogc_items", response_class=GeoJSONResponse, responses=ALSO_JSON)
def items(
    collection_id: CollectionId,
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat (WGS84)")] = None,
    limit: Annotated[str | None, Query(description=f"Features per page ({LIMIT_DEFAULT}; at most {LIMIT_MAX})")] = None,
    offset: Annotated[str | None, Query(description="Features to skip (from the next link)")] = None,
    f: Annotated[str | None, Query(description="geojson (default) or json: the media type of the answer")] = None,
) -> Response:
    """A page of features as a GeoJSON FeatureCollection, by id, with numberMatched and a next link."""
    found = _collection(collection_id, principal)
    media_type = _format(f)
    box = parse_bbox(bbox)
    size = min(parse_count("limit", limit, LIMIT_DEFAULT, 1), LIMIT_MAX)
    skip = parse_count("offset", offset, 0, 0)
    with _connect(engine, found, principal) as conn:
        features, matched = ogc_db.features_page(
            conn, found.source, bbox=box, limit=size, offset=skip, grid_ids=_grid_filter(conn, found, principal)
        )
    url = request.url
    links = _own_links(request, collection_id, media_type)
    if skip + len(features) < matched:
        links.append(_link(url.include_query_params(offset=skip + size, limit=size), "next", media_type, "next page"))
    if skip > 0:
        links.append(_link(url.include_query_params(offset=max(0, skip - size), limit=size), "prev", media_type))
    body = {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": len(features),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
        "features": features,
    }
    return _json(body, media_type)


@router.get(
    "/collections/{collection_id}/items/{feature_id}",
    name="ogc_item",
    response_class=GeoJSONResponse,
    responses=ALSO_JSON,
)
def item(
    collection_id: CollectionId,
    feature_id: FeatureId,
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    f: Param = None,
) -> Response:
    """One feature (404 for an id that is not stored or not the user's to see)."""
    found = _collection(collection_id, principal)
    media_type = _format(f)
    number = int(feature_id) if feature_id.isascii() and feature_id.isdigit() and len(feature_id) < 20 else 0
    feature = None
    if 1 <= number <= DB_INT_MAX:
        with _connect(engine, found, principal) as conn:
            feature = ogc_db.feature(conn, found.source, number)
    if feature is None:
        raise NotFound(f"no feature {excerpt(feature_id)} in {collection_id}")
    feature["links"] = _own_links(request, collection_id, media_type)
    return _json(feature, media_type)
