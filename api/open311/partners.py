"""Partner apps that post requests through Open311 (a resident mini-program, a hotline's system): each has a name and
an api_key, shown once when it is made; gridmap keeps only the key's SHA-256, so a stolen database holds no key."""

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass

from api.errors import Forbidden, InvalidParameter
from api.storage import SYSTEM, Connection, Engine, transaction
from api.storage import open311 as open311_db

KEY_PREFIX = "o311_"  # tells a gridmap Open311 key apart in a config file or a leaked log
NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")


@dataclass(frozen=True)
class Partner:
    id: int
    name: str


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def add_partner(engine: Engine, name: str) -> str:
    """Make a partner and return its new api_key (not stored: only its hash is)."""
    name = name.strip()
    if not NAME.fullmatch(name):
        raise InvalidParameter("a partner's name: 1–64 characters, no control characters")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction(engine, scope=SYSTEM) as conn:
        if open311_db.add_partner(conn, name, key_hash(key)) is None:
            raise InvalidParameter(f"a partner named {name!r} exists (revoke it, or choose another name)")
    return key


def list_partners(engine: Engine) -> list[dict]:
    with transaction(engine, scope=SYSTEM) as conn:
        return open311_db.partners(conn)


def revoke_partner(engine: Engine, name: str) -> None:
    """Its key stops working at once; the requests it posted stay."""
    with transaction(engine, scope=SYSTEM) as conn:
        if not open311_db.revoke_partner(conn, name):
            if open311_db.partner_named(conn, name):
                raise InvalidParameter(f"partner {name!r}: its key is already revoked")
            raise InvalidParameter(f"no partner named {name!r}")


def partner_for_key(conn: Connection, key: str | None) -> Partner:
    """The partner whose key this is; 403 (the spec's answer) for a missing, unknown or revoked key."""
    if not key:
        raise Forbidden("api_key is required (a key issued to your app by the operator of this gridmap)")
    if len(key) > 200:
        raise Forbidden("invalid api_key")
    row = open311_db.partner_by_key_hash(conn, key_hash(key))
    if row is None:
        raise Forbidden("invalid api_key")
    if row["revoked_at"] is not None:
        raise Forbidden("this api_key has been revoked")
    return Partner(id=row["id"], name=row["name"])


def basic_password(authorization: str) -> str | None:
    """The password of an ``Authorization: Basic …`` header (the user name is ignored), where a client built on
    `requests` puts the key of a URL like https://app:KEY@host/open311/v2; None for no Basic header."""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Forbidden("invalid api_key (HTTP Basic: any user name, the api_key as password)") from None
    return decoded.partition(":")[2] or None
