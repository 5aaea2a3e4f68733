"""api.middleware: request ids and 500s that leak nothing, body limits, allowed hosts, security
headers and cross-site writes; against the real app and PostGIS, and a real uvicorn where the server matters."""

import http.client
import http.server
import json
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.deps import OpenConnectionDep
from api.main import create_app
from api.middleware import SANE_REQUEST_ID, content_security_policy
from api.routers.coverage import ScenarioRequest
from api.settings import Settings
from tests.chromium import chromium_driver, js_errors
from tests.conftest import ServerThread
from tests.signing import browser_sign_in, signed_in

SECRET = "13800138000 张三 3-502"  # a resident's phone, name and room, as a bound SQL parameter


@pytest.fixture
def settings(clean_db, database_url) -> Settings:
    return Settings(database_url=database_url, tiles="none")


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield signed_in(client)


def failing_app(settings: Settings) -> FastAPI:
    """The API with one more route, whose SQL fails with a resident's data among its parameters."""
    app = create_app(settings)

    @app.get("/test/boom")
    def boom(conn: OpenConnectionDep) -> dict:
        conn.execute(text("SELECT CAST(:phone AS integer)"), {"phone": SECRET})
        return {}

    return app


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))  # adds tracebacks when given
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def server_log() -> Iterator[list[str]]:
    """Every line the server process logs (uvicorn's loggers do not propagate to the root logger)."""
    handler = _Collect()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


# --- 5, 6: unexpected errors ----------------------------------------------------------------------------------------


def test_unexpected_error_logs_type_route_and_request_id_only(settings):
    with ServerThread(settings, failing_app(settings)) as server, server_log() as log:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/test/boom", headers={"X-Request-ID": "req-42"})
        response = conn.getresponse()
        body = json.loads(response.read())
        conn.close()
    assert response.status == 500 and body == {"code": "internal_error", "detail": "internal error"}
    assert response.getheader("X-Request-ID") == "req-42"
    text_logged = "\n".join(log)
    assert "DataError in GET /test/boom (request req-42)" in text_logged
    for leak in ("13800138000", "张三", "SELECT", "Traceback", "Exception in ASGI application"):
        assert leak not in text_logged


def test_keep_alive_connection_survives_a_500(settings):
    with ServerThread(settings, failing_app(settings)) as server, server_log():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/test/boom")
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        conn.request("GET", "/health")  # the same connection: http.client reconnects only after Connection: close
        second = conn.getresponse()
        second.read()
        conn.close()
    assert first.status == 500 and not first.will_close
    assert sock is not None and second.status == 200


def test_request_id_taken_when_sane_else_made(client):
    assert client.get("/health", headers={"X-Request-ID": "4bf92f35-77b3-4da6"}).headers["X-Request-ID"] == (
        "4bf92f35-77b3-4da6"
    )
    made = {client.get("/health", headers={"X-Request-ID": bad}).headers["X-Request-ID"] for bad in ("a b", "x" * 65)}
    made.add(client.get("/health").headers["X-Request-ID"])
    # made here: unique, and sane themselves (a client may send them back)
    assert len(made) == 3 and all(SANE_REQUEST_ID.fullmatch(m) and m != "x" * 65 for m in made)


# --- 7: body size ---------------------------------------------------------------------------------------------------


