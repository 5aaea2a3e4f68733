"""The form of GeoReport v2's POST Service Request, checked into what gridmap stores; and the arguments of GET
Service Requests. Every refusal names the argument (`InvalidParameter`: 400 in the spec's error format).

Kept: service_code, lat and long, description, first_name and last_name (as the requester's name), phone (checked
and written one way), media_url, and gridmap's extension client_id (a retry is the same request). Not kept:
email, device_id and account_id (gridmap has no use for them, so it does not store them, and the answer's
account_id is null, as the spec allows). An address_string or address_id without lat/long is refused: gridmap does not
geocode. attribute[…] is accepted and ignored: no service defines attributes."""

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from api.errors import InvalidParameter, PhoneError, excerpt
from api.offline import payload_sha256
from api.residents import check_phone
from api.workflows.requests import OPEN311_STATUS

CHINA = ZoneInfo("Asia/Shanghai")
DESCRIPTION_MAX = 4000  # the spec's limit
NAME_MAX = 32
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CJK = re.compile(r"[\u3400-\u9fff]")
WINDOW = timedelta(days=90)  # the spec's default and largest span of a query
MAX_IDS = 1000
PAGE_SIZE_MAX = 1000  # the spec's default query limit: 1000 requests


@dataclass(frozen=True)
class Posted:
    """A checked POST: what is stored."""

    service_code: str
    lon: float
    lat: float
    description: str
    requester_name: str | None
    requester_phone: str | None
    media_url: str | None
    client_id: str | None

    def payload_sha256(self, partner_id: int) -> str:
        """Of what the partner sent (its key aside): an identical retry has the same."""
        values = asdict(self) | {"partner_id": partner_id}
        return payload_sha256(values)


def _one(form: Mapping[str, str], name: str) -> str | None:
    """An argument; empty counts as not given (the spec: a null parameter is one not declared)."""
    value = form.get(name)
    return value if value not in (None, "") else None


def text_field(form: Mapping[str, str], name: str, limit: int) -> str | None:
    """A text argument: at most `limit` characters, no control characters but line breaks and tabs."""
    value = _one(form, name)
    if value is None:
        return None
    if len(value) > limit:
        raise InvalidParameter(f"{name}: at most {limit} characters; got {len(value)}")
    if CONTROL.search(value):
        raise InvalidParameter(f"{name}: control characters are not allowed")
    return value


def _number(form: Mapping[str, str], name: str) -> float:
    text = form.get(name) or ""
    try:
        value = float(text)
    except ValueError:
        raise InvalidParameter(f"{name}: a number in degrees (WGS84); got {excerpt(text)}") from None
    if not math.isfinite(value):
        raise InvalidParameter(f"{name}: a finite number; got {excerpt(text)}")
    return value


def posted(form: Mapping[str, str]) -> Posted:
    """The checked POST Service Request."""
    service_code = text_field(form, "service_code", 40)
    if service_code is None:
        raise InvalidParameter("service_code was not provided (GET services.json lists them)")
    if _one(form, "lat") is None or _one(form, "long") is None:
        if _one(form, "address_string") or _one(form, "address_id"):
            raise InvalidParameter("gridmap does not geocode addresses: send lat and long (WGS84) instead")
        raise InvalidParameter("a location is required: lat and long (WGS84)")
    lat, lon = _number(form, "lat"), _number(form, "long")
    if not (73 <= lon <= 136 and 3 <= lat <= 54):
        raise InvalidParameter(f"lat/long: ({lat}, {lon}) is not in China")
    description = text_field(form, "description", DESCRIPTION_MAX)
    if description is None or not description.strip():
        raise InvalidParameter("description is required: say what is asked for")
    first, last = text_field(form, "first_name", NAME_MAX), text_field(form, "last_name", NAME_MAX)
    names = [n.strip() for n in (last, first) if n and n.strip()]  # 姓 then 名
    name = None
    if names:
        name = "".join(names) if CJK.search("".join(names)) else " ".join(reversed(names))
    phone = text_field(form, "phone", 40)
    if phone is not None:
        try:
            phone = check_phone(phone).number
        except PhoneError as exc:
            raise InvalidParameter(f"phone: {exc}") from None
    text_field(form, "email", 254)  # checked for size, not kept
    text_field(form, "device_id", 200)
    text_field(form, "account_id", 100)
    media_url = text_field(form, "media_url", 2000)
    if media_url is not None and not re.match(r"^https?://[^\s/]+", media_url):
        raise InvalidParameter("media_url: an http:// or https:// URL")
    client_id = _one(form, "client_id")
    if client_id is not None:
        try:
            client_id = str(uuid.UUID(client_id))
        except ValueError:
            raise InvalidParameter(f"client_id: a UUID; got {excerpt(client_id)}") from None
    return Posted(
        service_code=service_code,
        lon=lon,
        lat=lat,
        description=description,
        requester_name=name,
        requester_phone=phone,
        media_url=media_url,
        client_id=client_id,
    )


