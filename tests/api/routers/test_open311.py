"""/open311/v2 against a live server: GeoReport v2 field by field (every field present with its type, datetimes with
their offset, open/closed, the spec's error bodies and statuses); partner keys (made by the CLI, stored as SHA-256,
revoked at once); a partner seeing its own requests in full and anyone else the generalised view; residents'
personal fields in no answer; and two existing client libraries, unmodified: georeport (reads) and civicbot
(posts)."""

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from civicbot import Endpoint, Open311Client
from georeport import GeoReport
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app as cli
from api.open311.partners import add_partner
from api.settings import Settings
from tests.conftest import ServerThread, sample_loaded
from tests.signing import bearer_headers

KEY = "a signing key for the open311 tests, 0123456789abcdef"
FIRST, LAST, PHONE, EMAIL = "秀英", "王", "13912345678", "wang.xiuying@example.cn"
ACCOUNT, DEVICE = "wx-account-778899", "device-5566"
# The spec's fields of a request, in its order (wiki.open311.org/GeoReport_v2, GET Service Requests)
REQUEST_FIELDS = [
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
]
W3 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
PERSONAL = [f"{LAST}{FIRST}", FIRST, PHONE, "139****5678", EMAIL, ACCOUNT, DEVICE, "household", "resident", "requester"]
ANSWERS: list[str] = []  # the text of every Open311 answer in this module, searched for personal data at the end


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM open311_partners"))
            a_code, community = conn.execute(
                text(
                    "SELECT st.code || c.code, c.id FROM communities c JOIN streets st ON st.id = c.street_id "
                    "WHERE EXISTS (SELECT 1 FROM grids g WHERE g.community_id = c.id) ORDER BY c.id LIMIT 1"
                )
            ).one()
            grid = (
                conn.execute(
                    text(
                        "SELECT id, code, ST_X(ST_PointOnSurface(geom)) AS lon, ST_Y(ST_PointOnSurface(geom)) AS lat "
                        "FROM grids WHERE community_id = :c ORDER BY id LIMIT 1"
                    ),
                    {"c": community},
                )
                .mappings()
                .one()
            )
        keys = {name: add_partner(engine, name) for name in ("mini-program", "hotline", "gone")}
        settings = Settings(database_url=database_url, tiles="none", secret_key=KEY)
        with ServerThread(settings) as server:
            base = f"{server.url}/open311/v2"
            secretary = bearer_headers(server.url, engine, "community_secretary", [f"community:{a_code}"])
            worker = bearer_headers(server.url, engine, "grid_worker", [f"grid:{grid['code']}"])
            with httpx.Client(timeout=30) as http:
                yield {
                    "http": http,
                    "server": server,
                    "base": base,
                    "keys": keys,
                    "engine": engine,
                    "grid": dict(grid),
                    "secretary": secretary,
                    "worker": worker,
                    "settings": settings,
                }


def _get(world, path, **params) -> httpx.Response:
    response = world["http"].get(f"{world['base']}/{path}", params=params)
    ANSWERS.append(response.text)
    return response


def _form(world, partner="mini-program", **changes) -> dict:
    grid = world["grid"]
    form = {
        "api_key": world["keys"][partner],
        "jurisdiction_id": "example.gov.cn",
        "service_code": "facility",
        "lat": str(grid["lat"]),
        "long": str(grid["lon"]),
        "description": "小区路灯不亮",
        "first_name": FIRST,
        "last_name": LAST,
        "phone": PHONE,
        "email": EMAIL,
        "account_id": ACCOUNT,
        "device_id": DEVICE,
        "media_url": "https://img.example.cn/lamp.jpg",
        "attribute[WHISPAWN]": "123456",
    }
    return {k: v for k, v in (form | changes).items() if v is not None}


def _post(world, partner="mini-program", **changes) -> httpx.Response:
    response = world["http"].post(f"{world['base']}/requests.json", data=_form(world, partner, **changes))
    ANSWERS.append(response.text)
    return response


