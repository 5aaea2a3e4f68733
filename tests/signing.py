"""Signing in, for the tests that are about something else: an account of a role (made, or reset if it exists),
a bearer token for a test client or an HTTP client, a session cookie in Chromium through the real /login form."""

from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.accounts.roles import parse_scope
from api.accounts.users import put_user

PASSWORD = "a password for the tests only"


def account(engine: Engine, role: str = "admin", scopes: list[str] | None = None, login: str | None = None) -> str:
    """The login of an account of `role` scoped to `scopes` (``LEVEL:CODE``), with `PASSWORD`."""
    login = login or f"test-{role.replace('_', '-')}"
    put_user(engine, login, role=role, scopes=[parse_scope(s) for s in scopes or []], password=PASSWORD)
    return login


def signed_in(client: TestClient, role: str = "admin", scopes: list[str] | None = None) -> TestClient:
    """`client` sending the bearer token of an account of `role` from now on."""
    login = account(client.app.state.engine, role, scopes)  # type: ignore[attr-defined]
    response = client.post("/auth/token", data={"username": login, "password": PASSWORD})
    assert response.status_code == 200, response.text
    client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
    return client


def bearer_headers(base_url: str, engine: Engine, role: str = "admin", scopes: list[str] | None = None) -> dict:
    """Headers with a bearer token from the server at `base_url` (a ServerThread) for an account of `role`."""
    login = account(engine, role, scopes, login=f"http-{role.replace('_', '-')}")  # not the test client's
    response = httpx.post(f"{base_url}/auth/token", data={"username": login, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def browser_sign_in(
    driver: Any, base_url: str, engine: Engine, role: str = "admin", scopes: list[str] | None = None
) -> None:
    """Sign Chromium in with the /login form (the session cookie is then sent with every page)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    login = account(engine, role, scopes, login=f"browser-{role.replace('_', '-')}")  # not the test client's
    driver.get(f"{base_url}/login")
    driver.find_element(By.NAME, "username").send_keys(login)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
    WebDriverWait(driver, 20).until(lambda d: "/login" not in d.current_url)  # the form's 303, followed
    assert any(cookie["name"] == "gridmap_session" for cookie in driver.get_cookies()), driver.page_source[:500]
