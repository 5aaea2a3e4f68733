"""ASGI middleware (pure ASGI classes): request ids, unexpected errors, allowed hosts, cross-site writes, body size
and security headers. `install_middleware` puts them in their order; refusals are ``{code, detail}`` like every
other error (api.handlers).

Outermost first:

1. `RequestId`: a sane incoming ``X-Request-ID`` or a new one, in ``request.state.request_id`` and the response.
2. `SecurityHeaders`: CSP, X-Frame-Options and X-Content-Type-Options on every response, errors included.
3. `UnexpectedErrors`: answers an exception with the app's 500 handler and does not re-raise it.
4. `AllowedHosts`: the Host header must be one of ``allowed_hosts`` (DNS rebinding).
5. `SameOriginWrites`: POST/PUT/PATCH/DELETE only as JSON (but the sign-in forms) and not from another site (CSRF).
6. `BodyLimit`: bodies above ``max_body_bytes`` get 413 before they are read.
"""

import itertools
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.settings import Settings

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]

# Letters, digits and . _ : - (a UUID, nginx's $request_id, a prefixed id): nothing that could forge a log line.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_MEDIA_TYPE = re.compile(r"application/([a-z0-9.+-]+\+)?json", re.IGNORECASE)
# The writes that are forms by their nature (OAuth2's password flow, the browser's sign-in and sign-out); they check
# a CSRF token of their own (api.routers.login) or set no cookie (/auth/token). Other sites are refused all the same.
FORM_PATHS = frozenset({"/auth/token", "/login", "/logout"})
# Open311 GeoReport v2 posts forms by its spec; they are signed by the partner's api_key, never by a cookie.
FORM_PREFIXES = ("/open311/",)
FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Raw uploads: PUT /photos/{sha256} takes the image itself, checked by its endpoint (type, hash, size). A browser
# sends a PUT, or a body of these types, to another site only after a CORS preflight gridmap never grants.
RAW_UPLOAD_PREFIXES = ("/photos/",)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, detail: str) -> None:
    """A ``{code, detail}`` refusal (under /open311/, the GeoReport v2 form, as api.handlers answers there); the
    connection is closed after it, since the body may be left unread."""
    body: object = {"code": code, "detail": detail}
    if scope.get("path", "").startswith(FORM_PREFIXES):
        body = [{"code": status, "description": detail}]
    response = JSONResponse(body, status_code=status, headers={"Connection": "close"})
    await response(scope, receive, send)


