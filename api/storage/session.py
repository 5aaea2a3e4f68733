"""The one door to the database: every connection gridmap uses is opened here, with the scope it reads under.

Row-level security (docs/design.md §6) decides which of residents' rows a statement sees from two settings that
`_set_scope` puts at the start of every transaction with SET LOCAL, so that they end with it and can never outlive
a request on a pooled connection: ``gridmap.user_id`` (the signed-in user) and ``gridmap.system`` (gridmap's own
jobs). A connection carries its `Scope` as an execution option; the engine's ``begin`` listener, installed by
`api.storage.database.make_engine`, applies it to each transaction, the second connection of `shared_snapshot`
included. With no scope, the policies let no personal row through. Admin connections (creating the database,
extensions, migrations: api.storage.database and api.storage.migrate) work on the server, not on rows, and do not
pass here.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import OperationalError

from api.errors import DatabaseUnavailable

SCOPE_OPTION = "gridmap_scope"


@dataclass(frozen=True)
class Scope:
    """Whose rows a connection reads: a signed-in user's (the database resolves their places), everything for
    gridmap's own jobs (imports, the coverage refresh, the operator's CLI), or nothing personal (`NOBODY`)."""

    user_id: int | None = None
    system: bool = False
    partner_id: int | None = None  # an Open311 partner app: the requests it posted (migration 0012)

    def __post_init__(self) -> None:
        for value in (self.user_id, self.partner_id):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError("a scope's user or partner id is a positive integer")


NOBODY = Scope()
SYSTEM = Scope(system=True)


def user_scope(user_id: int) -> Scope:
    return Scope(user_id=user_id)


def partner_scope(partner_id: int) -> Scope:
    """An Open311 partner app's calls: row-level security shows it the requests it posted, nothing else."""
    return Scope(partner_id=partner_id)


def _set_scope(conn: Connection) -> None:
    """The engine's ``begin`` listener: the transaction's first statements set its scope (SET is no query, so a
    REPEATABLE READ snapshot is still taken later, and SET TRANSACTION SNAPSHOT may still follow)."""
    scope = conn.get_execution_options().get(SCOPE_OPTION, NOBODY)
    user = "" if scope.user_id is None else str(int(scope.user_id))  # an int: nothing else reaches the SQL text
    partner = "" if scope.partner_id is None else str(int(scope.partner_id))
    system = "on" if scope.system else "off"
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None  # only a detached connection has none
    cursor = dbapi.cursor()
    try:
        cursor.execute(
            f"SET LOCAL gridmap.user_id = '{user}'; SET LOCAL gridmap.system = '{system}'; "
            f"SET LOCAL gridmap.partner_id = '{partner}'"
        )
    finally:
        cursor.close()


def install_scoping(engine: Engine) -> Engine:
    """Make every transaction on `engine` set its connection's scope (done once, by make_engine)."""
    if not event.contains(engine, "begin", _set_scope):
        event.listen(engine, "begin", _set_scope)
    return engine


@contextmanager
def _open(engine: Engine, isolation_level: str | None) -> Iterator[Connection]:
    """A pooled connection; a database that does not answer is a `DatabaseUnavailable` (503), not a traceback."""
    if not event.contains(engine, "begin", _set_scope):
        raise RuntimeError("this engine does not set scopes: make it with api.storage.database.make_engine")
    try:
        conn = engine.connect()
    except OperationalError as exc:
        raise DatabaseUnavailable("the database does not answer") from exc
    with conn:
        yield conn.execution_options(isolation_level=isolation_level) if isolation_level else conn


@contextmanager
def connect(engine: Engine, *, scope: Scope, isolation_level: str | None = None) -> Iterator[Connection]:
    """A connection reading under `scope`, for reads and for transactions the caller begins (SQLAlchemy begins
    one on first use); every transaction on it sets the scope first."""
    with _open(engine, isolation_level) as conn:
        yield conn.execution_options(**{SCOPE_OPTION: scope})


@contextmanager
def transaction(engine: Engine, *, scope: Scope, isolation_level: str | None = None) -> Iterator[Connection]:
    """A connection in one transaction under `scope`, committed when the block ends and rolled back on an error."""
    with connect(engine, scope=scope, isolation_level=isolation_level) as conn, conn.begin():
        yield conn


def scope_of(conn: Connection) -> Scope:
    """The scope `conn` reads under (NOBODY for a connection that did not come from `connect`)."""
    return conn.get_execution_options().get(SCOPE_OPTION, NOBODY)


# The caller's snapshot for a second connection; NULL when this transaction has written (it has an xid).
EXPORT_SNAPSHOT_SQL = "SELECT CASE WHEN txid_current_if_assigned() IS NULL THEN pg_export_snapshot() END"


def export_snapshot(conn: Connection) -> str | None:
    """`conn`'s snapshot for `shared_snapshot`, or None when it cannot be shared (the transaction has written)."""
    return conn.scalar(text(EXPORT_SNAPSHOT_SQL))


@contextmanager
def shared_snapshot(conn: Connection, snapshot: str) -> Iterator[Connection]:
    """A second connection whose REPEATABLE READ transaction sees exactly what `conn`'s does (`snapshot` from
    `export_snapshot`), e.g. to COPY layers out beside it, under the same scope. The snapshot must come before the
    transaction's first query; the scope's SET LOCAL statements, which begin it, are no queries."""
    with _open(conn.engine, "REPEATABLE READ") as other:
        other.execution_options(**{SCOPE_OPTION: scope_of(conn)})
        with other.begin():
            other.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
            yield other
