"""Accounts: users, their scopes, sign-in sessions and failed sign-ins (tables of migration 0006).

Logins are compared without case (`lower(login)`, the unique index). Tokens arrive here only as SHA-256 hashes and
passwords only as argon2 hashes."""

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, Row, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TEXT

Scope = tuple[str, str]

# A community's code is unique only with its street's in front (the sample and most imports store 3 digits).
COMMUNITY_FULL_CODE = "CASE WHEN length(c.code) = 3 AND s.code IS NOT NULL THEN s.code || c.code ELSE c.code END"
_SCOPE_CODES = {
    "street": "SELECT code FROM streets WHERE code = ANY(:codes)",
    "community": f"SELECT {COMMUNITY_FULL_CODE} FROM communities c LEFT JOIN streets s ON s.id = c.street_id "
    f"WHERE {COMMUNITY_FULL_CODE} = ANY(:codes)",
    "grid": "SELECT code FROM grids WHERE code = ANY(:codes)",
}
_SCOPES = "COALESCE((SELECT array_agg(sc.level || ':' || sc.code ORDER BY sc.level, sc.code) FROM user_scopes sc "
_SCOPES += "WHERE sc.user_id = u.id), '{}') AS scopes"
_PRINCIPAL = f"u.id AS user_id, u.login, u.role, u.center_household_id, u.can_unmask, {_SCOPES}"


# --- users and scopes ----------------------------------------------------------------------------------------------


def create_user(
    conn: Connection, *, login: str, password_hash: str, role: str, center_household_id: int | None
) -> int | None:
    """The new user's id, or None when the login is taken (in any case)."""
    return conn.scalar(
        text(
            "INSERT INTO users (login, password_hash, role, center_household_id) "
            "VALUES (:login, :hash, :role, :center) ON CONFLICT ((lower(login))) DO NOTHING RETURNING id"
        ),
        {"login": login, "hash": password_hash, "role": role, "center": center_household_id},
    )


def replace_scopes(conn: Connection, user_id: int, scopes: Sequence[Scope]) -> None:
    conn.execute(text("DELETE FROM user_scopes WHERE user_id = :id"), {"id": user_id})
    if scopes:
        conn.execute(
            text("INSERT INTO user_scopes (user_id, level, code) VALUES (:id, :level, :code)"),
            [{"id": user_id, "level": level, "code": code} for level, code in scopes],
        )


def unknown_scopes(conn: Connection, scopes: Sequence[Scope]) -> list[Scope]:
    """The scopes whose code names no stored place of their level (a community by its full 12-digit code)."""
    unknown = []
    for level, sql in _SCOPE_CODES.items():
        codes = [code for lvl, code in scopes if lvl == level]
        if codes:
            query = text(sql).bindparams(bindparam("codes", type_=ARRAY(TEXT)))
            found = set(conn.scalars(query, {"codes": codes}))
            unknown += [(level, code) for code in codes if code not in found]
    return unknown


def center_household_exists(conn: Connection, center_household_id: int) -> bool:
    sql = "SELECT EXISTS (SELECT 1 FROM center_households WHERE id = :id)"
    return bool(conn.scalar(text(sql), {"id": center_household_id}))


def find_user(conn: Connection, login: str, *, for_update: bool = False) -> Row | None:
    """id, login, password_hash, role, disabled of the user with this login (any case), or None."""
    sql = "SELECT id, login, password_hash, role, disabled FROM users WHERE lower(login) = lower(:login)"
    return conn.execute(text(sql + (" FOR UPDATE" if for_update else "")), {"login": login}).first()


def list_users(conn: Connection) -> list[Row]:
    """login, role, disabled, scopes ('level:code' strings) and center_household_id of every user, by login."""
    sql = f"SELECT u.login, u.role, u.disabled, u.center_household_id, {_SCOPES} FROM users u ORDER BY lower(u.login)"
    return list(conn.execute(text(sql)))


