"""Sign-in for people: the /login form, its session cookie's flags, CSRF on the forms and on cookie writes, `next`
kept on this site, hostile logins shown as text, sign-out."""

import html
import re
from http.cookies import SimpleCookie

import pytest

from api.deps import CSRF_COOKIE, SESSION_COOKIE
from api.routers.login import LOGIN_CSRF_COOKIE, safe_next
from tests.api.accounts.helpers import PASSWORD, add, client_for, count, load_places, settings_for


@pytest.fixture
def settings(clean_db, database_url):
    load_places(clean_db)
    add(clean_db, "wang")
    return settings_for(database_url, sign_in_max_per_login=3)


@pytest.fixture
def client(settings):
    with client_for(settings) as client:
        yield client


def set_cookies(response) -> dict[str, str]:
    """Each Set-Cookie header by cookie name (the whole header, attributes included)."""
    return {next(iter(SimpleCookie(h))): h for h in response.headers.get_list("set-cookie")}


def form_token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def submit(client, login: str = "wang", password: str = PASSWORD, *, next_path: str = "/", token: str | None = None):
    page = client.get("/login")
    data = {"username": login, "password": password, "next": next_path}
    data["csrf_token"] = form_token(page.text) if token is None else token
    return client.post("/login", data=data, follow_redirects=False)


def test_the_form(client):
    page = client.get("/login?next=/maps/overview")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for label in ("登录", "用户名", "密码"):
        assert label in page.text
    assert "<script" not in page.text and "http://" not in page.text and "https://" not in page.text
    assert 'name="next" value="/maps/overview"' in page.text
    cookie = set_cookies(page)[LOGIN_CSRF_COOKIE].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/login" in cookie
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_sign_in_sets_a_strict_httponly_session_cookie(client, clean_db):
    response = submit(client, next_path="/maps/overview")
    assert response.status_code == 303 and response.headers["location"] == "/maps/overview"
    cookies = set_cookies(response)
    session = cookies[SESSION_COOKIE].lower()
    assert "httponly" in session and "samesite=strict" in session and "path=/;" in session + ";"
    assert "secure" not in session  # plain HTTP: a Secure cookie would never come back
    assert "httponly" not in cookies[CSRF_COOKIE].lower()  # the page's scripts read it for X-CSRF-Token
    me = client.get("/me")
    assert me.status_code == 200 and me.json()["login"] == "wang"
    assert me.json()["csrf_token"] == SimpleCookie(cookies[CSRF_COOKIE])[CSRF_COOKIE].value
    assert count(clean_db, "auth_sessions") == 1
    signed_in = client.get("/login")
    assert "已登录：wang（网格员）" in signed_in.text and 'action="/logout"' in signed_in.text


def test_the_cookie_is_secure_over_https_or_when_set(settings):
    with client_for(settings, base_url="https://testserver") as client:
        assert "secure" in set_cookies(submit(client))[SESSION_COOKIE].lower()
    with client_for(settings.model_copy(update={"cookie_secure": True})) as client:  # TLS ends at a proxy
        assert "secure" in set_cookies(client.get("/login"))[LOGIN_CSRF_COOKIE].lower()


@pytest.mark.parametrize("token", ["", "0" * 64, "not-a-token"])
def test_a_missing_or_wrong_csrf_token_is_403_and_no_session(client, clean_db, token):
    response = submit(client, token=token)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert SESSION_COOKIE not in set_cookies(response)
    assert count(clean_db, "auth_sessions") == 0


def test_a_form_token_without_its_cookie_or_from_another_form_is_403(client, settings, clean_db):
    token = form_token(client.get("/login").text)
    client.cookies.clear()
    data = {"username": "wang", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login", data=data).status_code == 403
    with client_for(settings) as other:  # a token of another browser's form, with this browser's cookie
        client.get("/login")
        other_token = form_token(other.get("/login").text)
        assert client.post("/login", data={**data, "csrf_token": other_token}).status_code == 403
    assert count(clean_db, "auth_sessions") == 0


def test_another_site_cannot_post_the_form(client):
    page = client.get("/login")
    data = {"username": "wang", "password": PASSWORD, "csrf_token": form_token(page.text)}
    refused = client.post("/login", data=data, headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and refused.json()["code"] == "cross_site_request"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/%0d%0aSet-Cookie:x=1",
        "/\r\nLocation: https://evil.example",
        "",
    ],
)
def test_next_is_followed_only_on_this_site(client, target):
    response = submit(client, next_path=target)
    location = response.headers["location"]
    assert response.status_code == 303 and (location == "/" or location == target) and not location.startswith("//")
    assert "evil.example" not in location
    page = client.get("/login", params={"next": target})
    assert "evil.example" not in page.text


def test_safe_next():
    assert safe_next("/maps/coverage?service_type=clinic&profile=elderly") == (
        "/maps/coverage?service_type=clinic&profile=elderly"
    )
    for bad in ("//evil.example/x", "https://evil.example", "/\\evil.example", "/x\ny", None, "/" + "a" * 3000):
        assert safe_next(bad) == "/"


@pytest.mark.parametrize(
    "login", ['<script>alert("x")</script>', "\"' onfocus=alert(1) x='", "张三<b>", "x" * 5000, "&lt;amp;"]
)
def test_hostile_logins_are_shown_as_text(client, clean_db, login):
    response = submit(client, login=login, password="whatever password")
    assert response.status_code == 401 and "用户名或密码错误" in response.text
    shown = re.search(r'name="username"[^>]*value="([^"]*)"', response.text).group(1)
    assert html.unescape(shown) == login[:64]  # echoed as the value typed, cut to a login's length
    assert "<script>" not in response.text and "<b>" not in response.text and "' onfocus" not in response.text
    assert count(clean_db, "auth_sessions") == 0


def test_the_login_page_limit_is_429_with_retry_after(client):
    for _ in range(3):
        assert submit(client, password="not the password").status_code == 401
    limited = submit(client)
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "登录失败次数过多" in limited.text and SESSION_COOKIE not in set_cookies(limited)


def test_cookie_writes_need_the_csrf_header(client):
    submit(client)
    csrf = client.get("/me").json()["csrf_token"]
    refused = client.post("/auth/logout")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert client.post("/auth/logout", headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert client.get("/me").status_code == 200  # still signed in
    assert client.post("/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204


def test_logout_ends_the_cookie_session(client, clean_db):
    submit(client)
    old_cookie = client.cookies.get(SESSION_COOKIE)
    page = client.get("/login")
    refused = client.post("/logout", data={"csrf_token": "0" * 64}, follow_redirects=False)
    assert refused.status_code == 403
    response = client.post("/logout", data={"csrf_token": form_token(page.text)}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, old_cookie)  # the cookie kept by someone who copied it
    assert client.get("/me").status_code == 401
    assert "用户名" in client.get("/login").text  # signed out: the form again


def test_a_disabled_account_loses_its_cookie_session(client, clean_db):
    from api.accounts.users import disable_user

    submit(client)
    assert client.get("/me").status_code == 200
    disable_user(clean_db, "wang")
    assert client.get("/me").status_code == 401