def _count(world) -> int:
    with world["engine"].connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM requests"))


def _spec_error(response: httpx.Response, status: int, *words: str) -> None:
    """The spec's error body: a list of {code, description}, the code matching the HTTP status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status and isinstance(body[0]["description"], str)
    for word in words:
        assert word in body[0]["description"], body


def _check_request(view: dict) -> None:
    """One request against the spec: every field, in the spec's order, with its type."""
    assert list(view) == REQUEST_FIELDS
    assert isinstance(view["service_request_id"], str) and view["service_request_id"].isdigit()
    assert view["status"] in ("open", "closed")
    for name in ("service_name", "service_code", "agency_responsible", "service_notice"):
        assert isinstance(view[name], str) and view[name]
    for name in ("status_notes", "description", "address", "address_id", "zipcode", "media_url"):
        assert view[name] is None or isinstance(view[name], str)
    for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert W3.match(view[name]), (name, view[name])
        assert datetime.fromisoformat(view[name]).tzinfo is not None
    assert view["requested_datetime"] <= view["updated_datetime"]
    for name in ("lat", "long"):
        assert isinstance(view[name], float)


def test_discovery_and_services(world):
    discovery = _get(world, "discovery.json")
    assert discovery.status_code == 200
    assert discovery.headers["content-type"] == "application/json; charset=utf-8"
    body = discovery.json()
    assert W3.match(body["changeset"]) and isinstance(body["contact"], str)
    (endpoint,) = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"] == world["base"] and endpoint["type"] == "production"
    assert endpoint["formats"] == ["application/json"]
    services = _get(world, "services.json", jurisdiction_id="example.gov.cn").json()
    assert {s["service_code"] for s in services} >= {"livelihood", "micro_wish", "facility", "environment"}
    for service in services:
        assert list(service) == ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
        assert service["metadata"] is False and service["type"] == "realtime"
        assert all(isinstance(service[k], str) and service[k] for k in ("service_code", "service_name", "group"))
        assert isinstance(service["keywords"], str) and isinstance(service["description"], str)
    assert _get(world, "services/micro_wish.json").json() == {"service_code": "micro_wish", "attributes": []}
    _spec_error(_get(world, "services/pothole.json"), 404, "pothole")
    _spec_error(_get(world, "services.xml"), 400, "JSON only")
    _spec_error(_get(world, "tokens/123.json"), 404)


def test_post_and_read_back_in_full(world):
    before = _count(world)
    posted = _post(world)
    assert posted.status_code == 201, posted.text
    (answer,) = posted.json()
    assert list(answer) == ["service_request_id", "service_notice", "account_id"]
    assert answer["service_request_id"].isdigit() and "120" not in answer["service_notice"]
    assert "168" in answer["service_notice"] and answer["account_id"] is None  # facility: 168 hours
    assert _count(world) == before + 1
    rid = answer["service_request_id"]
    one = _get(world, f"requests/{rid}.json", api_key=world["keys"]["mini-program"])
    assert one.status_code == 200
    (view,) = one.json()
    _check_request(view)
    grid = world["grid"]
    assert view["service_request_id"] == rid and view["status"] == "open" and view["service_code"] == "facility"
    assert view["description"] == "小区路灯不亮" and view["media_url"] == "https://img.example.cn/lamp.jpg"
    assert view["agency_responsible"] == "社区党支部" and view["service_name"] == "公共设施"
    assert abs(view["lat"] - grid["lat"]) < 1e-6 and abs(view["long"] - grid["lon"]) < 1e-6
    requested = datetime.fromisoformat(view["requested_datetime"])
    assert datetime.fromisoformat(view["expected_datetime"]) - requested == timedelta(hours=168)
    assert view["requested_datetime"].endswith("+08:00")
    with world["engine"].connect() as conn:
        stored = conn.execute(
            text(
                "SELECT r.source, p.name, r.requester_name, r.requester_phone, r.reported_by FROM requests r "
                "JOIN open311_partners p ON p.id = r.partner_id WHERE r.id = :id"
            ),
            {"id": int(rid)},
        ).one()
        history = conn.execute(text("SELECT action, role FROM request_history WHERE case_id = :id"), {"id": int(rid)})
        audit = conn.execute(text("SELECT login, action FROM audit_log WHERE :id = ANY(object_ids)"), {"id": int(rid)})
        everything = conn.execute(text("SELECT row_to_json(r)::text FROM requests r WHERE id = :id"), {"id": int(rid)})
    assert tuple(stored) == ("open311", "mini-program", f"{LAST}{FIRST}", PHONE, None)
    assert history.all() == [("submit", "open311_partner")]
    assert audit.all() == [("open311:mini-program", "create")]
    kept = everything.scalar()
    assert EMAIL not in kept and ACCOUNT not in kept and DEVICE not in kept  # not needed: not stored