def update_user(conn: Connection, user_id: int, *, role: str, center_household_id: int | None) -> None:
    sql = "UPDATE users SET role = :role, center_household_id = :center WHERE id = :id"
    conn.execute(text(sql), {"id": user_id, "role": role, "center": center_household_id})


def set_disabled(conn: Connection, user_id: int, disabled: bool) -> None:
    conn.execute(text("UPDATE users SET disabled = :disabled WHERE id = :id"), {"id": user_id, "disabled": disabled})


def set_password(conn: Connection, user_id: int, password_hash: str, *, changed: bool = True) -> None:
    """A new hash; `changed=False` for the same password hashed with today's parameters."""
    sql = "UPDATE users SET password_hash = :hash" + (", password_changed_at = now()" if changed else "")
    conn.execute(text(sql + " WHERE id = :id"), {"id": user_id, "hash": password_hash})


def first_places(conn: Connection) -> Row | None:
    """The first grid (by id) with its community's full code, its street's code, and one of its 中心户 (or None):
    places for the demo's accounts, each inside the one above it."""
    sql = f"""
        SELECT g.code AS grid, {COMMUNITY_FULL_CODE} AS community, s.code AS street,
               (SELECT ch.id FROM center_households ch JOIN households h ON h.id = ch.household_id
                WHERE h.grid_id = g.id ORDER BY ch.id LIMIT 1) AS center_household_id
        FROM grids g JOIN communities c ON c.id = g.community_id JOIN streets s ON s.id = c.street_id
        ORDER BY g.id LIMIT 1"""
    return conn.execute(text(sql)).first()


# --- sessions ------------------------------------------------------------------------------------------------------


def create_session(
    conn: Connection,
    *,
    user_id: int,
    family_id: uuid.UUID,
    kind: str,
    token_hash: bytes,
    lifetime: timedelta,
    user_agent: str | None,
    address: str | None,
) -> int:
    sql = (
        "INSERT INTO auth_sessions (user_id, family_id, kind, token_hash, expires_at, user_agent, address) "
        "VALUES (:user_id, :family, :kind, :hash, now() + :lifetime, :agent, :address) RETURNING id"
    )
    params = {"user_id": user_id, "family": family_id, "kind": kind, "hash": token_hash, "lifetime": lifetime}
    # the user's sessions expired a day ago and more go on the way: their tokens are refused anyway
    expired = "DELETE FROM auth_sessions WHERE user_id = :user_id AND expires_at < now() - interval '1 day'"
    conn.execute(text(expired), {"user_id": user_id})
    return conn.scalar(text(sql), {**params, "agent": user_agent, "address": address})


def session_for_update(conn: Connection, token_hash: bytes) -> Row | None:
    """id, user_id, family_id, kind, revoked (bool), expired (bool) and the user's disabled, login and role of the
    session with this token hash, locked so that two refreshes of one token cannot both succeed."""
    sql = """
        SELECT s.id, s.user_id, s.family_id, s.kind, s.revoked_at IS NOT NULL AS revoked,
               s.expires_at <= now() AS expired, u.disabled, u.login, u.role
        FROM auth_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = :hash FOR UPDATE OF s"""
    return conn.execute(text(sql), {"hash": token_hash}).first()


def revoke_session(conn: Connection, session_id: int) -> None:
    sql = "UPDATE auth_sessions SET revoked_at = now() WHERE id = :id AND revoked_at IS NULL"
    conn.execute(text(sql), {"id": session_id})


def revoke_family(conn: Connection, family_id: uuid.UUID) -> int:
    sql = "UPDATE auth_sessions SET revoked_at = now() WHERE family_id = :family AND revoked_at IS NULL"
    return conn.execute(text(sql), {"family": family_id}).rowcount


def revoke_user_sessions(conn: Connection, user_id: int) -> int:
    sql = "UPDATE auth_sessions SET revoked_at = now() WHERE user_id = :id AND revoked_at IS NULL"
    return conn.execute(text(sql), {"id": user_id}).rowcount


