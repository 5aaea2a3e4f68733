"""`gridmap check-grids` and `partition-grids`: 网格 on the stored area, with the code the API runs
(api.stored_grids)."""

from typing import Annotated

import typer

from api.cli.common import engine, fail, require_id
from api.storage import SYSTEM, connect, transaction


def check_grids_command(
    community_id: Annotated[int | None, typer.Option(help="Only this community")] = None,
    min_households: Annotated[int, typer.Option(help="Household target, low end")] = 300,
    max_households: Annotated[int, typer.Option(help="Household target, high end")] = 500,
) -> None:
    """Check the stored grids: gaps, overlaps, crossing community lines, codes, households off target."""
    from api.errors import GridsError  # lazy: see api/cli/__init__.py
    from api.stored_grids import check_stored

    require_id("--community-id", community_id)
    if not 1 <= min_households <= max_households:
        fail("the household target needs 1 ≤ --min-households ≤ --max-households")
    with connect(engine(), scope=SYSTEM) as conn:
        try:
            table = check_stored(
                conn, community_id=community_id, min_households=min_households, max_households=max_households
            )
        except GridsError as exc:
            fail(str(exc))
    for row in table[~table["ok"]].itertuples():
        typer.echo(f"  {row.code or '(gap)'}: {'; '.join(row.problems)}")
    typer.echo(f"checked: grids={len(table)} with_problems={int((~table['ok']).sum())}")


def partition_grids_command(
    community_id: Annotated[int, typer.Argument(help="Stored community id (GET /collections/communities/items)")],
    profile: Annotated[str, typer.Option(help="Grid code profile: DB11_15 or CJT213_14")] = "DB11_15",
    store: Annotated[bool, typer.Option(help="Store the grids (the community must have none)")] = False,
) -> None:
    """Draw grids of 300–500 households along a community's roads; print them, and store them with --store."""
    from api.errors import GridsError  # lazy: see api/cli/__init__.py
    from api.storage.grids import store_partition
    from api.stored_grids import partition_stored
    from gis.errors import LayerError

    require_id("COMMUNITY_ID", community_id)
    with transaction(engine(), scope=SYSTEM) as conn:
        try:
            result = partition_stored(conn, community_id, profile=profile)
            if store:
                store_partition(conn, community_id, result)
        except (GridsError, LayerError, ValueError) as exc:
            fail(f"{exc}; nothing was stored")
    for row in result.stats.itertuples():
        note = f"  ({row.note})" if row.note else ""
        typer.echo(f"  {row.code}: {row.households} households, {row.area_m2 / 1e4:.1f} ha{note}")
    typer.echo(f"partition: grids={len(result.stats)} stored={'yes' if store else 'no (add --store)'}")
