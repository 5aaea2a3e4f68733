"""Tokens: the signing key, JWT access tokens, opaque refresh and session tokens (stored only hashed), CSRF tokens.

Access tokens are short (at most 15 minutes) HS256 JWTs; every request still loads the user (api.accounts.sessions),
so a disabled user or a signed-out session stops at once. Refresh and browser-session tokens are random strings
whose SHA-256 is all the database keeps."""

import hashlib
import hmac
import logging
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt

from api.errors import InsecureConfiguration, NotAuthenticated
from api.settings import MAKE_ONE, MIN_KEY_BYTES, Settings, key_weakness

logger = logging.getLogger("gridmap")

ALGORITHM = "HS256"
INVALID_TOKEN = "the access token is not valid or has expired; sign in again"


@dataclass(frozen=True)
class Keys:
    """The signing key and the CSRF key derived from it (one secret to configure, two uses kept apart)."""

    signing: bytes
    csrf: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> "Keys":
        return cls(signing=secret, csrf=hmac.new(secret, b"gridmap csrf", hashlib.sha256).digest())


def load_keys(settings: Settings) -> Keys:
    """The keys for this process. Outside development a missing, short or placeholder key stops start-up (one
    line); in development a missing key becomes a random one for this process, with a warning."""
    key = settings.secret_key.get_secret_value() if settings.secret_key else ""
    weakness = "is not set" if not key else key_weakness(key)
    if settings.environment != "development" and weakness:
        raise InsecureConfiguration(
            f"GRIDMAP_SECRET_KEY {weakness}: set it to at least {MIN_KEY_BYTES} random bytes, e.g. the output of "
            f"{MAKE_ONE} (GRIDMAP_ENVIRONMENT=production)"
        )
    if not key:
        logger.warning(
            "GRIDMAP_SECRET_KEY is not set: using a random key for this process (development only); sign-ins and "
            "tokens do not survive a restart and are not shared with other server processes"
        )
        return Keys.from_secret(secrets.token_bytes(MIN_KEY_BYTES))
    if weakness:
        logger.warning("GRIDMAP_SECRET_KEY %s; acceptable in development only", weakness)
    return Keys.from_secret(key.encode())


def access_token(keys: Keys, settings: Settings, *, user_id: int, role: str, family_id: uuid.UUID) -> tuple[str, int]:
    """A signed access token for the session `family_id` and its lifetime in seconds."""
    now = int(time.time())
    lifetime = settings.access_token_minutes * 60
    claims = {
        "sub": str(user_id),
        "role": role,
        "sid": str(family_id),
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
    }
    return jwt.encode(claims, keys.signing, algorithm=ALGORITHM), lifetime


def read_access_token(keys: Keys, token: str) -> tuple[int, uuid.UUID]:
    """The user id and session family of a valid access token; anything else (expired, tampered, another key, an
    algorithm other than HS256, 'none' included) is NotAuthenticated with one message."""
    try:
        claims = jwt.decode(
            token, keys.signing, algorithms=[ALGORITHM], options={"require": ["exp", "iat", "sub", "jti", "sid"]}
        )
        return int(claims["sub"]), uuid.UUID(str(claims["sid"]))
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise NotAuthenticated(INVALID_TOKEN) from exc


def new_opaque_token() -> str:
    """A refresh or session token: 256 random bits."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """What the database keeps of an opaque token (a fast hash suffices: the token has 256 random bits)."""
    return hashlib.sha256(token.encode()).digest()


def csrf_token(keys: Keys, purpose: str, bound_to: bytes) -> str:
    """A CSRF token bound to a session (its token hash) or to the login form's cookie: only this server can make it,
    so a value another site plants in a cookie or a form does not pass."""
    return hmac.new(keys.csrf, purpose.encode() + b"\0" + bound_to, hashlib.sha256).hexdigest()


def csrf_matches(keys: Keys, purpose: str, bound_to: bytes, given: str | None) -> bool:
    expected = csrf_token(keys, purpose, bound_to).encode()
    return bool(given) and hmac.compare_digest(expected, (given or "").encode())