def _raw(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], dict]:
    """Send a request head and part of a body on a raw socket, and read the response without sending the rest."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), json.loads(response.read())


def test_declared_body_above_the_limit_is_refused_unread(settings):
    with ServerThread(settings) as server:
        head = (
            b"POST /coverage/scenario HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n"
        )
        status, headers, body = _raw(server.port, head, b'{"changes": [')  # 50 MB announced, 13 bytes sent
    assert status == 413 and body["code"] == "payload_too_large"
    assert "1048576 bytes" in body["detail"] and "GRIDMAP_MAX_BODY_BYTES" in body["detail"]
    assert headers["connection"] == "close"


def test_chunked_body_counted_and_refused_at_the_limit(clean_db, database_url):
    settings = Settings(database_url=database_url, tiles="none", max_body_bytes=4096)
    chunk = b"1000\r\n" + b" " * 4096 + b"\r\n"  # 4 kB chunks, and the body never ends
    with ServerThread(settings) as server:
        head = (
            b"POST /coverage/scenario HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        status, _, body = _raw(server.port, head, chunk * 2)
    assert status == 413 and "4096 bytes" in body["detail"]


def test_bodies_up_to_the_limit_reach_the_endpoint(clean_db, database_url):
    settings = Settings(database_url=database_url, tiles="none", max_body_bytes=4096)

    def chunks(size: int) -> Iterator[bytes]:
        body = b'{"community_id": "not a number"}'
        yield body
        yield b" " * (size - len(body))  # JSON may end in white space

    with TestClient(create_app(settings)) as client:
        signed_in(client)
        at_limit = client.post("/grids/partition", content=chunks(4096), headers={"Content-Type": "application/json"})
        above = client.post("/grids/partition", content=chunks(4097), headers={"Content-Type": "application/json"})
        declared = client.post("/grids/partition", json={"community_id": "x" * 3000})
    assert at_limit.status_code == 422 and "community_id" in at_limit.json()["detail"]  # the replayed body was read
    assert above.status_code == 413
    assert declared.status_code == 422


def test_default_limit_holds_the_largest_legitimate_body():
    """The largest body an endpoint accepts: a /coverage/scenario of 50 changes with long ids (the POST bodies are
    /coverage/siting, /coverage/scenario and /grids/partition; layers are imported by the CLI)."""
    change = {
        "action": "add",
        "service_type": "elderly_care",
        "service_point_id": "x" * 64,
        "lon": 116.123456789012,
        "lat": 39.123456789012,
    }
    body = {"changes": [change] * 50, "profile": "standard", "level": 15.0, "by": "community"}
    ScenarioRequest.model_validate(body)
    assert len(json.dumps(body)) * 10 < Settings().max_body_bytes


# --- 8: hosts, headers, cross-site writes ---------------------------------------------------------------------------


def test_default_hosts_served_and_others_refused(client, settings, monkeypatch):
    for host in ("testserver", "127.0.0.1:8000", "localhost", "[::1]:8000"):
        assert client.get("/health", headers={"Host": host}).status_code == 200, host
    refused = client.get("/health", headers={"Host": "attacker.example:8000"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_host"
    assert "GRIDMAP_ALLOWED_HOSTS" in refused.json()["detail"]


def test_allowed_hosts_from_the_environment(settings, monkeypatch):
    monkeypatch.setenv("GRIDMAP_ALLOWED_HOSTS", '["grid.example.org", "*.office.example"]')
    monkeypatch.setenv("GRIDMAP_HOST", "10.0.0.5")
    configured = Settings(database_url=settings.database_url, tiles="none")
    with TestClient(create_app(configured)) as other:
        served = [
            other.get("/health", headers={"Host": h}).status_code for h in ("grid.example.org", "a.office.example")
        ]
        bound = other.get("/health", headers={"Host": "10.0.0.5:8000"}).status_code
        default = other.get("/health").status_code
    assert served == [200, 200] and bound == 200 and default == 400


def test_security_headers_on_every_response(client):
    responses = [
        client.get("/health"),
        client.get("/maps/overview"),
        client.get("/docs"),
        client.get("/openapi.json"),
        client.get("/static/vendor/leaflet.js"),
        client.get("/no/such/page"),
        client.get("/health", headers={"Host": "attacker.example"}),
    ]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        csp = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp


def img_src(**settings: str) -> str:
    csp = content_security_policy(Settings(**settings))  # type: ignore[arg-type]
    return next(part for part in csp.split("; ") if part.startswith("img-src"))


def test_csp_allows_the_configured_tiles_and_nothing_else():
    assert img_src(tiles="none") == "img-src 'self' data:"
    assert img_src(tiles="openstreetmap") == "img-src 'self' data: https://tile.openstreetmap.org"
    template = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    assert img_src(tiles=template, tiles_attribution="© 某区") == (
        "img-src 'self' data: https://a.tiles.example.org https://b.tiles.example.org https://c.tiles.example.org"
    )
    assert img_src(tiles="http://10.0.0.5:8080/{z}/{x}/{y}.png", tiles_attribution="x") == (
        "img-src 'self' data: http://10.0.0.5:8080"
    )
    assert img_src(tiles="/basemap/{z}/{x}/{y}.png", tiles_attribution="x") == "img-src 'self' data:"
    assert img_src(tiles="amap") == "img-src 'self' data: " + " ".join(
        f"https://webrd0{n}.is.autonavi.com" for n in range(1, 5)
    )
    key = "0123456789abcdef0123456789abcdef"
    assert img_src(tiles="tianditu", tianditu_key=key) == "img-src 'self' data: " + " ".join(
        f"https://t{n}.tianditu.gov.cn" for n in range(8)
    )
    csp = content_security_policy(Settings(tiles="amap"))
    assert "connect-src 'self';" in csp and "autonavi" not in csp.replace(img_src(tiles="amap"), "")


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"", 415, "unsupported_media_type"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, b"force=true", 415, "unsupported_media_type"),
        ({"Content-Type": "text/plain"}, b'{"force": true}', 415, "unsupported_media_type"),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x--", 415, "unsupported_media_type"),
        ({}, b'{"force": true}', 415, "unsupported_media_type"),  # a body without a type (no-cors fetch of a Blob)
        ({"Origin": "http://attacker.example"}, b"", 403, "cross_site_request"),
        ({"Origin": "null"}, b"", 403, "cross_site_request"),
        ({"Origin": "http://testserver:8080"}, b"", 403, "cross_site_request"),
        ({"Sec-Fetch-Site": "cross-site"}, b"", 403, "cross_site_request"),
        ({"Sec-Fetch-Site": "same-site"}, b"", 403, "cross_site_request"),
    ],
)
@pytest.mark.parametrize("path", ["/centers/assign", "/coverage/refresh?force=true"])
def test_cross_site_and_form_writes_are_refused(client, path, headers, body, status, code):
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == status and response.json()["code"] == code


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"},
        {"Sec-Fetch-Site": "none"},
    ],
)
def test_same_origin_and_direct_writes_pass(client, headers):
    # an empty database: both endpoints answer 409 (nothing to compute), past the guard
    assert client.post("/centers/assign", headers=headers).status_code == 409
    siting = client.post("/coverage/siting", json={"service_type": "clinic"}, headers=headers)
    assert siting.status_code == 409 and siting.json()["code"] == "coverage_unavailable"
    assert client.get("/health", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # reads are not writes
    # the same write from another site is refused
    assert client.post("/centers/assign", headers={**headers, "Sec-Fetch-Site": "cross-site"}).status_code == 403


class _AttackerPage(http.server.BaseHTTPRequestHandler):
    """A page on another site that makes the visitor's browser post a form to gridmap."""

    target = ""

    def do_GET(self) -> None:
        page = f'<form method="post" action="{self.target}"></form><script>document.forms[0].submit()</script>'
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(page.encode())

    def log_message(self, *_: object) -> None:
        pass


