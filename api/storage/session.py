"""The one door to the database: every connection gridmap uses is opened here, and passes `_scoped` once.

Row-level security will need the user's scope set on each connection a request uses; with one door it cannot be
forgotten on one of them. Admin connections (creating the database, extensions, migrations: api.storage.database
and api.storage.migrate) work on the server, not on residents' rows, and do not pass here.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError

from api.errors import DatabaseUnavailable


def _scoped(conn: Connection) -> Connection:
    """The hook every handed-out connection passes before its first statement: where the accounts work sets the
    user's scope (for row-level security) on `conn`, the second connection of `shared_snapshot` included.

    Nothing is set yet. A setting made here lasts for the connection's session: it must be reset when the
    connection returns to the pool, so that it never outlives the request."""
    return conn


@contextmanager
def _open(engine: Engine, isolation_level: str | None) -> Iterator[Connection]:
    """A pooled connection; a database that does not answer is a `DatabaseUnavailable` (503), not a traceback."""
    try:
        conn = engine.connect()
    except OperationalError as exc:
        raise DatabaseUnavailable("the database does not answer") from exc
    with conn:
        yield conn.execution_options(isolation_level=isolation_level) if isolation_level else conn


@contextmanager
def connect(engine: Engine, *, isolation_level: str | None = None) -> Iterator[Connection]:
    """A connection for reads and for transactions the caller begins (SQLAlchemy begins one on first use)."""
    with _open(engine, isolation_level) as conn:
        yield _scoped(conn)


@contextmanager
def transaction(engine: Engine, *, isolation_level: str | None = None) -> Iterator[Connection]:
    """A connection in one transaction, committed when the block ends and rolled back on an error."""
    with connect(engine, isolation_level=isolation_level) as conn, conn.begin():
        yield conn


# The caller's snapshot for a second connection; NULL when this transaction has written (it has an xid).
EXPORT_SNAPSHOT_SQL = "SELECT CASE WHEN txid_current_if_assigned() IS NULL THEN pg_export_snapshot() END"


def export_snapshot(conn: Connection) -> str | None:
    """`conn`'s snapshot for `shared_snapshot`, or None when it cannot be shared (the transaction has written)."""
    return conn.scalar(text(EXPORT_SNAPSHOT_SQL))


@contextmanager
def shared_snapshot(conn: Connection, snapshot: str) -> Iterator[Connection]:
    """A second connection whose REPEATABLE READ transaction sees exactly what `conn`'s does (`snapshot` from
    `export_snapshot`), e.g. to COPY layers out beside it. The snapshot must be the transaction's first statement,
    so the scope is set right after it."""
    with _open(conn.engine, "REPEATABLE READ") as other, other.begin():
        other.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
        yield _scoped(other)
