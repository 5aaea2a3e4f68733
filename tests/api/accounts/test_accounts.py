"""The account logic: roles and their scopes, logins, passwords (argon2, rehash on sign-in), keys and CSRF tokens."""

import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr
from sqlalchemy import text

from api.accounts.passwords import hash_password, needs_rehash, verify_password
from api.accounts.roles import Principal, check_login, check_scopes, parse_scope
from api.accounts.sessions import sign_in
from api.accounts.tokens import Keys, csrf_matches, csrf_token, load_keys
from api.errors import AccountError, InsecureConfiguration
from api.settings import Settings
from tests.api.accounts.helpers import GRID, PASSWORD, add, load_places, settings_for


def test_scopes_by_role():
    assert parse_scope(" Grid:110105001001001 ") == ("grid", "110105001001001")
    assert check_scopes("planner", [("street", "1"), ("community", "2"), ("street", "1")]) == [
        ("street", "1"),
        ("community", "2"),
    ]
    assert check_scopes("admin", []) == []
    assert check_scopes("party_member", [("grid", "1")], center_household_id=7) == [("grid", "1")]
    refusals = [
        ("street_leader", [], None, "needs at least one --scope street:CODE"),
        ("community_secretary", [("grid", "1")], None, "holds community scopes"),
        ("grid_worker", [("street", "1")], None, "holds grid scopes"),
        ("admin", [("grid", "1")], None, "holds no scopes"),
        ("grid_worker", [("grid", "1")], 7, "only a party_member"),
        ("superuser", [], None, "unknown role"),
    ]
    for role, scopes, center, words in refusals:
        with pytest.raises(AccountError, match=words):
            check_scopes(role, scopes, center)
    for bad in ("grid", "grid:", ":123", "city:1", "grid:12a", "grid:١٢٣"):  # Arabic-Indic digits are not codes
        with pytest.raises(AccountError):
            parse_scope(bad)


def test_principal_codes():
    principal = Principal(1, "x", "planner", (("street", "110105001"), ("community", "110105001001")))
    assert principal.codes("street") == ("110105001",) and principal.codes("grid") == ()


def test_logins_are_data_within_limits():
    assert check_login("张三") == "张三" and check_login("<script>") == "<script>"
    assert check_login("e\u0301") == "\u00e9"  # one login however the accent was typed
    for bad in ("", "a b", "a\nb", "x" * 65, "nul\x00"):
        with pytest.raises(AccountError):
            check_login(bad)


def test_passwords():
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert verify_password(stored, PASSWORD) and not verify_password(stored, PASSWORD + "x")
    assert not verify_password(None, PASSWORD)  # no such login: the dummy hash, never a match
    assert not verify_password("not a hash", PASSWORD) and not verify_password(stored, "x" * 5000)
    with pytest.raises(AccountError, match="at least 10"):
        hash_password("123456789")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert needs_rehash(weak) and not needs_rehash(stored)


def test_sign_in_rehashes_old_parameters(clean_db, database_url):
    load_places(clean_db)
    user_id = add(clean_db, "old", scopes=[f"grid:{GRID}"])
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with clean_db.begin() as conn:
        conn.execute(
            text("UPDATE users SET password_hash = :h, password_changed_at = now() - interval '1 day' WHERE id = :id"),
            {"h": weak, "id": user_id},
        )
    sign_in(
        clean_db,
        settings_for(database_url),
        login="old",
        password=PASSWORD,
        address="a",
        user_agent=None,
        kind="refresh",
    )
    with clean_db.connect() as conn:
        stored, changed = conn.execute(
            text("SELECT password_hash, password_changed_at < now() - interval '1 hour' FROM users WHERE id = :id"),
            {"id": user_id},
        ).one()
    assert stored != weak and not needs_rehash(stored) and verify_password(stored, PASSWORD)
    assert changed  # the same password, so not a password change


def test_keys():
    good = "Zt7-pQ2vX9mL4kR8wN1cB6yH3jF5gD0s-aE"
    assert load_keys(Settings(environment="production", secret_key=SecretStr(good))).signing == good.encode()
    for bad in (None, "change-me", "x" * 40, "CHANGE-ME-please-to-something-long-and-random", "0123456789abcdef"):
        with pytest.raises(InsecureConfiguration):
            load_keys(Settings(environment="production", secret_key=bad))
    one, two = load_keys(Settings()), load_keys(Settings())  # development, no key: random per process
    assert one.signing != two.signing and len(one.signing) >= 32


def test_csrf_tokens_are_bound_and_keyed():
    keys, other = Keys.from_secret(b"a" * 32 + b"1"), Keys.from_secret(b"b" * 32 + b"2")
    token = csrf_token(keys, "session", b"hash-1")
    assert csrf_matches(keys, "session", b"hash-1", token)
    assert not csrf_matches(keys, "session", b"hash-2", token)  # another session
    assert not csrf_matches(keys, "login", b"hash-1", token)  # another purpose
    assert not csrf_matches(other, "session", b"hash-1", token)  # another server's key
    assert not csrf_matches(keys, "session", b"hash-1", None) and not csrf_matches(keys, "session", b"hash-1", "é")
    assert keys.csrf != keys.signing
