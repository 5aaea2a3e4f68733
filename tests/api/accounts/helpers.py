"""What the accounts tests share: a small area with places to scope accounts to, an app with a fixed key."""

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.accounts.users import add_user
from api.main import create_app
from api.settings import Settings
from api.storage.imports import load_frames
from tests.api.routers.test_api import small_area

KEY = "k3y-for-the-tests-0123456789abcdefghijklmnopqrstuvwxyz"
PASSWORD = "correct horse battery"
STREET, COMMUNITY, GRID = "110105001", "110105001001", "110105001001001"


def load_places(engine: Engine) -> None:
    """The small area of the API tests: street 110105001, community 001 (full code 110105001001), two grids."""
    with engine.begin() as conn:
        load_frames(conn, small_area(), source="test")


def settings_for(database_url: str, **overrides) -> Settings:
    values = {"database_url": database_url, "tiles": "none", "secret_key": KEY} | overrides
    return Settings(**values)


@contextmanager
def client_for(settings: Settings, base_url: str = "http://testserver") -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url=base_url) as client:
        yield client


def add(engine: Engine, login: str, role: str = "grid_worker", scopes: list[str] | None = None) -> int:
    default = {"admin": [], "grid_worker": [f"grid:{GRID}"], "planner": [f"street:{STREET}"]}
    return add_user(engine, login, role=role, scopes=default[role] if scopes is None else scopes, password=PASSWORD)


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(text(f"SELECT count(*) FROM {table}"))


def sign_in(client: TestClient, login: str, password: str = PASSWORD):
    return client.post("/auth/token", data={"username": login, "password": password})
