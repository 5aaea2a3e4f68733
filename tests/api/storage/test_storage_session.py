"""api.storage's one door: every transaction on a connection it hands out sets the connection's scope, the
snapshot-sharing one too."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.errors import DatabaseUnavailable
from api.storage import NOBODY, SYSTEM, connect, transaction, user_scope
from api.storage.database import make_engine
from api.storage.filters import optional
from api.storage.frames import read_frames

SCOPE_SQL = "SELECT current_setting('gridmap.user_id', true), current_setting('gridmap.system', true)"


def test_every_transaction_sets_the_connections_scope(engine):
    with connect(engine, scope=user_scope(7)) as conn:
        assert conn.execute(text(SCOPE_SQL)).one() == ("7", "off")
        conn.commit()
        assert conn.execute(text(SCOPE_SQL)).one() == ("7", "off")  # the next transaction sets it again
    with transaction(engine, scope=SYSTEM, isolation_level="REPEATABLE READ") as conn:
        assert conn.scalar(text("SHOW transaction_isolation")) == "repeatable read"
        assert conn.execute(text(SCOPE_SQL)).one() == ("", "on")
    with connect(engine, scope=NOBODY) as conn:
        assert conn.execute(text(SCOPE_SQL)).one() == ("", "off")


def test_the_scope_ends_with_the_transaction(engine):
    """SET LOCAL: nothing of a request's scope is left on the pooled connection."""
    with connect(engine, scope=user_scope(7)) as conn:
        conn.execute(text("SELECT 1"))
        raw = conn.connection.dbapi_connection
        conn.commit()
        with raw.cursor() as cursor:  # outside any transaction SQLAlchemy began: no scope
            cursor.execute(SCOPE_SQL)
            assert cursor.fetchone() in ((None, None), ("", ""))
            raw.rollback()


def test_the_connection_sharing_a_snapshot_reads_under_the_same_scope(engine):
    with transaction(engine, scope=user_scope(42), isolation_level="REPEATABLE READ") as conn:
        frames = read_frames(
            conn,
            [
                "SELECT current_setting('gridmap.user_id') AS who, 0.0 AS geom_x, 0.0 AS geom_y",
                "SELECT current_setting('gridmap.system') AS who, 0.0 AS geom_x, 0.0 AS geom_y",
            ],
        )
    assert [str(f["who"].iloc[0]) for f in frames] == ["42", "off"]


def test_an_engine_without_scoping_is_refused(database_url):
    plain = create_engine(database_url)
    try:
        with pytest.raises(RuntimeError, match="make_engine"), connect(plain, scope=SYSTEM):
            pass
    finally:
        plain.dispose()


def test_a_scope_holds_only_a_user_id():
    with pytest.raises(ValueError):
        user_scope("1; RESET ROLE")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        user_scope(0)


def test_a_database_that_does_not_answer_is_unavailable(database_url):
    absent = make_engine(make_url(database_url).set(port=1).render_as_string(hide_password=False))
    try:
        with pytest.raises(DatabaseUnavailable), connect(absent, scope=SYSTEM):
            pass
    finally:
        absent.dispose()


def test_the_optional_filter_keeps_every_row_for_null(engine):
    sql = text(f"SELECT count(*) FROM (VALUES (1), (2)) AS v(id) WHERE {optional('id', 'id')}")
    with connect(engine, scope=NOBODY) as conn:
        assert conn.scalar(sql, {"id": None}) == 2
        assert conn.scalar(sql, {"id": 2}) == 1
