"""How a stored request is served by the internal API (/requests): a GeoJSON Feature in China time, the requester's
name and phone masked (张*明, 138****5678) on every answer, the overdue flag worked out at the time of asking."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from api.residents import mask_name, mask_phone
from api.workflows.requests import STATE_LABELS, is_overdue, open311_status

CHINA = ZoneInfo("Asia/Shanghai")
TIMES = ("requested_at", "deadline", "dispatched_at", "accepted_at", "completed_at", "closed_at", "updated_at")
SHOWN = (
    "id",
    "service_code",
    "service_name",
    "service_kind",
    "state",
    "version",
    "description",
    "grid_code",
    "household_id",
    "resident_id",
    "source",
    "reported_by",
    "assigned_user_id",
    "assigned_unit",
    "duplicate_of",
    "status_notes",
    "rating",
    "rating_comment",
)


def when(value: datetime | None) -> str | None:
    """ISO 8601 with the offset, in China time (2026-12-06T09:30:00+08:00)."""
    return None if value is None else value.astimezone(CHINA).isoformat(timespec="seconds")


def feature(row: dict, now: datetime | None = None) -> dict:
    """A request as a GeoJSON Feature; personal fields masked."""
    now = now or datetime.now(UTC)
    properties = {k: row[k] for k in SHOWN}
    properties["client_id"] = None if row["client_id"] is None else str(row["client_id"])
    properties["state_label"] = STATE_LABELS[row["state"]]
    properties["status"] = open311_status(row["state"])
    properties["overdue"] = is_overdue(row["state"], row["deadline"], now)
    name, phone = row["requester_name"], row["requester_phone"]
    properties["requester_name"] = None if name is None else mask_name(name)
    properties["requester_phone"] = None if phone is None else mask_phone(phone)
    properties |= {k: when(row[k]) for k in TIMES}
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": {"type": "Point", "coordinates": [round(row["lon"], 7), round(row["lat"], 7)]},
        "properties": properties,
    }


def nearby_view(rows: list[dict]) -> list[dict]:
    """Possible duplicates: id, state, how far (m) and how many days apart."""
    return [
        {
            "id": r["id"],
            "state": r["state"],
            "distance_m": round(float(r["distance_m"]), 1),
            "days_apart": round(float(r["days_apart"]), 2),
            "requested_at": when(r["requested_at"]),
        }
        for r in rows
    ]
