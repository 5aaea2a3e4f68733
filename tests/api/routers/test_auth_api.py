"""Sign-in for programs on a real PostGIS: tokens, refusals that tell nothing, limits, refresh rotation, sign-out,
disabled accounts, forged tokens, roles, and the signing key at start-up."""

import base64
import json
import logging
import time
from typing import Annotated

import jwt
import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from api.accounts.roles import Principal
from api.accounts.users import disable_user
from api.deps import require_role
from api.errors import InsecureConfiguration
from api.main import create_app
from api.settings import Settings
from tests.api.accounts.helpers import (
    GRID,
    KEY,
    PASSWORD,
    STREET,
    add,
    client_for,
    count,
    load_places,
    settings_for,
    sign_in,
)


@pytest.fixture
def settings(clean_db, database_url) -> Settings:
    load_places(clean_db)
    return settings_for(database_url, sign_in_max_per_login=3, sign_in_max_per_address=6)


@pytest.fixture
def client(settings):
    with client_for(settings) as client:
        yield client


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_sign_in_and_me(client, clean_db):
    add(clean_db, "Wang.Fang", "grid_worker")
    response = sign_in(client, "wang.fang")  # logins are compared without case
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and 0 < body["expires_in"] <= 900 and len(body["refresh_token"]) >= 40
    claims = jwt.decode(body["access_token"], KEY, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] <= 900 and claims["role"] == "grid_worker" and claims["jti"]
    me = client.get("/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json() == {
        "login": "Wang.Fang",
        "role": "grid_worker",
        "scopes": [{"level": "grid", "code": GRID}],
        "center_household_id": None,
        "csrf_token": None,
    }
    assert "hash" not in me.text and "argon2" not in me.text


def test_me_without_credentials_is_401_with_bearer_challenge(client):
    response = client.get("/me")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["code"] == "not_authenticated"


def test_every_refused_sign_in_looks_the_same(client, clean_db):
    add(clean_db, "li")
    add(clean_db, "zhao")
    disable_user(clean_db, "zhao")
    refusals = [
        sign_in(client, "li", "wrong password!"),
        sign_in(client, "nobody-has-this-login"),
        sign_in(client, "zhao"),  # disabled, right password
    ]
    assert {r.status_code for r in refusals} == {401}
    assert len({r.content for r in refusals}) == 1
    assert refusals[0].json() == {"code": "not_authenticated", "detail": "wrong login or password"}
    assert all(r.headers["WWW-Authenticate"] == "Bearer" for r in refusals)
    assert count(clean_db, "auth_sessions") == 0


def test_unknown_logins_take_as_long_as_wrong_passwords(client, clean_db):
    """The dummy argon2 verification: an unknown login is not answered faster (which would tell it does not
    exist). Medians of a few tries each, allowing a wide margin for a busy machine."""
    add(clean_db, "sun")

    def median(login: str) -> float:
        times = []
        for n in range(5):
            start = time.perf_counter()
            sign_in(client, login, f"wrong password {n}")
            times.append(time.perf_counter() - start)
        return sorted(times)[2]

    wrong, unknown = median("sun"), median("no-such-user")
    assert unknown > 0.5 * wrong


def test_per_login_limit_is_429_with_retry_after_known_or_not(client, clean_db):
    add(clean_db, "qian")
    limited = {}
    for login in ("qian", "ghost"):
        for _ in range(3):
            assert sign_in(client, login, "not the password").status_code == 401
        limited[login] = sign_in(client, login)  # the right password for qian, and still refused
    assert {r.status_code for r in limited.values()} == {429}
    assert limited["qian"].content == limited["ghost"].content
    assert limited["qian"].json()["code"] == "too_many_attempts"
    for response in limited.values():
        assert 1 <= int(response.headers["Retry-After"]) <= 15 * 60
    assert count(clean_db, "auth_sessions") == 0


def test_case_does_not_escape_the_login_limit(client, clean_db):
    for login in ("Qian", "QIAN", "qian"):
        sign_in(client, login, "not the password")
    assert sign_in(client, "qIaN").status_code == 429


def test_per_address_limit_counts_every_login(client, clean_db):
    add(clean_db, "zhou")
    for n in range(6):  # six logins, one failure each: under the per-login limit, at the per-address one
        assert sign_in(client, f"visitor{n}", "not the password").status_code == 401
    refused = sign_in(client, "zhou")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert sign_in(client, "someone-else").status_code == 429


