"""Managing accounts (the CLI and the demo): each change checked in full, then stored in one transaction, so a
refused change stores nothing."""

from dataclasses import dataclass

from api.accounts.passwords import hash_password
from api.accounts.roles import Scope, check_login, check_scopes, parse_scope
from api.errors import AccountError, DuplicateLogin, UnknownLogin
from api.storage import SYSTEM, Connection, Engine, transaction
from api.storage import accounts as db


@dataclass(frozen=True)
class Account:
    """A user as `gridmap users list` shows it (never the password hash)."""

    login: str
    role: str
    scopes: tuple[str, ...]  # 'level:code'
    disabled: bool
    center_household_id: int | None


def _check_places(conn: Connection, scopes: list[Scope], center_household_id: int | None) -> None:
    unknown = db.unknown_scopes(conn, scopes)
    if unknown:
        names = ", ".join(f"{level}:{code}" for level, code in unknown)
        hint = (
            " (a community by its full 12-digit code: street code + community code)"
            if any(level == "community" for level, _ in unknown)
            else ""
        )
        raise AccountError(f"no stored place has the code of {names}{hint}")
    if center_household_id is not None and not db.center_household_exists(conn, center_household_id):
        raise AccountError(f"no stored 中心户 (center household) has id {center_household_id}")


def add_user(
    engine: Engine,
    login: str,
    *,
    role: str,
    scopes: list[str],
    password: str,
    center_household_id: int | None = None,
) -> int:
    """Create an account; the id. Refused (AccountError, nothing stored): a bad login, role, scope or password, a
    scope or 中心户 not stored, a login taken in any case (DuplicateLogin)."""
    login = check_login(login)
    parsed = check_scopes(role, [parse_scope(s) for s in scopes], center_household_id)
    password_hash = hash_password(password)
    with transaction(engine, scope=SYSTEM) as conn:
        _check_places(conn, parsed, center_household_id)
        user_id = db.create_user(
            conn, login=login, password_hash=password_hash, role=role, center_household_id=center_household_id
        )
        if user_id is None:
            raise DuplicateLogin(f"the login {login!r} is taken (logins are compared without case)")
        db.replace_scopes(conn, user_id, parsed)
    return user_id


def put_user(
    engine: Engine,
    login: str,
    *,
    role: str,
    scopes: list[Scope],
    password: str,
    center_household_id: int | None = None,
) -> None:
    """Create the account, or make an existing one so (role, scopes, password, enabled) and end its sessions:
    the demo's accounts, which a second `gridmap demo` resets instead of refusing."""
    login = check_login(login)
    parsed = check_scopes(role, scopes, center_household_id)
    password_hash = hash_password(password)
    with transaction(engine, scope=SYSTEM) as conn:
        _check_places(conn, parsed, center_household_id)
        user = db.find_user(conn, login, for_update=True)
        if user is None:
            user_id = db.create_user(
                conn, login=login, password_hash=password_hash, role=role, center_household_id=center_household_id
            )
            if user_id is None:  # created by someone else since find_user
                raise DuplicateLogin(f"login {login!r} was taken meanwhile; run again")
        else:
            user_id = user.id
            db.update_user(conn, user_id, role=role, center_household_id=center_household_id)
            db.set_password(conn, user_id, password_hash)
            db.set_disabled(conn, user_id, False)
            db.revoke_user_sessions(conn, user_id)
        db.replace_scopes(conn, user_id, parsed)


def _existing(conn: Connection, login: str) -> int:
    user = db.find_user(conn, login, for_update=True)
    if user is None:
        raise UnknownLogin(f"no account has the login {login[:80]!r}")
    return user.id


def disable_user(engine: Engine, login: str) -> int:
    """Disable the account and end its sessions at once; how many sessions were ended."""
    with transaction(engine, scope=SYSTEM) as conn:
        user_id = _existing(conn, login)
        db.set_disabled(conn, user_id, True)
        return db.revoke_user_sessions(conn, user_id)


def reset_password(engine: Engine, login: str, password: str) -> int:
    """A new password for the account, whose sessions end; how many were ended."""
    password_hash = hash_password(password)
    with transaction(engine, scope=SYSTEM) as conn:
        user_id = _existing(conn, login)
        db.set_password(conn, user_id, password_hash)
        return db.revoke_user_sessions(conn, user_id)


def allow_unmasked(engine: Engine, login: str, allowed: bool = True) -> None:
    """Grant (or take back) the permission to read residents' data unmasked; a planner cannot hold it."""
    with transaction(engine, scope=SYSTEM) as conn:
        user_id = _existing(conn, login)
        user = db.find_user(conn, login)
        if allowed and user is not None and user.role == "planner":
            raise AccountError("a planner sees aggregates, not people: no unmasked reads")
        db.set_can_unmask(conn, user_id, allowed)


def list_accounts(engine: Engine) -> list[Account]:
    with transaction(engine, scope=SYSTEM) as conn:
        rows = db.list_users(conn)
    return [Account(r.login, r.role, tuple(r.scopes), r.disabled, r.center_household_id) for r in rows]


def first_places(engine: Engine) -> dict | None:
    """The places of the demo's accounts (see api.storage.accounts.first_places), or None without grids."""
    with transaction(engine, scope=SYSTEM) as conn:
        row = db.first_places(conn)
    return row._asdict() if row is not None else None
