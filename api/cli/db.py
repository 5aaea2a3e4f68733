"""`gridmap db …`, `serve` and `demo`: the database itself, the API server, and the whole tour for a new user."""

import os
import secrets
import socket
from pathlib import Path
from typing import Annotated

import typer

from api.cli import centers, coverage, layers, users, worker_map
from api.cli import leader as leader_cli
from api.cli.common import fail, require_database, settings
from api.errors import InsecureConfiguration
from api.storage import migrate
from api.storage.database import init_database

DEMO_SERVICE_TYPE = "elderly_care"  # the planner map the demo writes, for the elderly walking profile
DEMO_PROFILE = "elderly"
DEMO_WORKER = "demo-grid_worker"  # the demo account whose worker map the demo writes (api.cli.users.demo_users)


def db_init() -> None:
    """Create the database, PostGIS and pgRouting, and run the migrations (safe to run again)."""
    try:
        versions = init_database(settings().database_url)
    except Exception as exc:  # noqa: BLE001 - shown to the user, the URL's password is never printed
        fail(f"cannot set up the database: {exc}")
    typer.echo("database ready: " + ", ".join(f"{k} {v}" for k, v in versions.items()))


def db_upgrade(revision: str = "head") -> None:
    """Run migrations up to REVISION."""
    migrate.upgrade(settings().database_url, revision)


def db_downgrade(revision: str) -> None:
    """Run migrations down to REVISION ('base' drops every table)."""
    migrate.downgrade(settings().database_url, revision)


def _free_port(host: str, port: int) -> int:
    for candidate in range(port, port + 20):
        with socket.socket() as sock:
            if sock.connect_ex((host, candidate)) != 0:
                return candidate
    fail(f"no free port in {port}–{port + 19} on {host}")


def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=32, help="Server processes (default GRIDMAP_WORKERS, 1): ~ CPU cores")
    ] = None,
) -> None:
    """Start the API (OpenAPI docs at /docs, overview map at /maps/overview)."""
    import uvicorn  # lazy: see api/cli/__init__.py

    from api.main import create_app

    config = settings()
    require_database(config.database_url)
    host = host or config.host
    port = _free_port(host, port or config.port)
    workers = workers or config.workers
    if workers > 1 and config.secret_key is None and config.environment == "development":
        # One made-up key for all of this server's processes (a token signed by one is checked by another);
        # the children read it from the environment they inherit. Production requires a set key (create_app).
        os.environ["GRIDMAP_SECRET_KEY"] = secrets.token_urlsafe(48)
        config = settings()
    try:
        app = create_app(config)  # also checks the configuration before any process starts
    except InsecureConfiguration as exc:
        fail(str(exc))
    typer.secho(f"gridmap API: http://{host}:{port}/  (docs /docs, map /maps/overview, sign in /login)", bold=True)
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="warning")
    else:
        typer.echo(f"{workers} server processes")
        uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning")


def demo(
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the API afterwards")] = True,
    users_file: Annotated[
        Path, typer.Option(help="Where the demo accounts' passwords are written (readable by you only)")
    ] = users.DEMO_USERS_FILE,
) -> None:
    """Set up the database, load the sample street, compute its walking coverage and its 中心户 assignment, write
    the overview, planner, 中心户 and leader maps, make one account of each role, write the demo grid worker's map,
    and start the API."""
    db_init()
    layers.sample(scale=1.0, seed=None, load=True)
    layers.overview_map(out=None)
    coverage.refresh_command(force=False)
    coverage.coverage_map_command(
        service_type=DEMO_SERVICE_TYPE, profile=DEMO_PROFILE, community_id=None, suggest=2, out=None
    )
    centers.assign_centers_command(stable=True)
    centers.centers_map_command(community_id=None, grid_id=None, out=None)
    users.demo_users(users_file)
    leader_cli.leader_map_command(first=None, last=None, community_id=None, category=None, out=None)
    worker_map.worker_map_command(login=DEMO_WORKER, out=None)
    if serve_api:
        serve(host=None, port=None)
