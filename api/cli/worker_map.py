"""`gridmap worker-map`: the worker map (网格员工作图) of one grid worker or party member as a self-contained HTML
file, drawn under that user's scope as /maps/worker draws it (in the file the forms are off: visits and hazards are
logged from the served page, which can reach gridmap)."""

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import engine, fail, settings, write_map
from api.storage import NOBODY, connect, user_scope


def worker_map_command(
    login: Annotated[str, typer.Argument(help="Login of a grid worker or party member")],
    out: Annotated[Path | None, typer.Option(help="Output HTML (default: <output_dir>/worker-<login>.html)")] = None,
) -> None:
    """Write the worker map of one grid worker or party member (their grids, buildings by visit status, open
    hazards and requests, today's walking order) as one self-contained HTML file."""
    from api.tour_graphs import TourGraphs  # lazy: see api/cli/__init__.py
    from api.worker_map import WORKER_ROLES, principal_for_login, worker_grid_ids, worker_map_from_db

    config = settings()
    db = engine(config.database_url)
    with connect(db, scope=NOBODY) as conn:
        principal = principal_for_login(conn, login)
    if principal is None:
        fail(f"no enabled account {login!r}")
    if principal.role not in WORKER_ROLES:
        fail(f"{login} is a {principal.role}: the worker map is a grid worker's or party member's")
    out = out or config.output_dir / f"worker-{principal.login}.html"
    with connect(db, scope=user_scope(principal.user_id)) as conn:
        grids = worker_grid_ids(conn, principal)
        if not grids:
            fail(f"{login} has no grid to draw")
        fmap = worker_map_from_db(conn, principal, config, TourGraphs(), api_base=None, asset_base_url=None)
    write_map(fmap, out, f" ({principal.role} {principal.login}, {len(grids)} grid(s))")
