"""Run the Alembic migrations from code, so that the CLI and the tests share one path; tell whether a database
has them all."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
INIT_COMMAND = "gridmap db init"  # creates the database if needed and runs every migration; safe to run again


def alembic_config(database_url: str) -> Config:
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; escape it in passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


class NewerDatabase(RuntimeError):
    """The database was migrated by a newer gridmap than this one."""


class SchemaNotReady(RuntimeError):
    """The database cannot serve gridmap yet: unreachable, or without (all of) this gridmap's migrations."""


def _newer(revision: str) -> str:
    return (
        f"the database is at a migration this gridmap does not know ({revision}); it was set up by a newer "
        "gridmap: update this checkout, or point GRIDMAP_DATABASE_URL at another database"
    )


def upgrade(database_url: str, revision: str = "head") -> None:
    try:
        command.upgrade(alembic_config(database_url), revision)
    except CommandError as exc:
        if "Can't locate revision" not in str(exc):
            raise
        raise NewerDatabase(_newer(str(exc))) from exc


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def stored_revision(database_url: str) -> str | None:
    """The migration the database is at, from Alembic's version table; None when it has no gridmap tables."""
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if conn.scalar(text("SELECT to_regclass('alembic_version')")) is None:
                return None
            return conn.scalar(text("SELECT version_num FROM alembic_version"))
    finally:
        engine.dispose()


def require_schema(database_url: str) -> None:
    """Raise `SchemaNotReady`, saying what to run, unless the database is at this gridmap's newest migration.

    Checked once, before any query: without it a new empty database fails deep in the first query that reads a
    table, with a traceback naming that table."""
    name = make_url(database_url).database
    try:
        revision = stored_revision(database_url)
    except OperationalError as exc:
        reason = (str(exc.orig or exc).strip().splitlines() or ["no answer"])[0]
        raise SchemaNotReady(
            f"cannot open the database {name!r} ({reason}): check GRIDMAP_DATABASE_URL, or run `{INIT_COMMAND}` "
            "to create it"
        ) from exc
    if revision is None:
        raise SchemaNotReady(f"the database {name!r} has no gridmap tables yet: run `{INIT_COMMAND}` first")
    scripts = ScriptDirectory.from_config(alembic_config(database_url))
    head = scripts.get_current_head()
    if revision == head:
        return
    if revision not in {script.revision for script in scripts.walk_revisions()}:
        raise SchemaNotReady(_newer(revision))
    raise SchemaNotReady(
        f"the database {name!r} is at migration {revision}, this gridmap needs {head}: run `{INIT_COMMAND}` "
        "(it migrates and keeps the data)"
    )