def test_the_public_view_says_nothing_personal_and_no_exact_place(world):
    rid = _post(world, description="家中老人需要助餐，门牌 3-402").json()[0]["service_request_id"]
    inside = world["http"].post(
        f"{world['server'].url}/requests",
        json={
            "service_code": "special_groups",
            "location": {"type": "Point", "coordinates": [world["grid"]["lon"] + 1e-4, world["grid"]["lat"]]},
            "description": "独居老人 李大爷 需要探访",
            "requester_name": f"{LAST}{FIRST}",
            "requester_phone": PHONE,
        },
        headers=world["worker"],
    )
    assert inside.status_code == 201, inside.text
    public = _get(world, "requests.json")
    assert public.status_code == 200
    views = {v["service_request_id"]: v for v in public.json()}
    assert rid in views and str(inside.json()["id"]) in views
    with world["engine"].connect() as conn:
        point = conn.execute(
            text("SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) FROM grids WHERE id = :g"),
            {"g": world["grid"]["id"]},
        ).one()
    for view in (views[rid], views[str(inside.json()["id"])]):
        _check_request(view)
        assert view["description"] is None and view["status_notes"] is None and view["media_url"] is None
        assert (view["long"], view["lat"]) == (round(point[0], 5), round(point[1], 5))  # the grid's point
        assert view["address"]  # the grid and the community, never the household
    assert "李大爷" not in public.text and "3-402" not in public.text
    single = _get(world, f"requests/{rid}.json")
    assert single.status_code == 200 and single.json()[0]["description"] is None


def test_a_partner_sees_its_own_requests_only(world):
    mine = _post(world).json()[0]["service_request_id"]
    theirs = _post(world, "hotline").json()[0]["service_request_id"]
    own = _get(world, "requests.json", api_key=world["keys"]["mini-program"]).json()
    ids = {v["service_request_id"] for v in own}
    assert mine in ids and theirs not in ids
    assert all(v["description"] for v in own)
    _spec_error(_get(world, f"requests/{theirs}.json", api_key=world["keys"]["mini-program"]), 404, theirs)
    _spec_error(_get(world, "requests/123456789.json"), 404)
    _spec_error(_get(world, "requests/abc.json"), 404)
    basic = world["http"].get(f"{world['base']}/requests/{mine}.json", auth=("app", world["keys"]["mini-program"]))
    assert basic.status_code == 200 and basic.json()[0]["description"]


def test_keys_are_required_checked_and_revocable(world):
    before = _count(world)
    _spec_error(_post(world, api_key=None), 403, "api_key")
    _spec_error(_post(world, api_key="o311_not-a-key"), 403, "invalid api_key")
    _spec_error(_get(world, "requests.json", api_key="o311_not-a-key"), 403)
    assert _post(world, "gone").status_code == 201
    result = CliRunner().invoke(cli, ["open311-partners", "revoke", "gone"], env=_env(world))
    assert result.exit_code == 0, result.output
    _spec_error(_post(world, "gone"), 403, "revoked")
    _spec_error(_get(world, "requests.json", api_key=world["keys"]["gone"]), 403, "revoked")
    assert _count(world) == before + 1
    closed = Settings(**(world["settings"].model_dump() | {"open311_public_reads": False}))
    with ServerThread(closed) as server:
        refused = httpx.get(f"{server.url}/open311/v2/requests.json")
        _spec_error(refused, 403, "api_key")
        assert httpx.get(f"{server.url}/open311/v2/services.json").status_code == 200


