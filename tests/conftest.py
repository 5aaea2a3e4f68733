"""Test fixtures: a real PostGIS database created for the session from the migrations, dropped at the end.

The server is the one `make test` set up (GRIDMAP_DATABASE_URL or .gridmap/database_url). Outside CI a missing
server skips the database tests with a message; in CI it is a failure.
"""

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from api.settings import Settings
from api.storage import database, layers, visits
from api.storage.imports import load_sample
from gis.sample import Generated, generate_sample

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IN_CI = bool(os.environ.get("CI"))
ID_HASH_KEY = b"the tests' key for ID-number hashes, 32+ bytes"


def need_shared_data() -> Path:
    """The real OSM extracts beside the project; skip (fail in CI) when they are absent."""
    if not SHARED_DATA.is_dir():
        if IN_CI:
            pytest.fail(f"../shared/data is missing in CI (looked in {SHARED_DATA.name})")
        pytest.skip("../shared/data is absent: the real-data tests need the shared OSM extracts")
    return SHARED_DATA


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    base = make_url(Settings().database_url)
    url = base.set(database=f"gridmap_test_{os.getpid()}").render_as_string(hide_password=False)
    try:
        database.create_database(url)
    except Exception as exc:  # noqa: BLE001
        message = f"no PostgreSQL server for the tests ({type(exc).__name__}); run `make test`, which sets one up"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    try:
        database.init_database(url)
        yield url
    finally:
        database.drop_database(url)


@pytest.fixture
def empty_database(database_url: str) -> Iterator[str]:
    """A database that exists but has no tables yet (as a new user's), on the tests' server; dropped afterwards."""
    url = make_url(database_url).set(database=f"gridmap_test_{os.getpid()}_empty").render_as_string(False)
    database.create_database(url)
    try:
        yield url
    finally:
        database.drop_database(url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = database.make_engine(database_url)
    yield engine
    engine.dispose()


def empty_tables(engine: Engine) -> None:
    """Every layer and derived table emptied (importers commit their own transactions), the accounts (a party
    member's account refers to a 中心户, so TRUNCATE … CASCADE would empty them anyway), the residents and the field
    work (emptied by CASCADE with the households too) and the audit log; the default visit rules put back."""
    with engine.begin() as conn:
        derived = ["building_coverage", "coverage_runs", "center_assignments", "center_runs"]
        accounts = ["users", "sign_in_failures"]  # user_scopes and auth_sessions by CASCADE
        personal = ["residents", "audit_log"]
        tables = ", ".join([*layers.LAYERS, "grid_worker_grids", "import_runs", *derived, *accounts, *personal])
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # visit_rules refer to communities, so CASCADE empties them: the seeded defaults are put back; the field
        # work's other tables (visits, hazards, requests …) are emptied by CASCADE through households and users
        conn.execute(text("TRUNCATE photos CASCADE"))
        visits.seed_default_rules(conn)


HISTORY_UNTIL = date(2026, 11, 30)  # the last day of the sample's year of field work in the tests (a Monday)


@contextmanager
def sample_loaded(engine: Engine, *, history: bool = False) -> Iterator[Generated]:
    """The sample street loaded into emptied tables for a module's tests, emptied again afterwards; with `history`
    its year of field work up to `HISTORY_UNTIL` (it adds ~3 s, so only the tests that read it ask for it)."""
    empty_tables(engine)
    area = generate_sample()
    load_sample(engine, area, id_hash_key=ID_HASH_KEY, history=history, until=HISTORY_UNTIL)
    try:
        yield area
    finally:
        empty_tables(engine)


@pytest.fixture
def clean_db(engine: Engine) -> Iterator[Engine]:
    """An empty set of layer tables before and after the test."""
    empty_tables(engine)
    yield engine
    empty_tables(engine)


class ServerThread(threading.Thread):
    """The real API on a loopback port, for browser tests."""

    def __init__(self, settings: Settings, app: FastAPI | None = None) -> None:
        """Serve `app`, by default ``create_app(settings)``."""
        super().__init__(daemon=True)
        from api.main import create_app

        with socket.socket() as sock:  # a free loopback port
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        app = app if app is not None else create_app(settings)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)

    def run(self) -> None:
        self.server.run()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ServerThread":
        self.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.join(timeout=10)


DB_FIXTURES = {"database_url", "engine", "empty_database"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that asks (directly or through its fixtures) for a database `db`, so `-m "not db"` runs the
    pure ones (gis/, most of maps/) without PostgreSQL."""
    for item in items:
        if DB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)
