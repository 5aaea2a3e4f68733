"""`gridmap refresh-coverage` and `gridmap coverage-map`: the stored coverage (十五分钟服务圈) from the command line.

The same code the API runs (api.coverage_store, api.mapdata); file mode without a database is `gridmap coverage`.
"""

from pathlib import Path
from typing import Annotated

import typer

from api.settings import Settings


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def refresh_command(
    force: Annotated[bool, typer.Option(help="Recompute even when no input changed")] = False,
) -> None:
    """Compute and store walking coverage of every building × service type if the network, buildings or points
    changed since the last run; print the residents left beyond the largest level per community and type."""
    from api.coverage_queries import gap_stats
    from api.coverage_store import CoverageUnavailable, refresh
    from api.db import make_engine

    settings = Settings()
    engine = make_engine(settings.database_url)
    typer.echo("coverage: checking the stored run (computing takes a few seconds per 100k buildings) …")
    try:
        run, state = refresh(engine, settings, force=force)
    except CoverageUnavailable as exc:
        _fail(str(exc))
    counts = run["counts"]
    done = f"computed in {run['seconds']:.1f} s" if state is not None else "already current"
    typer.echo(
        f"coverage {done}: {counts['buildings']} buildings × {len(counts['types'])} types, "
        f"{counts['service_points']} service points (input {run['input_version']})"
    )
    level = max(settings.coverage_levels)
    speed = settings.walk_profiles.get("standard", next(iter(settings.walk_profiles.values())))
    with engine.connect() as conn:
        rows = gap_stats(conn, by="community", profiles={"standard": speed}, levels=[level])
    communities: dict[str, list[str]] = {}
    for row in rows:
        gaps = communities.setdefault(row["group_name"] or "(no community)", [])
        if row["residents_uncovered"]:
            gaps.append(f"{row['service_type']} {row['residents_uncovered']}")
    typer.echo(f"residents beyond {level:g} min (standard walk), per community and type:")
    for name, gaps in communities.items():
        typer.echo(f"  {name}: {', '.join(gaps) if gaps else 'none'}")


def coverage_map_command(
    service_type: Annotated[str, typer.Option("--type", help="Service type the buildings are coloured by")] = (
        "party_center"
    ),
    profile: Annotated[str, typer.Option(help="Walking profile (standard, elderly)")] = "standard",
    community_id: Annotated[int | None, typer.Option(help="Only this community's buildings")] = None,
    suggest: Annotated[int, typer.Option(help="New sites to suggest (0: none)")] = 2,
    out: Annotated[Path | None, typer.Option(help="Output HTML (default: <output_dir>/coverage-<type>.html)")] = None,
) -> None:
    """Write the planner map of the stored area as one self-contained HTML file."""
    from api.coverage_state import CoverageCache
    from api.coverage_store import CoverageUnavailable
    from api.db import make_engine
    from api.mapdata import planner_map_from_state, stored_service_types
    from api.params import id_problem
    from maps import render_html

    if problem := id_problem("--community-id", community_id):
        _fail(problem)
    settings = Settings()
    if profile not in settings.walk_profiles:
        _fail(f"--profile must be one of {', '.join(settings.walk_profiles)}; got {profile!r}")
    engine = make_engine(settings.database_url)
    with engine.connect() as conn:  # refuse an unknown type before computing (and storing) coverage
        present = stored_service_types(conn)
    if service_type not in present:
        _fail(f"--type must be one of {', '.join(present) or '(no service points stored)'}; got {service_type!r}")
    try:
        state, _ = CoverageCache().get(engine, settings)
    except CoverageUnavailable as exc:
        _fail(str(exc))
    if service_type not in state.coverage.fields:
        _fail(f"--type must be one of {', '.join(state.coverage.fields)}; got {service_type!r}")
    if community_id is not None and not (state.buildings["community_id"] == community_id).any():
        _fail(f"no buildings in community {community_id} (unknown id?)")
    out = out or settings.output_dir / f"coverage-{service_type}.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        fmap = planner_map_from_state(
            state,
            conn,
            settings,
            service_type=service_type,
            profile=profile,
            community_id=community_id,
            suggest=suggest,
            asset_base_url=None,
        )
    out.write_text(render_html(fmap), encoding="utf-8")
    typer.echo(f"map written: {out}")
