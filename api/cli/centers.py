"""`gridmap centers` (file mode: an OSM file and a household file, no server), `assign-centers` and
`centers-map` (the stored area): 党员中心户 assignment from the command line.

Communities run file mode on any area before their data is in PostGIS; it is also how the assignment is checked end
to end on real streets (api.cli.centers_file reads and assigns). The stored commands run the code the API runs
(api.stored_centers, api.mapdata).
"""

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import engine, fail, require_id, settings, write_map
from api.storage import SYSTEM, connect

MAX_LISTED_LINES = 20  # moves, suggestions and reasons printed before "… and N more"


def centers_command(
    osm: Annotated[Path, typer.Option(help="OpenStreetMap file (.osm or .osm.pbf): the walk network")],
    households: Annotated[
        Path, typer.Option(help="Households: Point features with id, grid_id, is_center, optional capacity")
    ],
    out: Annotated[Path, typer.Option(help="Result CSV: household_id, center_id, walk_m, grid_id, status, reason")],
    map_path: Annotated[Path | None, typer.Option("--map", help="Also write the 中心户 map (HTML)")] = None,
    previous: Annotated[
        Path | None, typer.Option(help="An earlier result CSV: keep its pairs where still feasible, print who moved")
    ] = None,
    households_crs: Annotated[
        str, typer.Option(help="CRS of the household file when it declares none (GCJ-02 for AMap exports)")
    ] = "EPSG:4326",
) -> None:
    """Assign every household to a center household (党员中心户) of its grid: capacities kept, total walk minimal."""
    from api.cli import centers_file as files  # lazy: see api/cli/__init__.py
    from gis.errors import LayerError, OsmReadError
    from gis.io import read_osm
    from maps.centers import centers_map

    started = time.perf_counter()
    try:
        frame = files.read_households(households, crs=households_crs)
        before = files.read_previous(previous) if previous is not None else None
        extract = read_osm(osm, progress=sys.stderr.isatty())
    except (OsmReadError, LayerError) as exc:
        fail(str(exc))
    if not len(extract.edges):
        fail(f"{osm.name}: no walkable ways in the file, so there is no walk network to assign on")
    done = files.assign(extract, frame, before, max_snap_m=settings().max_snap_m)
    result, suggestions = done.assignment, done.suggestions
    table = files.result_table(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.3f")
    _print_summary(result, files.center_loads(result, frame), done)
    if suggestions is not None:
        _print_suggestions(suggestions, len(result.uncovered))
    if previous is not None:
        _print_moves(result, previous)
    typer.echo(f"centers written: {out} ({len(table)} rows) in {time.perf_counter() - started:.1f} s")
    if map_path is not None:
        fmap = centers_map(households=frame, table=result.households, suggestions=suggestions, osm_data=True)
        write_map(fmap, map_path)


def assign_centers_command(
    stable: Annotated[bool, typer.Option(help="Keep the stored pairs where still possible")] = True,
) -> None:
    """Assign every stored household to a 党员中心户 of its grid (exact; capacities kept) and store the result."""
    from api.errors import CentersUnavailable
    from api.stored_centers import assign_and_store  # lazy: see api/cli/__init__.py

    db = engine()
    typer.echo("中心户: assigning households on the walk network …")
    try:
        run_id, run = assign_and_store(db, stable=stable, settings=settings())
    except CentersUnavailable as exc:
        fail(str(exc))
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
    from api.mapdata import centers_map_from_db  # lazy: see api/cli/__init__.py
    from api.storage.maps import count_map_households

    for option, value in (("--community-id", community_id), ("--grid-id", grid_id)):
        require_id(option, value)
    config = settings()
    out = out or config.output_dir / "centers.html"
    with connect(engine(config.database_url), scope=SYSTEM) as conn:
        if count_map_households(conn, community_id=community_id, grid_id=grid_id) == 0:
            fail("no households to draw (wrong community or grid id?)")
        fmap, drawn = centers_map_from_db(
            conn, community_id=community_id, grid_id=grid_id, tiles=config.base_map, asset_base_url=None
        )
    write_map(fmap, out, f" ({drawn} households)")


def _more(n: int) -> None:
    if n > MAX_LISTED_LINES:
        typer.echo(f"    … and {n - MAX_LISTED_LINES} more")


def _print_summary(result: Any, loads: Any, done: Any) -> None:
    table = result.households
    status = table["status"]
    n_centers = int((status == "center").sum())
    assigned = int(((status != "center") & table["center_id"].notna()).sum())
    uncovered = result.uncovered
    full = int((loads["load"] >= loads["capacity"]).sum())
    typer.echo(
        f"households: {len(table)} in {table['grid_id'].nunique()} grids; centers {n_centers}, "
        f"capacity {int(loads['capacity'].sum())}"
    )
    typer.echo(f"covered: {n_centers + assigned} ({n_centers} centers themselves, {assigned} assigned)")
    typer.echo(f"uncovered: {len(uncovered)}")
    reasons = uncovered["reason"].value_counts()
    for reason, count in reasons.head(MAX_LISTED_LINES).items():
        typer.echo(f"    {count} × {reason}")
    _more(len(reasons))
    typer.echo(f"total walk: {result.total_walk_m:.1f} m (mean {result.total_walk_m / max(assigned, 1):.1f} m)")
    typer.echo(f"centers at capacity: {full} of {len(loads)}")
    if done.off_network:
        typer.echo(
            f"  note: {done.off_network} household(s) lie more than {done.max_snap_m:g} m from every road "
            "(not on the walk network)"
        )
    for note in result.notes:
        typer.echo(f"  note: {note}")


def _print_suggestions(suggestions: Any, n_uncovered: int) -> None:
    picks = suggestions.centers
    covered = int(picks["covers"].sum()) if len(picks) else 0
    typer.echo(f"suggested new centers (建议新增中心户): {len(picks)}, covering {covered} of {n_uncovered} uncovered")
    for row in picks.head(MAX_LISTED_LINES).itertuples(index=False):
        typer.echo(
            f"    grid {row.grid_id} #{row.rank}: household {row.household_id} covers {row.covers} "
            f"(walk {row.walk_m:.0f} m)"
        )
    _more(len(picks))
    if len(suggestions.unresolved):
        typer.echo(f"  {len(suggestions.unresolved)} uncovered household(s) no suggestion covers")


def _print_moves(result: Any, previous: Path) -> None:
    moves = result.moves
    typer.echo(f"moved since {previous.name}: {len(moves)}")
    for row in moves.head(MAX_LISTED_LINES).itertuples(index=False):
        new = "uncovered" if row.center_id is None or row.center_id != row.center_id else row.center_id
        typer.echo(f"    {row.household_id}: {row.previous_center_id} → {new} ({row.reason})")
    _more(len(moves))
