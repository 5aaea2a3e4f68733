"""Passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's second recommendation), a minimum length, and a
dummy verification for logins that do not exist so that the time taken does not tell whether one does."""

import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.errors import AccountError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # argon2 takes any length; this only stops a megabyte "password" from being hashed

_hasher = PasswordHasher()


def check_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise AccountError(f"a password has at least {MIN_LENGTH} characters; this one has {len(password)}")
    if len(password) > MAX_LENGTH:
        raise AccountError(f"a password has at most {MAX_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, with the current parameters: verifying against it costs what a real one does."""
    return _hasher.hash(secrets.token_urlsafe(32))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash`; with no hash (no such login) the same work against a dummy, and
    False. An over-long password is not hashed at all (it cannot be a stored one)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """The hash was made with other parameters than today's: store a new one at the next sign-in."""
    return _hasher.check_needs_rehash(stored_hash)