@pytest.mark.browser
def test_cross_site_form_post_refused_in_chromium(settings):
    """A real browser's cross-site form POST (the page on localhost, gridmap on 127.0.0.1: another site)."""
    with ServerThread(settings) as server:
        _AttackerPage.target = f"{server.url}/centers/assign"
        attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AttackerPage)
        threading.Thread(target=attacker.serve_forever, daemon=True).start()
        try:
            with chromium_driver() as driver:
                driver.get(f"http://localhost:{attacker.server_address[1]}/")
                driver.implicitly_wait(5)
                driver.find_element("css selector", "pre")  # the JSON answer, rendered by Chromium
                answered = driver.execute_script("return document.body.innerText")
        finally:
            attacker.shutdown()
            attacker.server_close()
    assert json.loads(answered)["code"] == "cross_site_request"


@pytest.mark.browser
def test_served_pages_work_under_their_csp(settings, engine):
    """The overview map (local Leaflet, inline scripts, OSM tiles) and the Swagger UI under the CSP: no violation
    reported, the map drawn, the tiles requested, the API operations listed."""
    osm = Settings(database_url=settings.database_url, tiles="openstreetmap")
    with ServerThread(osm) as server, chromium_driver() as driver:
        browser_sign_in(driver, server.url, engine)
        driver.get(f"{server.url}/maps/overview")
        driver.implicitly_wait(5)
        driver.find_element("css selector", ".leaflet-container")
        tiles = driver.execute_script(
            "return Array.from(document.querySelectorAll('img.leaflet-tile')).map(i => i.src)"
        )
        map_log = driver.get_log("browser")
        driver.get(f"{server.url}/docs")
        operations = driver.find_elements("css selector", ".opblock")
        docs_errors = js_errors(driver)
        csp = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        csp.request("GET", "/maps/overview")
        header = csp.getresponse().getheader("Content-Security-Policy")
        csp.close()
    violations = [e for e in map_log if "Content Security Policy" in e.get("message", "")]
    assert header and "https://tile.openstreetmap.org" in header
    assert violations == [] and docs_errors == []
    assert tiles and all(src.startswith("https://tile.openstreetmap.org/") for src in tiles)
    assert len(operations) >= 4
