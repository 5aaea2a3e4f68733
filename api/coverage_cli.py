"""`gridmap coverage` in file mode: walking coverage from an OSM file and a service-point file, no server.

Planners run it on any area; it is also how the coverage method is checked end to end.
"""

import sys
from pathlib import Path
from typing import Annotated

import typer


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
    from api.settings import get_settings
    from gis.coverage import profile_table, run
    from gis.errors import OsmReadError
    from gis.io import read_layer, read_osm

    settings = get_settings()
    profiles = settings.walk_profiles
    if profile not in profiles:
        _fail(f"--profile must be one of {', '.join(profiles)}; got {profile!r}")
    try:
        extract = read_osm(osm, progress=sys.stderr.isatty())
        points, _ = read_layer(services, kind="service_points", crs=services_crs)
    except (OsmReadError, ValueError) as exc:
        _fail(str(exc))
    result = run(
        extract.nodes,
        extract.edges,
        extract.buildings,
        points,
        profiles=profiles,
        levels=settings.coverage_levels,
        max_snap_m=settings.max_snap_m,
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
    from gis.coverage import service_circles, suggest_sites
    from maps import render_html
    from maps.coverage import coverage_map

    service_type = map_type or str(points["type"].iloc[0])
    if service_type not in set(points["type"]):
        _fail(f"--map-type {service_type!r} has no points; types: {', '.join(sorted(set(points['type'])))}")
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
    map_path.parent.mkdir(parents=True, exist_ok=True)
    map_path.write_text(render_html(fmap), encoding="utf-8")
    typer.echo(f"map written: {map_path}")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)