@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"service_code": None}, 400, ["service_code was not provided"]),
        ({"service_code": "pothole"}, 404, ["pothole", "not found"]),
        ({"lat": None, "long": None, "address_string": "幸福路1号"}, 400, ["does not geocode", "lat and long"]),
        ({"lat": None}, 400, ["lat and long"]),
        ({"lat": "north"}, 400, ["lat"]),
        ({"long": "nan"}, 400, ["long"]),
        ({"lat": "48.85", "long": "2.35"}, 400, ["not in China"]),
        ({"lat": "31.2304", "long": "121.4737"}, 400, ["outside the area"]),
        ({"description": None}, 400, ["description is required"]),
        ({"description": "x" * 4001}, 400, ["description", "4000"]),
        ({"description": "bell\x07"}, 400, ["description", "control"]),
        ({"phone": "12345"}, 400, ["phone"]),
        ({"media_url": "javascript:alert(1)"}, 400, ["media_url"]),
        ({"client_id": "nope"}, 400, ["client_id"]),
    ],
)
def test_bad_posts_are_refused_in_the_spec_form_and_store_nothing(world, changes, status, words):
    before = _count(world)
    _spec_error(_post(world, **changes), status, *words)
    assert _count(world) == before


def test_a_json_body_or_a_form_from_another_site(world):
    as_json = world["http"].post(f"{world['base']}/requests.json", json=_form(world))
    _spec_error(as_json, 403, "api_key")  # no form: no key
    cross = world["http"].post(
        f"{world['base']}/requests.json", data=_form(world), headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403


def test_filters_window_and_paging(world):
    key = world["keys"]["mini-program"]
    first = _post(world, service_code="environment").json()[0]["service_request_id"]
    second = _post(world, service_code="environment").json()[0]["service_request_id"]
    env = _get(world, "requests.json", api_key=key, service_code="environment").json()
    assert {v["service_code"] for v in env} == {"environment"} and {first, second} <= {
        v["service_request_id"] for v in env
    }
    assert [v["service_request_id"] for v in env] == sorted((v["service_request_id"] for v in env), key=int)[::-1]
    both = _get(world, "requests.json", api_key=key, service_code="environment,facility").json()
    assert {v["service_code"] for v in both} == {"environment", "facility"}
    # complete one through the internal API: it is closed now, with updated_datetime its completion
    http, server = world["http"], world["server"].url
    for version, (action, fields) in enumerate(
        [("dispatch", {"assigned_unit": "环卫所"}), ("accept", {}), ("complete", {"note": "已清运"})], start=1
    ):
        answer = http.post(
            f"{server}/requests/{first}/transitions",
            json={"action": action, "version": version} | fields,
            headers=world["secretary"],
        )
        assert answer.status_code == 200, answer.text
    closed = _get(world, "requests.json", api_key=key, status="closed").json()
    opened = _get(world, "requests.json", api_key=key, status="open").json()
    assert first in {v["service_request_id"] for v in closed} and first not in {v["service_request_id"] for v in opened}
    assert {v["status"] for v in closed} == {"closed"} and {v["status"] for v in opened} == {"open"}
    done = next(v for v in closed if v["service_request_id"] == first)
    assert done["status_notes"] == "已清运" and done["agency_responsible"] == "环卫所"
    assert len(_get(world, "requests.json", api_key=key, status="open,closed").json()) == len(closed) + len(opened)
    now = datetime.now(UTC)
    recent = {"start_date": (now - timedelta(hours=1)).isoformat(), "end_date": (now + timedelta(hours=1)).isoformat()}
    assert first in {v["service_request_id"] for v in _get(world, "requests.json", api_key=key, **recent).json()}
    old = {"start_date": "2020-01-01T00:00:00Z", "end_date": "2020-02-01T00:00:00+08:00"}
    assert _get(world, "requests.json", api_key=key, **old).json() == []
    since = _get(world, "requests.json", api_key=key, start_date="2020-01-01T00:00:00Z")
    assert since.json() == []  # start only: 90 days from it
    _spec_error(_get(world, "requests.json", start_date="2020-01-01T00:00:00Z", end_date="2020-06-01T00:00:00Z"), 400)
    _spec_error(_get(world, "requests.json", start_date="2020-06-01T00:00:00Z", end_date="2020-01-01T00:00:00Z"), 400)
    _spec_error(_get(world, "requests.json", start_date="yesterday"), 400, "start_date")
    _spec_error(_get(world, "requests.json", status="pending"), 400, "status")
    _spec_error(_get(world, "requests.json", service_request_id="1,x"), 400, "service_request_id")
    _spec_error(_get(world, "requests.json", page_size="5000"), 400, "page_size")
    chosen = _get(world, "requests.json", api_key=key, service_request_id=f"{first},{second}", status="open").json()
    assert {v["service_request_id"] for v in chosen} == {first, second}  # ids override every other filter
    pages = [_get(world, "requests.json", api_key=key, page=str(n), page_size="2").json() for n in (1, 2, 3)]
    assert all(len(p) <= 2 for p in pages) and len({v["service_request_id"] for p in pages for v in p}) == sum(
        len(p) for p in pages
    )
    assert _get(world, "requests.json", api_key=key, status="").status_code == 200  # empty: as if not given


def test_offline_retry_and_conflict(world):
    client_id = str(uuid.uuid4())
    first = _post(world, client_id=client_id)
    again = _post(world, client_id=client_id)
    assert (first.status_code, again.status_code) == (201, 200) and first.json() == again.json()
    before = _count(world)
    _spec_error(_post(world, client_id=client_id, description="别的"), 409, "client_id")
    _spec_error(_post(world, "hotline", client_id=client_id), 409, "client_id")
    assert _count(world) == before


def test_the_resident_rates_through_the_partner(world):
    key = world["keys"]["mini-program"]
    rid = _post(world).json()[0]["service_request_id"]
    rate = f"{world['base']}/requests/{rid}/rating.json"
    _spec_error(world["http"].post(rate, data={"api_key": key, "rating": "5"}), 409, "submitted")
    http, server = world["http"], world["server"].url
    for version, (action, fields) in enumerate(
        [("dispatch", {"assigned_unit": "物业"}), ("accept", {}), ("complete", {"note": "修好了"})], start=1
    ):
        body = {"action": action, "version": version} | fields
        assert http.post(f"{server}/requests/{rid}/transitions", json=body, headers=world["secretary"]).is_success
    _spec_error(world["http"].post(rate, data={"api_key": world["keys"]["hotline"], "rating": "5"}), 404)
    _spec_error(world["http"].post(rate, data={"api_key": key, "rating": "9"}), 400, "rating")
    rated = world["http"].post(rate, data={"api_key": key, "rating": "4", "comment": "及时"})
    assert rated.status_code == 200, rated.text
    (view,) = rated.json()
    _check_request(view)
    assert view["status"] == "closed"
    internal = http.get(f"{server}/requests/{rid}", headers=world["secretary"]).json()["properties"]
    assert internal["state"] == "closed" and internal["rating"] == 4 and internal["rating_comment"] == "及时"
    assert internal["history"][-1]["role"] == "open311_partner"


def test_client_libraries_unmodified(world):
    """georeport (reads: services, a definition, requests with filters, one request; the partner's key as the
    password in the URL, which `requests` sends as HTTP Basic) and civicbot (posts with an api_key, then reads)."""
    grid, key = world["grid"], world["keys"]["hotline"]
    civic = Open311Client(Endpoint(id="gridmap", name="gridmap test", base_url=world["base"], write=True))
    assert {s["service_code"] for s in civic.list_services()} >= {"micro_wish"}
    assert civic.get_service_definition("micro_wish") == {"service_code": "micro_wish", "attributes": []}
    prepared = civic.create_request(
        "micro_wish",
        lat=grid["lat"],
        lng=grid["lon"],
        description="想要一副老花镜",
        first_name=FIRST,
        last_name=LAST,
        phone=PHONE,
        email=EMAIL,
        api_key=key,
        dry_run=False,
        confirm="SEND",
        validate_remote=True,
    )
    (created,) = prepared.response
    rid = created["service_request_id"]
    assert civic.get_request(rid)["status"] == "open"  # the public view, without a key
    listed = civic.list_requests(service_code="micro_wish", status="open", service_request_ids=[rid])
    assert [v["service_request_id"] for v in listed] == [rid]
    ANSWERS.append(json.dumps([prepared.response, listed], ensure_ascii=False))

    anyone = GeoReport(world["base"], jurisdiction="example.gov.cn")
    assert {s["service_code"] for s in anyone.get_service_list()} >= {"micro_wish"}
    assert anyone.get_service_definition("micro_wish")["attributes"] == []
    public = anyone.get_service_request(rid)
    assert public["service_request_id"] == rid and public["description"] is None
    host = world["server"].url.removeprefix("http://")
    partner = GeoReport(f"http://hotline:{key}@{host}/open311/v2")
    now = datetime.now(UTC)
    found = partner.get_service_requests(
        service_code="micro_wish",
        status="open",
        start_date=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        end_date=(now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    assert [v["service_request_id"] for v in found] == [rid] and found[0]["description"] == "想要一副老花镜"
    assert partner.get_service_request(rid)["description"] == "想要一副老花镜"
    ANSWERS.append(json.dumps([public, found], ensure_ascii=False))


def _env(world) -> dict:
    return {"GRIDMAP_DATABASE_URL": world["settings"].database_url}


def test_partner_keys_from_the_command_line(world):
    runner = CliRunner()
    added = runner.invoke(cli, ["open311-partners", "add", "街道热线"], env=_env(world))
    assert added.exit_code == 0, added.output
    key = re.search(r"api_key \(shown once, keep it secret\): (\S+)", added.output).group(1)
    with world["engine"].connect() as conn:
        stored = conn.execute(text("SELECT key_hash FROM open311_partners WHERE name = '街道热线'")).scalar()
        dump = conn.execute(text("SELECT string_agg(row_to_json(p)::text, '') FROM open311_partners p")).scalar()
    assert bytes(stored) == hashlib.sha256(key.encode()).digest() and key not in dump
    assert _post(world, api_key=key).status_code == 201
    listing = runner.invoke(cli, ["open311-partners", "list"], env=_env(world))
    assert listing.exit_code == 0 and "街道热线" in listing.output and key not in listing.output
    assert "1 request(s)" in next(line for line in listing.output.splitlines() if "街道热线" in line)
    again = runner.invoke(cli, ["open311-partners", "add", "街道热线"], env=_env(world))
    assert again.exit_code == 2 and "exists" in again.output
    assert runner.invoke(cli, ["open311-partners", "revoke", "街道热线"], env=_env(world)).exit_code == 0
    twice = runner.invoke(cli, ["open311-partners", "revoke", "街道热线"], env=_env(world))
    assert twice.exit_code == 2 and "already revoked" in twice.output
    assert runner.invoke(cli, ["open311-partners", "revoke", "nobody"], env=_env(world)).exit_code == 2
    _spec_error(_post(world, api_key=key), 403, "revoked")


def test_no_answer_held_a_personal_field(world):
    """Run last: every Open311 answer of this module, searched for the requesters' names, phone, email, account,
    device, and for household, resident or requester keys."""
    assert len(ANSWERS) > 50
    for answer in ANSWERS:
        for personal in PERSONAL:
            if personal in ("household", "resident", "requester"):
                assert f'"{personal}' not in answer, answer[:300]
            else:
                assert personal not in answer, (personal, answer[:300])
