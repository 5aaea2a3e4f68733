"""Request dependencies: one engine per app (created in the lifespan), a connection per request, and who the request
is for (`current_principal`, `require_role`)."""

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from api.accounts.roles import Principal
from api.accounts.sessions import Authenticated, from_access_token, from_session_cookie
from api.accounts.tokens import Keys, csrf_matches
from api.errors import Forbidden, NotAuthenticated
from api.settings import Settings
from api.storage import SYSTEM, Connection, Engine, connect

SESSION_COOKIE = "gridmap_session"  # HttpOnly: the browser session's opaque token
CSRF_COOKIE = "gridmap_csrf"  # readable by the page's scripts, to send back as X-CSRF-Token
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Reads "Authorization: Bearer …" and gives /docs its sign-in dialog; None when absent (the cookie may serve).
bearer = OAuth2PasswordBearer(tokenUrl="/auth/token", auto_error=False)


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_keys(request: Request) -> Keys:
    return request.app.state.keys


def get_connection(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """The request's connection, from storage's one door (a database that does not answer: 503)."""
    with connect(engine, scope=SYSTEM) as conn:
        yield conn


ConnectionDep = Annotated[Connection, Depends(get_connection)]
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


def current_principal(auth: AuthDep) -> Principal:
    """Who the request is for (401 without valid credentials)."""
    return auth.principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_role(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency admitting only these roles (403 for the others), e.g.
    ``principal: Annotated[Principal, Depends(require_role("admin", "street_leader"))]``."""

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}; signed in as {principal.role}")
        return principal

    return check
