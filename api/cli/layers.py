"""`gridmap import-osm`, `import-layer`, `sample`, `overview-map`: the stored layers in and the overview map out."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import engine, fail, hash_key, settings, write_map
from api.storage import SYSTEM, connect


def import_osm(
    path: Annotated[Path, typer.Argument(help="OpenStreetMap file (.osm or .osm.pbf)")],
    source: Annotated[str | None, typer.Option(help="Source name (default: osm:<file name>)")] = None,
) -> None:
    """Import walkable ways, buildings, service points and named compounds from OpenStreetMap."""
    from api.storage.imports import import_osm as run  # lazy: see api/cli/__init__.py
    from gis.errors import OsmReadError

    db = engine()
    try:
        result = run(db, path, source=source, progress=sys.stderr.isatty())
    except OsmReadError as exc:
        fail(str(exc))
    for table, figures in result["written"].items():
        typer.echo(f"  {table}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    typer.echo(
        f"imported: walkable_km={result['walkable_km']:.2f} buildings={result['buildings']} "
        f"service_points={result['service_points']}"
    )


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
    from api.storage.imports import import_layer as run  # lazy: see api/cli/__init__.py
    from gis.io import KINDS

    if kind not in KINDS:
        fail(f"--kind must be one of {', '.join(KINDS)}; got {kind!r}")
    db = engine()
    try:
        result = run(
            db,
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
        fail(f"{exc}\nnothing was stored")
    for note in result["notes"]:
        typer.echo(f"  note: {note}")
    typer.echo(f"  repaired: {result['repair']}")
    for gap in result.get("gaps", []):
        typer.echo(f"  gap: {gap}")
    if result.get("without_community"):
        typer.echo(f"  {result['without_community']} grid(s) lie in no stored community")
    typer.echo(f"imported: {kind}={result['features']} inserted={result['inserted']} updated={result['updated']}")


def sample(
    scale: Annotated[float, typer.Option(help="Area multiplier (1 = one street; see data/sample.toml)")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Random seed (default from data/sample.toml)")] = None,
    load: Annotated[bool, typer.Option(help="Load into the database")] = True,
    history: Annotated[
        bool, typer.Option("--history/--no-history", help="With a year of field work (visits, hazards, requests)")
    ] = True,
    until: Annotated[
        str | None, typer.Option(help="The day the year of field work ends, YYYY-MM-DD (default: today in China)")
    ] = None,
) -> None:
    """Generate the sample street (synthetic, the project's own) and load it, with a year of field work up to
    today: visits, hazards and residents' requests (docs/fieldwork.md, "Demo history")."""
    from datetime import date

    from api.storage.imports import load_sample  # lazy: see api/cli/__init__.py
    from gis.sample import generate_sample

    try:
        last_day = date.fromisoformat(until) if until else None
    except ValueError:
        fail(f"--until {until!r} is not a day (YYYY-MM-DD)")
    db = engine() if load else None  # refused before generating when the database is not set up
    key = hash_key() if load else b""  # and when its residents' ID numbers cannot be hashed
    area = generate_sample(seed=seed, scale=scale, progress=sys.stderr.isatty())
    residents = int(area.households["size"].sum())
    typer.echo(
        f"generated: residents={residents} households={len(area.households)} buildings={len(area.buildings)} "
        f"grids={len(area.grids)} communities={len(area.communities)} walk_nodes={len(area.walk_nodes)}"
    )
    if db is not None:
        counts = load_sample(db, area, id_hash_key=key, history=history, until=last_day, seed=seed)
        typer.echo("loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))


def overview_map(
    out: Annotated[Path | None, typer.Option(help="Output HTML (default: <output_dir>/overview.html)")] = None,
) -> None:
    """Write the overview map (grids, buildings, service points, compounds) as one self-contained HTML file."""
    from api.mapdata import overview_from_db  # lazy: see api/cli/__init__.py

    config = settings()
    db = engine(config.database_url)
    out = out or config.output_dir / "overview.html"
    with connect(db, scope=SYSTEM) as conn:
        fmap = overview_from_db(conn, tiles=config.base_map, asset_base_url=None)
    write_map(fmap, out)
