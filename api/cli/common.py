"""What every command shares: the one error exit, the settings, an engine."""

from typing import NoReturn

import typer
from sqlalchemy import Engine

from api.db import DB_INT_MAX, make_engine
from api.settings import Settings


def fail(message: str) -> NoReturn:
    """The one way a command stops on a user's error: the message on stderr, exit code 2, no traceback."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def require_id(option: str, value: int | None) -> None:
    """Refuse in one line a value that cannot be a stored id, instead of sending it to the database."""
    if value is not None and not 1 <= value <= DB_INT_MAX:
        fail(f"{option} must be a stored id between 1 and {DB_INT_MAX}; got {value}")


def settings() -> Settings:
    return Settings()


def engine(database_url: str | None = None) -> Engine:
    """An engine on `database_url` (default GRIDMAP_DATABASE_URL)."""
    return make_engine(database_url or settings().database_url)