def test_a_success_clears_the_login_failures(client, clean_db):
    add(clean_db, "wu")
    for _ in range(2):
        sign_in(client, "wu", "not the password")
    assert sign_in(client, "wu").status_code == 200
    for _ in range(2):
        assert sign_in(client, "wu", "not the password").status_code == 401
    assert sign_in(client, "wu").status_code == 200


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # the HS512 forgery's key
def test_forged_and_expired_tokens_are_refused(client, clean_db):
    add(clean_db, "zheng")
    token = sign_in(client, "zheng").json()["access_token"]
    assert client.get("/me", headers=bearer(token)).status_code == 200
    claims = _claims(token)
    now = int(time.time())
    header, payload, signature = token.split(".")
    promoted = _b64({**claims, "role": "admin", "sub": "1"})
    forged = [
        jwt.encode({**claims, "iat": now - 1000, "exp": now - 60}, KEY, algorithm="HS256"),  # expired
        f"{header}.{promoted}.{signature}",  # tampered payload, old signature
        token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),  # tampered signature
        jwt.encode(claims, "another key, also long enough to be a real key", algorithm="HS256"),
        f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",  # alg none
        jwt.encode({k: v for k, v in claims.items() if k != "exp"}, KEY, algorithm="HS256"),  # never expires
        jwt.encode(claims, KEY, algorithm="HS512"),  # another algorithm with the right key
        "not-a-token",
    ]
    for bad in forged:
        response = client.get("/me", headers=bearer(bad))
        assert response.status_code == 401, bad
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_refresh_rotates_and_a_reused_token_ends_the_session(client, clean_db):
    add(clean_db, "feng")
    first = sign_in(client, "feng").json()
    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    assert client.get("/me", headers=bearer(second["access_token"])).json()["login"] == "feng"
    replay = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and replay.json()["code"] == "not_authenticated"
    # the replay of a used token ends the whole session: the newest refresh and access tokens stop too
    assert client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    assert client.get("/me", headers=bearer(second["access_token"])).status_code == 401
    assert client.post("/auth/refresh", json={"refresh_token": "x" * 43}).status_code == 401


def test_logout_ends_refresh_and_access_tokens(client, clean_db):
    add(clean_db, "chen")
    tokens = sign_in(client, "chen").json()
    other = sign_in(client, "chen").json()  # a second session of the same user is not touched
    assert client.post("/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    assert client.get("/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401
    assert client.get("/me", headers=bearer(other["access_token"])).status_code == 200
    assert client.post("/auth/logout").status_code == 401


def test_a_disabled_users_valid_token_stops_at_once(client, clean_db):
    add(clean_db, "chu")
    tokens = sign_in(client, "chu").json()
    assert client.get("/me", headers=bearer(tokens["access_token"])).status_code == 200
    disable_user(clean_db, "chu")
    assert client.get("/me", headers=bearer(tokens["access_token"])).status_code == 401
    assert client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_require_role(settings, clean_db):
    app = create_app(settings)

    @app.get("/test/admins-only")
    def admins_only(principal: Annotated[Principal, Depends(require_role("admin", "street_leader"))]) -> dict:
        return {"login": principal.login, "scopes": [list(s) for s in principal.scopes]}

    add(clean_db, "boss", "admin")
    add(clean_db, "planner1", "planner", [f"street:{STREET}"])
    with TestClient(app) as client:
        boss = sign_in(client, "boss").json()["access_token"]
        planner = sign_in(client, "planner1").json()["access_token"]
        assert client.get("/test/admins-only", headers=bearer(boss)).json() == {"login": "boss", "scopes": []}
        refused = client.get("/test/admins-only", headers=bearer(planner))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        assert "planner" in refused.json()["detail"]
        assert client.get("/test/admins-only").status_code == 401


def test_no_password_or_token_reaches_the_log(client, clean_db, caplog):
    add(clean_db, "yang")
    with caplog.at_level(logging.DEBUG):
        tokens = sign_in(client, "yang").json()
        sign_in(client, "yang", "a wrong password 12345")
        client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        client.get("/me", headers=bearer(tokens["access_token"]))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (PASSWORD, "a wrong password 12345", tokens["refresh_token"], tokens["access_token"]):
        assert secret not in logged


@pytest.mark.parametrize("key", [None, "change-me", "change-me-to-a-long-random-value-of-48-characters", "Tq9zKw2x"])
def test_production_refuses_a_missing_short_or_placeholder_key(key, database_url):
    with pytest.raises(InsecureConfiguration) as refused:
        create_app(Settings(database_url=database_url, environment="production", secret_key=key))
    message = str(refused.value)
    assert "GRIDMAP_SECRET_KEY" in message and "\n" not in message
    assert key is None or key not in message  # the key itself is not repeated


def test_production_refuses_a_missing_id_hash_key(database_url):
    with pytest.raises(InsecureConfiguration) as refused:
        create_app(Settings(database_url=database_url, environment="production", secret_key=KEY))
    assert "GRIDMAP_ID_HASH_KEY is not set" in str(refused.value) and "\n" not in str(refused.value)


def test_production_starts_with_proper_keys_and_development_without_them(database_url, caplog):
    create_app(Settings(database_url=database_url, environment="production", secret_key=KEY, id_hash_key=KEY[::-1]))
    with caplog.at_level(logging.WARNING, logger="gridmap"):
        create_app(Settings(database_url=database_url))
    assert "do not survive a restart" in caplog.text


def test_tokens_of_another_process_key_are_refused(settings, clean_db):
    """In development without a key each process makes its own: a token of one is refused by another."""
    add(clean_db, "he")
    unset = settings.model_copy(update={"secret_key": None})
    with client_for(unset) as first, client_for(unset) as second:
        token = sign_in(first, "he").json()["access_token"]
        assert first.get("/me", headers=bearer(token)).status_code == 200
        assert second.get("/me", headers=bearer(token)).status_code == 401
