"""Signing in, refreshing, signing out, and who a request is: the account logic on stored sessions.

A sign-in is one transaction per login (an advisory lock): the limits are counted, the password verified (against
a dummy hash when the login does not exist), the failure recorded or the session created. Every refusal of a
password sign-in has the same status and body, whatever the reason."""

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from api.accounts.passwords import hash_password, needs_rehash, verify_password
from api.accounts.roles import Principal
from api.accounts.tokens import Keys, new_opaque_token, read_access_token, token_hash
from api.errors import NotAuthenticated, TooManyAttempts
from api.settings import Settings
from api.storage import NOBODY, Engine, transaction
from api.storage import accounts as db

WRONG_LOGIN_OR_PASSWORD = "wrong login or password"
TOO_MANY_ATTEMPTS = "too many failed sign-ins; wait before trying again"
INVALID_REFRESH = "the refresh token is not valid or has expired; sign in again"
INVALID_SESSION = "not signed in, or the session has ended; sign in again"

SessionKind = Literal["refresh", "browser"]


@dataclass(frozen=True)
class Issued:
    """A new session: its opaque token (a refresh token, or a browser session's cookie) and who it is for."""

    token: str
    family_id: uuid.UUID
    user_id: int
    login: str
    role: str


@dataclass(frozen=True)
class Authenticated:
    """A request's principal and how it proved itself: a bearer access token or the session cookie (whose token
    hash the CSRF token is bound to)."""

    principal: Principal
    via: Literal["bearer", "cookie"]
    family_id: uuid.UUID
    session_hash: bytes | None = None


def _lifetime(settings: Settings) -> timedelta:
    return timedelta(days=settings.refresh_token_days)


def sign_in(
    engine: Engine,
    settings: Settings,
    *,
    login: str,
    password: str,
    address: str,
    user_agent: str | None,
    kind: SessionKind,
) -> Issued:
    """A new session for the right login and password. Refusals: TooManyAttempts (429) when this login or this
    address has failed too often within the window, checked before the password, known login or not;
    NotAuthenticated (401, one message) for an unknown login, a disabled account or a wrong password."""
    outcome = attempt_sign_in(
        engine, settings, login=login, password=password, address=address, user_agent=user_agent, kind=kind
    )
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def attempt_sign_in(
    engine: Engine,
    settings: Settings,
    *,
    login: str,
    password: str,
    address: str,
    user_agent: str | None,
    kind: SessionKind,
) -> Issued | NotAuthenticated | TooManyAttempts:
    """As `sign_in`, with the refusal returned rather than raised: the browser's form shows it on the page again."""
    login = unicodedata.normalize("NFC", login)
    window = timedelta(minutes=settings.sign_in_window_minutes)
    with transaction(engine, scope=NOBODY) as conn:
        db.lock_login(conn, login)
        waits = [
            db.seconds_until_allowed(conn, "login", login, window=window, limit=settings.sign_in_max_per_login),
            db.seconds_until_allowed(conn, "address", address, window=window, limit=settings.sign_in_max_per_address),
        ]
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            return TooManyAttempts(TOO_MANY_ATTEMPTS, wait)
        user = db.find_user(conn, login)
        matches = verify_password(user.password_hash if user else None, password)
        if user is None or not matches or user.disabled:
            db.record_failure(conn, login, address, window=window)  # committed: the refusal is returned
            return NotAuthenticated(WRONG_LOGIN_OR_PASSWORD)
        db.clear_failures(conn, login)
        if needs_rehash(user.password_hash):
            db.set_password(conn, user.id, hash_password(password), changed=False)
        token, family_id = new_opaque_token(), uuid.uuid4()
        db.create_session(
            conn,
            user_id=user.id,
            family_id=family_id,
            kind=kind,
            token_hash=token_hash(token),
            lifetime=_lifetime(settings),
            user_agent=(user_agent or "")[:300] or None,
            address=address,
        )
        return Issued(token, family_id, user.id, user.login, user.role)


def refresh(engine: Engine, settings: Settings, refresh_token: str, *, address: str, user_agent: str | None) -> Issued:
    """Rotate a refresh token: the old one is revoked and a new one of the same family returned. A revoked one
    presented again (stolen, or replayed) revokes its whole family: the thief and the user both sign in again."""
    issued = None
    with transaction(engine, scope=NOBODY) as conn:
        session = db.session_for_update(conn, token_hash(refresh_token))
        if session is None or session.kind != "refresh":
            pass
        elif session.revoked:
            db.revoke_family(conn, session.family_id)  # committed: the refusal is raised below
        elif not (session.expired or session.disabled):
            db.revoke_session(conn, session.id)
            token = new_opaque_token()
            db.create_session(
                conn,
                user_id=session.user_id,
                family_id=session.family_id,
                kind="refresh",
                token_hash=token_hash(token),
                lifetime=_lifetime(settings),
                user_agent=(user_agent or "")[:300] or None,
                address=address,
            )
            issued = Issued(token, session.family_id, session.user_id, session.login, session.role)
    if issued is None:
        raise NotAuthenticated(INVALID_REFRESH)
    return issued


def sign_out(engine: Engine, family_id: uuid.UUID) -> None:
    """End the session: its refresh tokens, its cookie and the access tokens issued for it stop working."""
    with transaction(engine, scope=NOBODY) as conn:
        db.revoke_family(conn, family_id)


def _principal(row) -> Principal:
    scopes = tuple(tuple(s.split(":", 1)) for s in row.scopes)
    return Principal(row.user_id, row.login, row.role, scopes, row.center_household_id, row.can_unmask)


def from_access_token(engine: Engine, keys: Keys, token: str) -> Authenticated:
    """The principal of a bearer access token, loaded now: refused when the token is invalid or expired, the account
    disabled or the session signed out."""
    user_id, family_id = read_access_token(keys, token)
    with transaction(engine, scope=NOBODY) as conn:
        row = db.principal_by_family(conn, user_id, family_id)
    if row is None:
        raise NotAuthenticated(INVALID_SESSION)
    return Authenticated(_principal(row), "bearer", family_id)


def find_session(engine: Engine, cookie: str) -> Authenticated | None:
    """The principal of a browser session cookie, loaded now; None when the session is unknown, ended or expired,
    or its account disabled."""
    hashed = token_hash(cookie)
    with transaction(engine, scope=NOBODY) as conn:
        row = db.principal_by_session(conn, hashed, "browser")
    return None if row is None else Authenticated(_principal(row), "cookie", row.family_id, hashed)


def from_session_cookie(engine: Engine, cookie: str) -> Authenticated:
    """As `find_session`, refused (NotAuthenticated) when there is none."""
    found = find_session(engine, cookie)
    if found is None:
        raise NotAuthenticated(INVALID_SESSION)
    return found