class RequestId:
    """Names each request, so that a client's report and the server's log line of a 500 can be matched.

    Ids are a random prefix per process and a counter: unique, and cheaper than a uuid4 per request (which reads
    the system's random source each time)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        prefix = uuid.uuid4().hex[:12]
        self._ids = (f"{prefix}-{n}" for n in itertools.count(1))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if SANE_REQUEST_ID.fullmatch(incoming) else next(self._ids)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class UnexpectedErrors:
    """Answers an unhandled exception with `handler` (api.handlers' ``unexpected``: logs type, route and request id)
    and keeps it from the server.

    Starlette's ServerErrorMiddleware re-raises after its handler has answered; uvicorn then logs the traceback,
    whose SQL parameters can hold residents' data, and drops the keep-alive connection without
    ``Connection: close``, so the client's next request on it fails. Placed inside ServerErrorMiddleware, this
    catches the exception first.
    """

    def __init__(self, app: ASGIApp, handler: ErrorHandler) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - every error becomes a logged 500, never a traceback in the log
            response = await self.handler(Request(scope, receive), exc)
            if not started:  # else the response is cut short: the server closes the connection, without traceback
                await response(scope, receive, send)


def _split_host(value: str) -> tuple[str, str]:
    """``host[:port]`` (IPv6 in brackets) as lower-case host without brackets, and the port ('' if none)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = value.partition(":")
    return host, port


def _host_allowed(host: str, allowed: Iterable[str]) -> bool:
    for pattern in allowed:
        pattern = pattern.strip().lower().strip("[]")
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
    return False


class AllowedHosts:
    """Refuses a Host header not in the allowed list (400), so that a page on a name the attacker controls, resolved
    to this server (DNS rebinding), cannot read it. Like Starlette's TrustedHostMiddleware ('*' and '*.example.org'
    patterns), but it answers with ``{code, detail}`` and understands IPv6 hosts."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed_hosts = list(allowed_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host, _ = _split_host(Headers(scope=scope).get("host", ""))
        if host and _host_allowed(host, self.allowed_hosts):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        detail = "this Host header is not served here; add the server's name to GRIDMAP_ALLOWED_HOSTS"
        await _refuse(scope, receive, send, 400, "invalid_host", detail)


def _same_origin(origin: str, host_header: str) -> bool:
    """The Origin header names this server (the Host header's host and port, default ports filled in)."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False  # includes "null": sandboxed frames, file: pages, some redirects
    default = "443" if parts.scheme == "https" else "80"
    try:
        origin_port = str(parts.port or default)
    except ValueError:
        return False
    host, port = _split_host(host_header)
    return (parts.hostname, origin_port) == (host, port or default)


class SameOriginWrites:
    """Refuses writes another site could make a browser send (CSRF): without CORS a page elsewhere can still send a
    "simple" POST (an HTML form, a no-cors fetch) with a form or text body, or with no body at all.

    On POST, PUT, PATCH and DELETE: a body, or any declared Content-Type, must be JSON (415); ``Sec-Fetch-Site``
    must not say cross-site or same-site, and an ``Origin`` header must name this server (403). Requests without
    these headers (curl, scripts, the CLI's clients) pass. `FORM_PATHS` and `FORM_PREFIXES` take form bodies too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        fetch_site = headers.get("sec-fetch-site", "").lower()
        origin = headers.get("origin")
        if fetch_site in ("cross-site", "same-site") or (
            origin is not None and not _same_origin(origin, headers.get("host", ""))
        ):
            detail = "requests from another site may not change data here; use gridmap's own pages or the API directly"
            await _refuse(scope, receive, send, 403, "cross_site_request", detail)
            return
        content_type = headers.get("content-type")
        media_type = (content_type or "").split(";")[0].strip().lower()
        form_path = scope["path"] in FORM_PATHS or scope["path"].startswith(FORM_PREFIXES)
        if form_path and media_type in FORM_MEDIA_TYPES:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "PUT" and scope["path"].startswith(RAW_UPLOAD_PREFIXES):
            await self.app(scope, receive, send)
            return
        has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
        if (content_type is not None or has_body) and not JSON_MEDIA_TYPE.fullmatch(media_type):
            detail = f"{scope['method']} bodies must be JSON: send Content-Type: application/json, or no body"
            await _refuse(scope, receive, send, 415, "unsupported_media_type", detail)
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuses a body larger than `max_bytes` (413) without reading it: a declared Content-Length is checked up
    front; a chunked body is read here up to the limit, and handed on only when it fits. `uploads` give other
    limits to PUTs under some path prefixes (photos: GRIDMAP_PHOTO_MAX_BYTES), whose endpoints read the body as a
    stream under the same cap."""

    def __init__(self, app: ASGIApp, max_bytes: int, uploads: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.uploads = uploads or {}

    def _limit(self, scope: Scope) -> tuple[int, str]:
        if scope["method"] == "PUT":
            for prefix, limit in self.uploads.items():
                if scope["path"].startswith(prefix):
                    return limit
        return self.max_bytes, "GRIDMAP_MAX_BODY_BYTES"

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit, setting = self._limit(scope)
        detail = f"the request body is larger than the limit of {limit} bytes ({setting})"
        await _refuse(scope, receive, send, 413, "payload_too_large", detail)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        max_bytes, _ = self._limit(scope)
        if length is not None:  # the server holds the body to this length (and refuses a malformed one)
            if length.isdigit() and int(length) > max_bytes:
                await self._too_large(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if "transfer-encoding" not in headers:  # HTTP/1.1: no body
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > max_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body_sent = False

        async def replay() -> Message:
            nonlocal body_sent
            if body_sent:
                return await receive()
            body_sent = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


def content_security_policy(settings: Settings) -> str:
    """What the served pages need: scripts, styles and images from this server, inline scripts and styles (folium's
    maps and the Swagger UI page are built of them), data: images (Leaflet, Swagger UI), the tile server; no
    frames, plugins or foreign form targets. Tiles only from the hosts of the configured base map (e.g. AMap's
    webrd01-04, Tianditu's t0-t7), nothing else; gridmap's own vector tiles come from 'self'."""
    tiles = " ".join(settings.base_map.sources)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline'",
            "style-src 'self' 'unsafe-inline'",
            " ".join(["img-src 'self' data:", *([tiles] if tiles else [])]),
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """CSP, X-Frame-Options and X-Content-Type-Options on every response (a header the app set is kept)."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": csp,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def allowed_hosts(settings: Settings) -> list[str]:
    """``allowed_hosts``, and the address the server is told to bind to (unless it is every address)."""
    bound = [] if settings.host in ("", "0.0.0.0", "::") else [settings.host]
    return [*settings.allowed_hosts, *bound]


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Add the middleware above, outermost first (Starlette runs the last added outermost). Call after
    api.handlers.install_error_handlers: its Exception handler answers unexpected errors."""
    layers: list[tuple[type, dict]] = [
        (RequestId, {}),
        (SecurityHeaders, {"csp": content_security_policy(settings)}),
        (UnexpectedErrors, {"handler": app.exception_handlers[Exception]}),
        (AllowedHosts, {"allowed_hosts": allowed_hosts(settings)}),
        (SameOriginWrites, {}),
        (
            BodyLimit,
            {
                "max_bytes": settings.max_body_bytes,
                "uploads": {"/photos/": (settings.photo_max_bytes, "GRIDMAP_PHOTO_MAX_BYTES")},
            },
        ),
    ]
    for cls, options in reversed(layers):
        app.add_middleware(cls, **options)
