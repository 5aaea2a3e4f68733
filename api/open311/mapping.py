"""gridmap's services and requests in the shapes of Open311 GeoReport v2 (JSON), and the discovery file.

Every field the spec lists is present (null where gridmap has nothing to say), datetimes are ISO 8601 with their
offset (China time), ids are strings. Residents' personal fields have no place here: the requester's name, phone,
email, account and device, the household and the resident are never read into these views."""

from datetime import datetime

from api.requests_view import when
from api.workflows.requests import open311_status

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-12-06T00:00:00+08:00"  # when the service list or this mapping last changed
AGENCY = "社区党支部"  # who answers a request until it is given to a co-building unit (共建单位)
REQUEST_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)


def discovery(endpoint_url: str) -> dict:
    """The service discovery file: one production GeoReport v2 endpoint, JSON only."""
    endpoint = {
        "specification": SPECIFICATION,
        "url": endpoint_url,
        "changeset": CHANGESET,
        "type": "production",
        "formats": ["application/json"],
    }
    return {
        "changeset": CHANGESET,
        "contact": "the street office or community that runs this gridmap (网格化服务管理中心)",
        "key_service": "an api_key is issued to a partner app by the operator: gridmap open311-partners add NAME",
        "endpoints": [endpoint],
    }


def service(row: dict) -> dict:
    """One entry of services.json."""
    keywords = row["keywords"] or [row["name"], row["group_name"]]
    return {
        "service_code": row["code"],
        "service_name": row["name"],
        "description": row["description"],
        "metadata": False,  # no attributes: a request needs a place and a description only
        "type": "realtime",  # the service_request_id comes back at once
        "keywords": ", ".join(keywords),
        "group": row["group_name"],
    }


def definition(code: str) -> dict:
    """services/{code}.json: gridmap's services ask for no attributes."""
    return {"service_code": code, "attributes": []}


def notice(deadline_hours: int) -> str:
    return f"由社区党支部受理、派单；办结时限 {deadline_hours} 小时 (answered within {deadline_hours} hours)"


def _closed_at(row: dict) -> datetime:
    """When a closed request was closed (its completion, for one awaiting the resident's rating); else the last
    change."""
    if row["state"] == "completed":
        return row["completed_at"] or row["updated_at"]
    return row["closed_at"] or row["updated_at"]


def _address(row: dict) -> str | None:
    """From the most specific to the most general unit: the grid, the community."""
    parts = [row["grid_name"] or row["grid_code"], row["community_name"]]
    return ", ".join(p for p in parts if p) or None


def service_request(row: dict, *, public: bool) -> dict:
    """One request: in full for the partner that posted it; for anyone else (`public`) without description, notes
    and media, at the grid's point."""
    status = open311_status(row["state"])
    lon, lat = row["lon"], row["lat"]
    view = {
        "service_request_id": str(row["id"]),
        "status": status,
        "status_notes": None if public else row["status_notes"],
        "service_name": row["service_name"],
        "service_code": row["service_code"],
        "description": None if public else row["description"],
        "agency_responsible": row["assigned_unit"] or AGENCY,
        "service_notice": notice(row["deadline_hours"]),
        "requested_datetime": when(row["requested_at"]),
        "updated_datetime": when(_closed_at(row) if status == "closed" else row["updated_at"]),
        "expected_datetime": when(row["deadline"]),
        "address": (row["address"] if not public and row["address"] else _address(row)),
        "address_id": None,
        "zipcode": None,
        "lat": None if lat is None else round(lat, 5 if public else 7),
        "long": None if lon is None else round(lon, 5 if public else 7),
        "media_url": None if public else row["media_url"],
    }
    return view
