"""`gridmap assign-centers`, `centers-map`, `check-grids`, `partition-grids`: 中心户 and 网格 on the stored area.

The same code the API runs (api.centers_store, api.grids_store); the file mode without a database is
`gridmap centers`.
"""

from pathlib import Path
from typing import Annotated

import typer

from api.settings import Settings


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _engine():
    from api.db import make_engine

    return make_engine(Settings().database_url)


def assign_centers_command(
    stable: Annotated[bool, typer.Option(help="Keep the stored pairs where still possible")] = True,
) -> None:
    """Assign every stored household to a 党员中心户 of its grid (exact; capacities kept) and store the result."""
    from api.centers_store import CentersUnavailable, assign_and_store

    typer.echo("中心户: assigning households on the walk network …")
    try:
        run_id, run = assign_and_store(_engine(), stable=stable, settings=Settings())
    except CentersUnavailable as exc:
        _fail(str(exc))
    c = run.counts
    typer.echo(
        f"assigned in {run.seconds:.1f} s (run {run_id}): households={c['households']} centers={c['centers']} "
        f"assigned={c['assigned']} uncovered={c['uncovered']} moved={c['moved']} total_walk_m={c['total_walk_m']:.0f}"
    )
    reasons = run.assignment.uncovered["reason"].value_counts()
    for reason, n in reasons.head(10).items():
        typer.echo(f"  uncovered: {n} × {reason}")
    if run.suggestions is not None and len(run.suggestions.centers):
        typer.echo(f"  {len(run.suggestions.centers)} party-member households suggested as new centers (see the API)")


def centers_map_command(
    community_id: Annotated[int | None, typer.Option(help="Only this community")] = None,
    grid_id: Annotated[int | None, typer.Option(help="Only this grid")] = None,
    out: Annotated[Path | None, typer.Option(help="Output HTML (default: <output_dir>/centers.html)")] = None,
) -> None:
    """Write the 中心户 map of the stored assignment as one self-contained HTML file."""
    from api.mapdata import centers_map_from_db, count_map_households
    from api.params import id_problem
    from maps import render_html

    for option, value in (("--community-id", community_id), ("--grid-id", grid_id)):
        if problem := id_problem(option, value):
            _fail(problem)
    settings = Settings()
    out = out or settings.output_dir / "centers.html"
    with _engine().connect() as conn:
        if count_map_households(conn, community_id=community_id, grid_id=grid_id) == 0:
            _fail("no households to draw (wrong community or grid id?)")
        fmap, drawn = centers_map_from_db(
            conn, community_id=community_id, grid_id=grid_id, tiles=settings.tiles, asset_base_url=None
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(fmap), encoding="utf-8")
    typer.echo(f"map written: {out} ({drawn} households)")


def check_grids_command(
    community_id: Annotated[int | None, typer.Option(help="Only this community")] = None,
    min_households: Annotated[int, typer.Option(help="Household target, low end")] = 300,
    max_households: Annotated[int, typer.Option(help="Household target, high end")] = 500,
) -> None:
    """Check the stored grids: gaps, overlaps, crossing community lines, codes, households off target."""
    from api.grids_store import GridsError, check_stored
    from api.params import id_problem

    if problem := id_problem("--community-id", community_id):
        _fail(problem)
    if not 1 <= min_households <= max_households:
        _fail("the household target needs 1 ≤ --min-households ≤ --max-households")
    with _engine().connect() as conn:
        try:
            table = check_stored(
                conn, community_id=community_id, min_households=min_households, max_households=max_households
            )
        except GridsError as exc:
            _fail(str(exc))
    for row in table[~table["ok"]].itertuples():
        typer.echo(f"  {row.code or '(gap)'}: {'; '.join(row.problems)}")
    typer.echo(f"checked: grids={len(table)} with_problems={int((~table['ok']).sum())}")


def partition_grids_command(
    community_id: Annotated[int, typer.Argument(help="Stored community id (GET /collections/communities/items)")],
    profile: Annotated[str, typer.Option(help="Grid code profile: DB11_15 or CJT213_14")] = "DB11_15",
    store: Annotated[bool, typer.Option(help="Store the grids (the community must have none)")] = False,
) -> None:
    """Draw grids of 300–500 households along a community's roads; print them, and store them with --store."""
    from api.grids_store import GridsError, partition_stored, store_partition
    from api.params import id_problem
    from gis.errors import LayerError

    if problem := id_problem("COMMUNITY_ID", community_id):
        _fail(problem)
    with _engine().begin() as conn:
        try:
            result = partition_stored(conn, community_id, profile=profile)
            if store:
                store_partition(conn, community_id, result)
        except (GridsError, LayerError, ValueError) as exc:
            _fail(f"{exc}; nothing was stored")
    for row in result.stats.itertuples():
        note = f"  ({row.note})" if row.note else ""
        typer.echo(f"  {row.code}: {row.households} households, {row.area_m2 / 1e4:.1f} ha{note}")
    typer.echo(f"partition: grids={len(result.stats)} stored={'yes' if store else 'no (add --store)'}")
