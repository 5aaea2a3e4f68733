"""`gridmap coverage` (file mode, no server), `refresh-coverage` and `coverage-map` (the stored area): walking
coverage (十五分钟服务圈) from the command line.

File mode lets planners run any area and checks the coverage method end to end; the stored commands run the code
the API runs (api.coverage_state, api.mapdata).
"""

import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import engine, fail, require_id, settings, write_map
from api.storage import SYSTEM, connect


def coverage_command(
    osm: Annotated[Path, typer.Option(help="OpenStreetMap file (.osm or .osm.pbf): walk network and buildings")],
    services: Annotated[Path, typer.Option(help="Service points: Point features with id, type, name")],
    out: Annotated[Path, typer.Option(help="Result CSV: one row per building × service type")],
    profile: Annotated[
        str, typer.Option(help="Walking profile (GRIDMAP_WALK_PROFILES): standard (1.2 m/s) or elderly (0.8 m/s)")
    ] = "standard",
    services_crs: Annotated[
        str, typer.Option(help="CRS of the service file when it declares none (GCJ-02 for AMap exports)")
    ] = "EPSG:4326",
    map_path: Annotated[Path | None, typer.Option("--map", help="Also write the planner map (HTML)")] = None,
    map_type: Annotated[str | None, typer.Option(help="Service type the map colours buildings by")] = None,
    suggest: Annotated[int, typer.Option(help="New sites to suggest on the map (candidate: every building)")] = 2,
) -> None:
    """Nearest service point and walking distance for every building and service type (十五分钟服务圈)."""
    from gis.coverage import profile_table, run  # lazy: see api/cli/__init__.py
    from gis.errors import OsmReadError
    from gis.io import read_layer, read_osm

    config = settings()
    profiles = config.walk_profiles
    if profile not in profiles:
        fail(f"--profile must be one of {', '.join(profiles)}; got {profile!r}")
    try:
        extract = read_osm(osm, progress=sys.stderr.isatty())
        points, _ = read_layer(services, kind="service_points", crs=services_crs)
    except (OsmReadError, ValueError) as exc:
        fail(str(exc))
    result = run(
        extract.nodes,
        extract.edges,
        extract.buildings,
        points,
        profiles=profiles,
        levels=config.coverage_levels,
        max_snap_m=config.max_snap_m,
    )
    graph = result.graph
    table = result.table()
    out.parent.mkdir(parents=True, exist_ok=True)
    profile_table(table, profile).to_csv(out, index=False, float_format="%.2f")
    budget = max(result.levels) * 60 * profiles[profile]
    for service_type, rows in table.groupby("service_type", sort=False):
        covered = int((rows["walk_m"] <= budget).sum())
        typer.echo(f"  {service_type}: {covered}/{len(rows)} buildings within {max(result.levels):g} min ({profile})")
    off_network = int((~result.building_report()["in_largest"]).sum())
    if off_network:
        typer.echo(f"  note: {off_network} building(s) lie off the main walk network (see the map)")
    typer.echo(f"coverage written: {out} ({len(table)} rows)")
    if map_path is not None:
        _write_map(map_path, extract, graph, result, table, points, profile, map_type, suggest)


def _write_map(map_path, extract, graph, result, table, points, profile, map_type, suggest) -> None:
    from gis.coverage import service_circles, suggest_sites  # lazy: see api/cli/__init__.py
    from maps.coverage import coverage_map

    service_type = map_type or str(points["type"].iloc[0])
    if service_type not in set(points["type"]):
        fail(f"--map-type {service_type!r} has no points; types: {', '.join(sorted(set(points['type'])))}")
    chosen = points[points["type"] == service_type]
    circles = service_circles(
        graph, chosen, profiles={profile: result.profiles[profile]}, levels=result.levels, max_snap_m=result.max_snap_m
    )
    candidates = extract.buildings.assign(geometry=extract.buildings.representative_point())
    suggestions = None
    if suggest > 0:
        suggestions = suggest_sites(
            result, candidates, service_type=service_type, profile=profile, level=max(result.levels), k=suggest
        )
    fmap = coverage_map(
        buildings=extract.buildings,
        service_points=points,
        table=table,
        service_type=service_type,
        profile=profile,
        levels=result.levels,
        circles=circles,
        suggestions=suggestions,
        osm_data=True,
    )
    write_map(fmap, map_path)


def refresh_command(
    force: Annotated[bool, typer.Option(help="Recompute even when no input changed")] = False,
) -> None:
    """Compute and store walking coverage of every building × service type if the network, buildings or points
    changed since the last run; print the residents left beyond the largest level per community and type."""
    from api.coverage_state import refresh  # lazy: see api/cli/__init__.py
    from api.errors import CoverageUnavailable
    from api.storage.coverage_stats import gap_stats

    config = settings()
    db = engine(config.database_url)
    typer.echo("coverage: checking the stored run (computing takes a few seconds per 100k buildings) …")
    try:
        run, state = refresh(db, config, force=force)
    except CoverageUnavailable as exc:
        fail(str(exc))
    counts = run["counts"]
    done = f"computed in {run['seconds']:.1f} s" if state is not None else "already current"
    typer.echo(
        f"coverage {done}: {counts['buildings']} buildings × {len(counts['types'])} types, "
        f"{counts['service_points']} service points (input {run['input_version']})"
    )
    level = max(config.coverage_levels)
    speed = config.walk_profiles.get("standard", next(iter(config.walk_profiles.values())))
    with connect(db, scope=SYSTEM) as conn:
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
    from api.coverage_state import CoverageCache  # lazy: see api/cli/__init__.py
    from api.errors import CoverageUnavailable
    from api.mapdata import planner_map_from_state
    from api.storage.maps import stored_service_types

    require_id("--community-id", community_id)
    config = settings()
    if profile not in config.walk_profiles:
        fail(f"--profile must be one of {', '.join(config.walk_profiles)}; got {profile!r}")
    db = engine(config.database_url)
    with connect(db, scope=SYSTEM) as conn:  # refuse an unknown type before computing (and storing) coverage
        present = stored_service_types(conn)
    if service_type not in present:
        fail(f"--type must be one of {', '.join(present) or '(no service points stored)'}; got {service_type!r}")
    try:
        state, _ = CoverageCache().get(db, config)
    except CoverageUnavailable as exc:
        fail(str(exc))
    if service_type not in state.coverage.fields:
        fail(f"--type must be one of {', '.join(state.coverage.fields)}; got {service_type!r}")
    if community_id is not None and not (state.buildings["community_id"] == community_id).any():
        fail(f"no buildings in community {community_id} (unknown id?)")
    out = out or config.output_dir / f"coverage-{service_type}.html"
    with connect(db, scope=SYSTEM) as conn:
        fmap = planner_map_from_state(
            state,
            conn,
            config,
            service_type=service_type,
            profile=profile,
            community_id=community_id,
            suggest=suggest,
            asset_base_url=None,
        )
    write_map(fmap, out)
