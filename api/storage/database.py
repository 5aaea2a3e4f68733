"""Database engine and the creation of the database itself (extensions, migrations)."""

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from api.storage import migrate
from api.storage.session import install_scoping

EXTENSIONS = ("postgis", "pgrouting")
APP_ROLE = "gridmap_app"  # the server's role: no owner, no superuser, cannot bypass row-level security
DB_INT_MAX = 2**63 - 1  # PostgreSQL bigint: every stored id, and OFFSET


def make_engine(database_url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """One engine per process; pre-ping so a restarted server does not fail the first request.

    The server sizes its pool to its concurrency (`Settings.db_pool_size`): a connection beyond the pool is opened
    and closed per request, and PostgreSQL forks a backend for each, which under load cost more CPU than the
    requests themselves."""
    engine = create_engine(database_url, pool_pre_ping=True, pool_size=pool_size, max_overflow=max_overflow)
    return install_scoping(engine)


def app_database_url(database_url: str) -> str:
    """The server's connection: the database of `database_url` as `APP_ROLE`, with no password (a local server's
    trust or peer authentication; elsewhere set GRIDMAP_APP_DATABASE_URL with the role's password)."""
    return make_url(database_url).set(username=APP_ROLE, password=None).render_as_string(hide_password=False)


def create_database(database_url: str) -> bool:
    """Create the database named in the URL if it does not exist; True when it was created."""
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database})
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{url.database}"'))
            return not exists
    finally:
        admin.dispose()


def drop_database(database_url: str) -> None:
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def create_extensions(database_url: str) -> dict[str, str]:
    """Create PostGIS and pgRouting; returns their versions. Fails with a clear message when missing."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    versions = {}
    try:
        with engine.connect() as conn:
            available = set(conn.scalars(text("SELECT name FROM pg_available_extensions")))
            missing = [name for name in EXTENSIONS if name not in available]
            if missing:
                raise RuntimeError(
                    f"the PostgreSQL server lacks the extension(s) {', '.join(missing)}; install the Debian "
                    "packages postgresql-<version>-postgis-3 and postgresql-<version>-pgrouting "
                    "(scripts/db.sh does this for a local server)"
                )
            for name in EXTENSIONS:
                conn.execute(text(f"CREATE EXTENSION IF NOT EXISTS {name} CASCADE"))
                versions[name] = conn.scalar(
                    text("SELECT extversion FROM pg_extension WHERE extname = :n"), {"n": name}
                )
    finally:
        engine.dispose()
    return versions


def init_database(database_url: str) -> dict[str, str]:
    """Database, extensions and migrations: everything a fresh server needs. Safe to run again."""
    create_database(database_url)
    versions = create_extensions(database_url)
    migrate.upgrade(database_url)
    return versions
