"""The ``gridmap`` command: set up the database, import, generate the sample area, render maps, serve."""

import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.centers_cli import centers_command
from api.coverage_cli import coverage_command
from api.coverage_db_cli import coverage_map_command, refresh_command
from api.grid_work_cli import (
    assign_centers_command,
    centers_map_command,
    check_grids_command,
    partition_grids_command,
)
from api.settings import Settings

app = typer.Typer(help="gridmap — 社区网格地图服务 (grid management and mapping on PostGIS).", no_args_is_help=True)
db_app = typer.Typer(help="Database: create, migrate.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.command("coverage")(coverage_command)
app.command("refresh-coverage")(refresh_command)
app.command("coverage-map")(coverage_map_command)
app.command("assign-centers")(assign_centers_command)
app.command("centers-map")(centers_map_command)
app.command("check-grids")(check_grids_command)
app.command("partition-grids")(partition_grids_command)
app.command("centers")(centers_command)


def _settings() -> Settings:
    return Settings()


def _engine():
    from api.db import make_engine

    return make_engine(_settings().database_url)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@db_app.command("init")
def db_init() -> None:
    """Create the database, PostGIS and pgRouting, and run the migrations (safe to run again)."""
    from api.db import init_database

    try:
        versions = init_database(_settings().database_url)
    except Exception as exc:  # noqa: BLE001 - shown to the user, the URL's password is never printed
        _fail(f"cannot set up the database: {exc}")
    typer.echo("database ready: " + ", ".join(f"{k} {v}" for k, v in versions.items()))


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Run migrations up to REVISION."""
    from api import migrate

    migrate.upgrade(_settings().database_url, revision)


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Run migrations down to REVISION ('base' drops every table)."""
    from api import migrate

    migrate.downgrade(_settings().database_url, revision)


@app.command("import-osm")
def import_osm(
    path: Annotated[Path, typer.Argument(help="OpenStreetMap file (.osm or .osm.pbf)")],
    source: Annotated[str | None, typer.Option(help="Source name (default: osm:<file name>)")] = None,
) -> None:
    """Import walkable ways, buildings, service points and named compounds from OpenStreetMap."""
    from api.importers import import_osm as run
    from gis.errors import OsmReadError

    try:
        result = run(_engine(), path, source=source, progress=sys.stderr.isatty())
    except OsmReadError as exc:
        _fail(str(exc))
    for table, figures in result["written"].items():
        typer.echo(f"  {table}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    typer.echo(
        f"imported: walkable_km={result['walkable_km']:.2f} buildings={result['buildings']} "
        f"service_points={result['service_points']}"
    )


@app.command("import-layer")
def import_layer(
    path: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage, Shapefile or CSV (lon/lat columns)")],
    kind: Annotated[str, typer.Option(help="grids | communities | buildings | service_points")],
    crs: Annotated[
        str | None, typer.Option(help="Source CRS: EPSG:4326, EPSG:4490, GCJ-02, BD-09, EPSG:… (if the file has none)")
    ] = None,
    id_field: Annotated[str, typer.Option(help="Property holding each feature's id")] = "id",
    lon_field: Annotated[str | None, typer.Option(help="CSV longitude column (default: detected)")] = None,
    lat_field: Annotated[str | None, typer.Option(help="CSV latitude column (default: detected)")] = None,
    code_profile: Annotated[str, typer.Option(help="Grid code profile: DB11_15 or CJT213_14")] = "DB11_15",
    layer: Annotated[str | None, typer.Option(help="Layer name inside a GeoPackage")] = None,
    source: Annotated[str | None, typer.Option(help="Source name (default: file:<file name>)")] = None,
) -> None:
    """Import grids, communities, buildings or service points from a file, checked, in one transaction."""
    from api.layer_import import import_layer as run
    from gis.io import KINDS

    if kind not in KINDS:
        _fail(f"--kind must be one of {', '.join(KINDS)}; got {kind!r}")
    try:
        result = run(
            _engine(),
            path,
            kind=kind,
            crs=crs,
            source=source,
            id_field=id_field,
            lon_field=lon_field,
            lat_field=lat_field,
            code_profile=code_profile,
            layer=layer,
        )
    except ValueError as exc:  # LayerError, CrsError, GridCodeError: messages name file, feature and problem
        _fail(f"{exc}\nnothing was stored")
    for note in result["notes"]:
        typer.echo(f"  note: {note}")
    typer.echo(f"  repaired: {result['repair']}")
    for gap in result.get("gaps", []):
        typer.echo(f"  gap: {gap}")
    if result.get("without_community"):
        typer.echo(f"  {result['without_community']} grid(s) lie in no stored community")
    typer.echo(f"imported: {kind}={result['features']} inserted={result['inserted']} updated={result['updated']}")


@app.command("sample")
def sample(
    scale: Annotated[float, typer.Option(help="Area multiplier (1 = one street; see data/sample.toml)")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Random seed (default from data/sample.toml)")] = None,
    load: Annotated[bool, typer.Option(help="Load into the database")] = True,
) -> None:
    """Generate the sample street (synthetic, the project's own) and load it."""
    from api.importers import load_sample
    from gis.sample import generate_sample

    area = generate_sample(seed=seed, scale=scale, progress=sys.stderr.isatty())
    residents = int(area.households["size"].sum())
    typer.echo(
        f"generated: residents={residents} households={len(area.households)} buildings={len(area.buildings)} "
        f"grids={len(area.grids)} communities={len(area.communities)} walk_nodes={len(area.walk_nodes)}"
    )
    if load:
        counts = load_sample(_engine(), area)
        typer.echo("loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


@app.command("overview-map")
def overview_map(
    out: Annotated[Path | None, typer.Option(help="Output HTML (default: <output_dir>/overview.html)")] = None,
) -> None:
    """Write the overview map (grids, buildings, service points, compounds) as one self-contained HTML file."""
    from api.mapdata import overview_from_db
    from maps import render_html

    settings = _settings()
    out = out or settings.output_dir / "overview.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    with _engine().connect() as conn:
        fmap = overview_from_db(conn, tiles=settings.tiles, asset_base_url=None)
    out.write_text(render_html(fmap), encoding="utf-8")
    typer.echo(f"map written: {out}")


def _free_port(host: str, port: int) -> int:
    for candidate in range(port, port + 20):
        with socket.socket() as sock:
            if sock.connect_ex((host, candidate)) != 0:
                return candidate
    _fail(f"no free port in {port}–{port + 19} on {host}")
    return port


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Start the API (OpenAPI docs at /docs, overview map at /maps/overview)."""
    import uvicorn

    from api.main import create_app

    settings = _settings()
    host = host or settings.host
    port = _free_port(host, port or settings.port)
    typer.secho(f"gridmap API: http://{host}:{port}/  (docs /docs, map /maps/overview)", bold=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@app.command("demo")
def demo(
    serve_api: Annotated[bool, typer.Option("--serve/--no-serve", help="Start the API afterwards")] = True,
) -> None:
    """Set up the database, load the sample street, compute its walking coverage, write the overview and planner
    maps and start the API."""
    db_init()
    sample(scale=1.0, seed=None, load=True)
    overview_map(out=None)
    refresh_command(force=False)
    coverage_map_command(service_type="elderly_care", profile="elderly", community_id=None, suggest=2, out=None)
    if serve_api:
        serve(host=None, port=None)


if __name__ == "__main__":
    app()
