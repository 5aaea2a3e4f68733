"""api.storage's one door: every connection it hands out passes the scope hook, the snapshot-sharing one too."""

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from api.errors import DatabaseUnavailable
from api.storage import connect, session, transaction
from api.storage.database import make_engine
from api.storage.filters import optional
from api.storage.frames import read_frames


@pytest.fixture
def scoped(monkeypatch) -> list:
    """The connections that passed the hook, in order."""
    seen: list = []

    def hook(conn):
        seen.append(conn)
        return conn

    monkeypatch.setattr(session, "_scoped", hook)
    return seen


def test_connect_and_transaction_pass_the_scope_hook(engine, scoped):
    with connect(engine) as conn:
        assert conn.scalar(text("SELECT 1")) == 1
    with transaction(engine, isolation_level="REPEATABLE READ") as conn:
        assert conn.scalar(text("SHOW transaction_isolation")) == "repeatable read"
    assert len(scoped) == 2


def test_the_connection_sharing_a_snapshot_passes_the_scope_hook(engine, scoped):
    with transaction(engine, isolation_level="REPEATABLE READ") as conn:
        frames = read_frames(
            conn, ["SELECT 1 AS n, 0.0 AS geom_x, 0.0 AS geom_y", "SELECT 2 AS n, 0.0 AS geom_x, 0.0 AS geom_y"]
        )
    assert [int(f["n"].iloc[0]) for f in frames] == [1, 2]
    assert len(scoped) == 2  # the caller's connection and the second one that read the rows


def test_a_database_that_does_not_answer_is_unavailable(database_url):
    absent = make_engine(make_url(database_url).set(port=1).render_as_string(hide_password=False))
    try:
        with pytest.raises(DatabaseUnavailable), connect(absent):
            pass
    finally:
        absent.dispose()


def test_the_optional_filter_keeps_every_row_for_null(engine):
    sql = text(f"SELECT count(*) FROM (VALUES (1), (2)) AS v(id) WHERE {optional('id', 'id')}")
    with connect(engine) as conn:
        assert conn.scalar(sql, {"id": None}) == 2
        assert conn.scalar(sql, {"id": 2}) == 1
