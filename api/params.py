"""What the API accepts, declared once: ids, offsets, levels, targets and the fixed value sets.

Declared as types so that FastAPI refuses a bad value with a 422 naming the parameter before any SQL runs (an id
past PostgreSQL's bigint used to reach the database and come back as a 500), and so that the OpenAPI schema says
what is checked. Value sets that depend on settings (walking profiles) are added to the schema by api.openapi.
"""

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, Field, field_validator
from starlette.datastructures import URL

from api.errors import InvalidParameter, excerpt
from api.storage.database import DB_INT_MAX
from gis.io import SERVICE_TYPES

MAX_LEVEL_MIN = 120.0  # a walking level beyond two hours is no service circle
MAX_TARGET_HOUSEHOLDS = 100_000  # a grid target beyond this is no grid (guidelines: 300–500)

Id = Annotated[int, Field(ge=1, le=DB_INT_MAX, description="A stored id (1 … 2^63−1)")]


def _plausible_year(value: datetime) -> datetime:
    if not 1900 <= value.year <= 2200:
        raise ValueError("a time between the years 1900 and 2200")
    return value


# A point in time with its offset, of a year PostgreSQL and Python both hold whatever the offset (an edge of
# Python's range, moved by an offset to UTC, overflowed into a 500)
Instant = Annotated[AwareDatetime, AfterValidator(_plausible_year)]
Offset = Annotated[int, Field(ge=0, le=DB_INT_MAX, description="Rows to skip (0 … 2^63−1)")]
Minutes = Annotated[
    float,
    Field(gt=0, le=MAX_LEVEL_MIN, allow_inf_nan=False, description="Walking minutes (0 < level ≤ 120)"),
]
Households = Annotated[int, Field(ge=1, le=MAX_TARGET_HOUSEHOLDS, description="Households per grid (1 … 100000)")]
# The service point types of gis.io.layers (the database refuses others), declared as an enum in the schema. A
# Literal built at run time is not a type to mypy, which checks a plain str instead.
if TYPE_CHECKING:
    ServiceType = str
else:
    ServiceType = Literal[tuple(SERVICE_TYPES)]
Profile = Annotated[
    str,
    Field(
        min_length=1,
        max_length=40,
        description="Walking profile, one of GRIDMAP_WALK_PROFILES (default standard 1.2 m/s, elderly 0.8 m/s)",
        json_schema_extra={"x-walk-profile": True},  # api.openapi lists the server's profiles here
    ),
]
Place = Literal["street", "community", "grid"]


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    """``minLon,minLat,maxLon,maxLat`` in WGS84, as in OGC API Features."""
    if bbox is None:
        return None
    try:
        values = tuple(float(v) for v in bbox.split(","))
    except ValueError:
        raise InvalidParameter(f"bbox must be four numbers minLon,minLat,maxLon,maxLat; got {excerpt(bbox)}") from None
    if len(values) != 4:
        raise InvalidParameter(f"bbox must have four numbers minLon,minLat,maxLon,maxLat; got {len(values)}")
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise InvalidParameter("bbox must be minLon,minLat,maxLon,maxLat in degrees with min ≤ max")
    return values


def parse_count(name: str, value: str | None, default: int, low: int) -> int:
    """A whole number from a query string, at least `low` and within bigint (a 400 naming `name` otherwise), for the
    endpoints that answer a bad parameter with 400 rather than FastAPI's 422 (OGC API Features)."""
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidParameter(f"{name} must be a whole number; got {excerpt(value)}") from None
    if not low <= number <= DB_INT_MAX:
        raise InvalidParameter(f"{name} must be from {low} to {DB_INT_MAX}; got {excerpt(value)}")
    return number


def encode_cursor(after: int) -> str:
    """An opaque cursor for the page after the row with id `after` (keyset pagination)."""
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id a cursor stands for; a cursor gridmap did not make is a 400."""
    if cursor is None:
        return 0
    try:
        after = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["after"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise InvalidParameter("cursor is not one this API gave (use the next link of the previous page)") from None
    if not isinstance(after, int) or not 0 <= after < 2**63:
        raise InvalidParameter("cursor is not one this API gave (use the next link of the previous page)")
    return after


def next_links(url: URL, rows: Sequence[Mapping], limit: int, media_type: str | None = None) -> list[dict]:
    """The link to the page after `rows` (keyset, by id) when the page is full; none after the last page."""
    if len(rows) < limit:
        return []
    link = {"rel": "next", "href": str(url.include_query_params(cursor=encode_cursor(rows[-1]["id"]), limit=limit))}
    return [link | {"type": media_type}] if media_type else [link]


def feature_page(url: URL, features: list[dict], rows: Sequence[Mapping], limit: int) -> dict[str, Any]:
    """A page of a GeoJSON list: its features, how many, and the next link."""
    links = next_links(url, rows, limit, "application/geo+json")
    return {"type": "FeatureCollection", "features": features, "links": links, "numberReturned": len(features)}


class Point(BaseModel):
    """Where something is, sent as a GeoJSON Point in WGS84: within China's extent."""

    type: Literal["Point"]
    coordinates: Annotated[list[float], Field(min_length=2, max_length=2)]

    @field_validator("coordinates")
    @classmethod
    def _in_china(cls, value: list[float]) -> list[float]:
        lon, lat = value
        if not (73 <= lon <= 136 and 3 <= lat <= 54):
            raise ValueError("a point in China, [lon, lat] in WGS84")
        return value
