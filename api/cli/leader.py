"""`gridmap leader-map`: the leader map (诉求热力与热点) of the whole district or one community as one HTML file."""

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import engine, fail, require_id, settings, write_map
from api.storage import SYSTEM, connect


def leader_map_command(
    first: Annotated[str | None, typer.Option("--from", help="First day YYYY-MM-DD (default: 12 months ago)")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last day YYYY-MM-DD, inclusive (default: today)")] = None,
    community_id: Annotated[int | None, typer.Option(help="One community (default: every grid)")] = None,
    category: Annotated[str | None, typer.Option(help="A request category (service code; default: all)")] = None,
    out: Annotated[Path | None, typer.Option(help="Output HTML (default: <output_dir>/leader.html)")] = None,
) -> None:
    """Write the leader map: weekly heat of residents' requests, Gi* hotspots, hazards clustered, request closure
    and hazard overdue rate per grid; counts below 5 suppressed, no resident's data."""
    from api.errors import GridmapError  # lazy: see api/cli/__init__.py
    from api.leader_map import leader_map_from_db, leader_query, scope_grids

    require_id("--community-id", community_id)
    config = settings()
    out = out or config.output_dir / "leader.html"
    with connect(engine(config.database_url), scope=SYSTEM) as conn:
        try:
            query = leader_query(first, last, None if community_id is None else str(community_id), category)
            everything, grids = scope_grids(conn, 0, admin=True, community_id=query.community_id)
            fmap = leader_map_from_db(
                conn, grids, query, tiles=config.base_map, asset_base_url=None, form=False, user_grids=everything
            )
        except GridmapError as exc:
            fail(str(exc))
    write_map(fmap, out, f" ({len(grids)} grids, {query.span.label()})")
