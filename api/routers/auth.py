"""Sign-in for programs (OAuth2 password flow): access tokens, refresh tokens, sign-out, and who am I.

A refused sign-in is 401 "wrong login or password" whatever the reason, and 429 with Retry-After once the login or
the address has failed too often, whether the login exists or not."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api.accounts.sessions import Issued, refresh, sign_in, sign_out
from api.accounts.tokens import Keys, access_token, csrf_token
from api.deps import CSRF_COOKIE, SESSION_COOKIE, AuthDep, EngineDep, KeysDep, SettingsDep
from api.settings import Settings

router = APIRouter(tags=["auth 登录"])


class TokenResponse(BaseModel):
    access_token: str = Field(description="Send as Authorization: Bearer …; valid for expires_in seconds")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid (at most 900)")
    refresh_token: str = Field(description="For POST /auth/refresh: one use, replaced by a new one each time")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=200)


class ScopeOut(BaseModel):
    level: Literal["street", "community", "grid"]
    code: str


class Me(BaseModel):
    login: str
    role: str
    scopes: list[ScopeOut]
    center_household_id: int | None = None
    csrf_token: str | None = Field(
        default=None, description="Signed in by the session cookie: send as X-CSRF-Token on every write"
    )


def client_of(request: Request) -> tuple[str, str | None]:
    """The address the limits count by and the user agent kept with the session (behind a proxy, the proxy's
    address: every user then shares the per-address limit)."""
    return (request.client.host if request.client else "unknown"), request.headers.get("user-agent")


def _tokens(issued: Issued, keys: Keys, settings: Settings) -> TokenResponse:
    token, lifetime = access_token(keys, settings, user_id=issued.user_id, role=issued.role, family_id=issued.family_id)
    return TokenResponse(access_token=token, expires_in=lifetime, refresh_token=issued.token)


@router.post("/auth/token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    keys: KeysDep,
) -> TokenResponse:
    """Sign in with form fields `username` and `password` (application/x-www-form-urlencoded)."""
    address, agent = client_of(request)
    issued = sign_in(
        engine, settings, login=form.username, password=form.password, address=address, user_agent=agent, kind="refresh"
    )
    return _tokens(issued, keys, settings)


@router.post("/auth/refresh")
def refresh_tokens(
    body: RefreshRequest, request: Request, engine: EngineDep, settings: SettingsDep, keys: KeysDep
) -> TokenResponse:
    """A new access token and a new refresh token for a refresh token, which is used up. Presenting a used one
    again ends the whole session."""
    address, agent = client_of(request)
    issued = refresh(engine, settings, body.refresh_token, address=address, user_agent=agent)
    return _tokens(issued, keys, settings)


@router.post("/auth/logout", status_code=204)
def logout(auth: AuthDep, engine: EngineDep) -> Response:
    """End the session of the bearer token or the cookie (with X-CSRF-Token): its refresh tokens and access tokens
    stop working at once."""
    sign_out(engine, auth.family_id)
    response = Response(status_code=204)
    if auth.via == "cookie":
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me")
def me(auth: AuthDep, keys: KeysDep) -> Me:
    """The signed-in user: login, role, scopes (never the password hash)."""
    principal = auth.principal
    return Me(
        login=principal.login,
        role=principal.role,
        scopes=[ScopeOut(level=level, code=code) for level, code in principal.scopes],  # type: ignore[arg-type]
        center_household_id=principal.center_household_id,
        csrf_token=csrf_token(keys, "session", auth.session_hash) if auth.session_hash else None,
    )
