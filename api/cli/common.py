"""What every command shares: the one error exit, the settings, and an engine on a database that has the schema."""

from pathlib import Path
from typing import Any, NoReturn

import typer

from api.errors import InsecureConfiguration
from api.settings import Settings, id_hash_key
from api.storage import Engine
from api.storage.database import DB_INT_MAX, make_engine
from api.storage.migrate import SchemaNotReady, require_schema


def fail(message: str) -> NoReturn:
    """The one way a command stops on a user's error: the message on stderr, exit code 2, no traceback."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def require_id(option: str, value: int | None) -> None:
    """Refuse in one line a value that cannot be a stored id, instead of sending it to the database."""
    if value is not None and not 1 <= value <= DB_INT_MAX:
        fail(f"{option} must be a stored id between 1 and {DB_INT_MAX}; got {value}")


def write_map(fmap: Any, path: Path, detail: str = "") -> None:
    """Render a folium map (`maps.render_html`: data never a template) to one self-contained HTML file; say where."""
    from maps import render_html  # lazy: see api/cli/__init__.py

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(fmap), encoding="utf-8")
    typer.echo(f"map written: {path}{detail}")


def settings() -> Settings:
    return Settings()


def hash_key() -> bytes:
    """The key of ID-number hashes (api.settings.id_hash_key), or the one-line exit saying what to set."""
    try:
        return id_hash_key(settings())
    except InsecureConfiguration as exc:
        fail(str(exc))


def require_database(database_url: str) -> None:
    """Stop with one line when the database lacks gridmap's tables or cannot be reached, rather than with a
    traceback from the first query that reads a table."""
    try:
        require_schema(database_url)
    except SchemaNotReady as exc:
        fail(str(exc))


def engine(database_url: str | None = None) -> Engine:
    """An engine on `database_url` (default GRIDMAP_DATABASE_URL), once the database is known to be ready."""
    url = database_url or settings().database_url
    require_database(url)
    return make_engine(url)