def principal_by_family(conn: Connection, user_id: int, family_id: uuid.UUID) -> Row | None:
    """The enabled user of an access token whose session (family) is still live; None otherwise."""
    sql = f"""
        SELECT {_PRINCIPAL} FROM users u
        WHERE u.id = :id AND NOT u.disabled AND EXISTS (
            SELECT 1 FROM auth_sessions s WHERE s.family_id = :family AND s.user_id = u.id
            AND s.revoked_at IS NULL AND s.expires_at > now())"""
    return conn.execute(text(sql), {"id": user_id, "family": family_id}).first()


def principal_by_session(conn: Connection, token_hash: bytes, kind: str) -> Row | None:
    """The enabled user of a live session of `kind` with this token hash, with the session's id and family."""
    sql = f"""
        SELECT {_PRINCIPAL}, s.id AS session_id, s.family_id FROM auth_sessions s JOIN users u ON u.id = s.user_id
        WHERE s.token_hash = :hash AND s.kind = :kind AND s.revoked_at IS NULL AND s.expires_at > now()
        AND NOT u.disabled"""
    return conn.execute(text(sql), {"hash": token_hash, "kind": kind}).first()


# --- failed sign-ins -----------------------------------------------------------------------------------------------

LOGIN_KEY = "lower(left(:login, 128))"  # how a typed login is counted (case-blind, bounded)
_FAILURE_COLUMNS = {"login": LOGIN_KEY, "address": ":address"}


def lock_login(conn: Connection, login: str) -> None:
    """Serialise sign-ins of one login until the transaction ends, so that the per-login limit is exact even when
    several server processes are tried at once."""
    sql = f"SELECT pg_advisory_xact_lock(hashtextextended('gridmap sign-in ' || {LOGIN_KEY}, 0))"
    conn.execute(text(sql), {"login": login})


def seconds_until_allowed(conn: Connection, by: str, value: str, *, window: timedelta, limit: int) -> int | None:
    """With `limit` failures or more by this login or address within `window`: seconds until the oldest of the last
    `limit` leaves the window; None when under the limit."""
    sql = f"""
        SELECT ceil(extract(epoch FROM at + :window - now()))::int FROM sign_in_failures
        WHERE {by} = {_FAILURE_COLUMNS[by]} AND at > now() - :window ORDER BY at DESC OFFSET :skip LIMIT 1"""
    return conn.scalar(text(sql), {by: value, "window": window, "skip": limit - 1})


def record_failure(conn: Connection, login: str, address: str, *, window: timedelta) -> None:
    """One failed sign-in; failures that have left the window are dropped on the way (the `at` index)."""
    conn.execute(text("DELETE FROM sign_in_failures WHERE at < now() - :window"), {"window": window})
    sql = f"INSERT INTO sign_in_failures (login, address) VALUES ({LOGIN_KEY}, :address)"
    conn.execute(text(sql), {"login": login, "address": address})


def clear_failures(conn: Connection, login: str) -> None:
    """A successful sign-in forgets the login's failures (not the address's: one address may try many logins)."""
    conn.execute(text(f"DELETE FROM sign_in_failures WHERE login = {LOGIN_KEY}"), {"login": login})


def set_can_unmask(conn: Connection, user_id: int, allowed: bool) -> None:
    """Grant or take back the permission to read residents' data unmasked (a planner never holds it)."""
    conn.execute(text("UPDATE users SET can_unmask = :allowed WHERE id = :id"), {"id": user_id, "allowed": allowed})


def principal_by_login(conn: Connection, login: str) -> Row | None:
    """The enabled user with this login (any case), as a principal row (the CLI draws a user's own map)."""
    sql = f"SELECT {_PRINCIPAL} FROM users u WHERE lower(u.login) = lower(:login) AND NOT u.disabled"
    return conn.execute(text(sql), {"login": login}).first()
