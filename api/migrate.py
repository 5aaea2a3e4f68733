"""Run the Alembic migrations from code, so that the CLI and the tests share one path."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; escape it in passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


class NewerDatabase(RuntimeError):
    """The database was migrated by a newer gridmap than this one."""


def upgrade(database_url: str, revision: str = "head") -> None:
    try:
        command.upgrade(alembic_config(database_url), revision)
    except CommandError as exc:
        if "Can't locate revision" not in str(exc):
            raise
        raise NewerDatabase(
            f"the database is at a migration this gridmap does not know ({exc}); it was set up by a newer "
            "gridmap: update this checkout, or point GRIDMAP_DATABASE_URL at another database"
        ) from exc


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
