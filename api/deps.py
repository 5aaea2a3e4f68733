"""Request dependencies: one engine per app (created in the lifespan), a connection per request, and who the request
is for (`current_principal`, `require_role`)."""

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from api.accounts.roles import Principal
from api.accounts.sessions import Authenticated, from_access_token, from_session_cookie
from api.accounts.tokens import Keys, csrf_matches
from api.errors import Forbidden, NotAuthenticated, SignInFirst
from api.settings import Settings
from api.storage import NOBODY, SYSTEM, Connection, Engine, connect, user_scope

SESSION_COOKIE = "gridmap_session"  # HttpOnly: the browser session's opaque token
CSRF_COOKIE = "gridmap_csrf"  # readable by the page's scripts, to send back as X-CSRF-Token
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Reads "Authorization: Bearer …" and gives /docs its sign-in dialog; None when absent (the cookie may serve).
bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)

# Dependencies that only read app state or check a role are `async def`: FastAPI runs a plain `def` dependency in
# its thread pool, one hand-over per dependency and request, which under load costs more than the work itself.
# Those that talk to the database stay `def` (they block).


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_keys(request: Request) -> Keys:
    return request.app.state.keys


def open_connection(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """A connection for endpoints open to anyone (health): it reads no personal row (a database that does not
    answer: 503)."""
    with connect(engine, scope=NOBODY) as conn:
        yield conn


OpenConnectionDep = Annotated[Connection, Depends(open_connection)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
KeysDep = Annotated[Keys, Depends(get_keys)]


def current_auth(
    request: Request, engine: EngineDep, keys: KeysDep, token: Annotated[str | None, Depends(bearer)]
) -> Authenticated:
    """The bearer access token if one is sent, else the session cookie; the user is loaded on its own short
    connection (not the request's, which row-level security will set up for this user). A write authenticated by
    the cookie must carry the session's CSRF token in X-CSRF-Token: a browser sends the cookie with any request."""
    if token:
        return from_access_token(engine, keys, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("sign in: Authorization: Bearer <access token> from POST /auth/token, or /login")
    auth = from_session_cookie(engine, cookie)
    if request.method in UNSAFE_METHODS and not csrf_matches(
        keys, "session", auth.session_hash or b"", request.headers.get(CSRF_HEADER)
    ):
        raise Forbidden(f"a change made with the session cookie needs the {CSRF_HEADER} header (GET /me gives it)")
    return auth


AuthDep = Annotated[Authenticated, Depends(current_auth)]


async def current_principal(auth: AuthDep) -> Principal:
    """Who the request is for (401 without valid credentials)."""
    return auth.principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def get_connection(engine: EngineDep, principal: PrincipalDep) -> Iterator[Connection]:
    """The request's connection, reading under the signed-in user's scope: row-level security lets through the
    personal rows of their places only (docs/design.md §6)."""
    with connect(engine, scope=user_scope(principal.user_id)) as conn:
        yield conn


ConnectionDep = Annotated[Connection, Depends(get_connection)]


def aggregates_connection(engine: EngineDep, principal: PrincipalDep) -> Iterator[Connection]:
    """A connection reading every row, for endpoints that return no personal data: counts of households and
    residents per building, grid or group, layers of places. Only for signed-in users of a role the router
    admits; the endpoint, not row-level security, keeps personal rows out of its answer."""
    with connect(engine, scope=SYSTEM) as conn:
        yield conn


AggregatesConnectionDep = Annotated[Connection, Depends(aggregates_connection)]


def page_auth(
    request: Request, engine: EngineDep, keys: KeysDep, token: Annotated[str | None, Depends(bearer)]
) -> Authenticated:
    """`current_auth` for the map pages: a browser that is not signed in is sent to /login and back (303)."""
    try:
        return current_auth(request, engine, keys, token)
    except NotAuthenticated as exc:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInFirst(path) from exc


def require_page_role(*roles: str) -> Callable[[Authenticated], Awaitable[Principal]]:
    """`require_role` for the map pages (see `page_auth`)."""

    async def check(auth: Annotated[Authenticated, Depends(page_auth)]) -> Principal:
        return _admit(auth.principal, roles)

    return check


def _admit(principal: Principal, roles: tuple[str, ...]) -> Principal:
    if principal.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}; signed in as {principal.role}")
    return principal


def require_role(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only these roles (403 for the others), e.g.
    ``principal: Annotated[Principal, Depends(require_role("admin", "street_leader"))]``."""

    async def check(principal: PrincipalDep) -> Principal:
        return _admit(principal, roles)

    return check