def parse_datetime(name: str, value: str) -> datetime:
    """A w3 datetime (2010-01-01T00:00:00Z, …+08:00); one without an offset is taken as China time."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidParameter(f"{name}: a w3 datetime, e.g. 2010-01-01T00:00:00Z; got {excerpt(value)}") from None
    if not 1970 <= parsed.year <= 2200:
        raise InvalidParameter(f"{name}: a year from 1970 to 2200; got {parsed.year}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=CHINA)


def window(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """The span of requested_datetime asked for: the latest 90 days by default, never more than 90 days."""
    first = None if not start else parse_datetime("start_date", start)
    last = None if not end else parse_datetime("end_date", end)
    if first is None and last is None:
        return now - WINDOW, now
    if first is None:
        assert last is not None
        return last - WINDOW, last
    if last is None:
        return first, first + WINDOW
    if last < first:
        raise InvalidParameter("end_date is before start_date")
    if last - first > WINDOW:
        raise InvalidParameter("start_date to end_date may not span more than 90 days")
    return first, last


def id_list(value: str | None) -> list[int] | None:
    """service_request_id: ids, comma separated."""
    if not value:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts or len(parts) > MAX_IDS or not all(p.isascii() and p.isdigit() and len(p) <= 18 for p in parts):
        raise InvalidParameter(f"service_request_id: up to {MAX_IDS} ids, comma separated; got {excerpt(value)}")
    return [int(p) for p in parts]


def code_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    codes = [c.strip() for c in value.split(",") if c.strip()]
    if not codes or len(codes) > 100 or any(len(c) > 40 for c in codes):
        raise InvalidParameter(f"service_code: codes, comma separated; got {excerpt(value)}")
    return codes


def status_list(value: str | None) -> list[str] | None:
    """status (open, closed; comma separated) as the states it stands for."""
    if not value:
        return None
    wanted = {s.strip() for s in value.split(",") if s.strip()}
    if not wanted or not wanted <= {"open", "closed"}:
        raise InvalidParameter(f"status: open, closed or both (comma separated); got {excerpt(value)}")
    return sorted(state for state, (status, _) in OPEN311_STATUS.items() if status in wanted)


def paging(page: str | None, page_size: str | None) -> tuple[int, int]:
    """The page/page_size extension (as Chicago's, Boston's …): page from 1, at most 1000 a page."""
    try:
        number = int(page) if page else 1
        size = int(page_size) if page_size else PAGE_SIZE_MAX
    except ValueError:
        raise InvalidParameter("page and page_size: whole numbers") from None
    if not 1 <= number <= 1_000_000 or not 1 <= size <= PAGE_SIZE_MAX:
        raise InvalidParameter(f"page from 1, page_size from 1 to {PAGE_SIZE_MAX}")
    return number, size
