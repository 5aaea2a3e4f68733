"""`gridmap centers` in file mode: 党员中心户 assignment from an OSM file and a household file, no server.

Communities run it on any area before their data is in PostGIS; it is also how the assignment (gis/centers/assign.py) is
checked end to end on real streets. Households are Point features with ``id``, ``grid_id``, ``is_center`` and an
optional ``capacity`` (default 10), ``building`` (same building ≈ 0 m) and ``is_party_member`` (who may be
suggested as a new center; without it every household may). File mode has only ids: no names, no phones.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

MAX_LISTED_LINES = 20  # moves, suggestions and reasons printed before "… and N more"
GEOJSON_SUFFIXES = (".geojson", ".json")
TRUE_TEXT = {"true", "t", "yes", "y", "1"}
FALSE_TEXT = {"false", "f", "no", "n", "0"}


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
    from gis.errors import LayerError, OsmReadError
    from gis.io import read_osm

    started = time.perf_counter()
    try:
        frame = read_households(households, crs=households_crs)
        before = read_previous(previous) if previous is not None else None
        extract = read_osm(osm, progress=sys.stderr.isatty())
    except (OsmReadError, LayerError) as exc:
        _fail(str(exc))
    if not len(extract.edges):
        _fail(f"{osm.name}: no walkable ways in the file, so there is no walk network to assign on")
    done = assign(extract, frame, before)
    result, suggestions = done.assignment, done.suggestions
    table = result_table(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.3f")
    _print_summary(frame, done)
    if suggestions is not None:
        _print_suggestions(suggestions, len(result.uncovered))
    if before is not None:
        _print_moves(result, previous)
    typer.echo(f"centers written: {out} ({len(table)} rows) in {time.perf_counter() - started:.1f} s")
    if map_path is not None:
        from maps import render_html
        from maps.centers import centers_map

        fmap = centers_map(households=frame, table=result.households, suggestions=suggestions, osm_data=True)
        map_path.parent.mkdir(parents=True, exist_ok=True)
        map_path.write_text(render_html(fmap), encoding="utf-8")
        typer.echo(f"map written: {map_path}")


# --- reading ------------------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    """A property as text: None when missing or blank, whole numbers without '.0' (ids read as numbers)."""
    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value)).lower()
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, list | dict | tuple):
        return None
    text = str(value).strip()
    return text or None


def _flag(value: Any) -> bool | None:
    """true/false from a JSON boolean, 0/1 or text; None when it is neither (missing counts as false)."""
    text = _text(value)
    if text is None:
        return False
    return True if text.lower() in TRUE_TEXT else False if text.lower() in FALSE_TEXT else None


def _geojson(path: Path, frame: Any) -> Any:
    """The CRS the file declares (None when it declares none: GDAL says WGS84 for every GeoJSON), and RFC 7946
    feature ids as the ``id`` column when the properties have none (GDAL hides integer ones as FIDs)."""
    if path.suffix.lower() not in GEOJSON_SUFFIXES:
        return frame.crs
    try:
        data = json.loads(path.read_bytes())
    except ValueError:
        return frame.crs
    features = (data.get("features") or []) if isinstance(data, dict) else []
    if "id" not in frame.columns and len(features) == len(frame) and all("id" in f for f in features):
        frame["id"] = [f["id"] for f in features]
    return frame.crs if isinstance(data, dict) and data.get("crs") else None


def read_households(path: Path, *, crs: str | None = "EPSG:4326") -> Any:
    """The household file as a WGS84 GeoDataFrame: ``id``, ``grid_id`` (text), ``is_center`` (bool), ``capacity``
    (int, centers only; default 10), optional ``building`` and ``is_party_member``.

    Raises `gis.io.validate.LayerError` whose message starts with the file name, then names the feature and the problem
    (the CRS rule of gis/io/layers.py: a file that declares none is read in `crs`).
    """
    import geopandas as gpd
    import numpy as np
    import shapely

    from gis.centers import DEFAULT_CAPACITY
    from gis.crs import reconcile_crs, to_wgs84
    from gis.errors import CrsError, LayerError
    from gis.io import MAX_LISTED, check_geometries_present, check_geometry_types, check_in_china, feature_label

    def fail(bad: list[tuple[int, str]]) -> None:
        if bad:
            listed = "; ".join(f"{feature_label(raw, i, 'id')}: {why}" for i, why in bad[:MAX_LISTED])
            more = f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
            raise LayerError(f"{path.name}: {listed}{more}")

    if not path.is_file():
        raise LayerError(f"{path.name}: file not found ({path})")
    try:
        raw = gpd.read_file(path, engine="pyogrio")
    except Exception as exc:  # noqa: BLE001 - any reader failure means the same thing to the user
        raise LayerError(f"{path.name}: cannot read the file ({type(exc).__name__}: {exc})") from exc
    if raw.empty:
        raise LayerError(f"{path.name}: the file has no features")
    raw = raw.reset_index(drop=True)
    declared = _geojson(path, raw)
    columns = [c for c in raw.columns if c != raw.geometry.name]
    missing = [c for c in ("id", "grid_id", "is_center") if c not in raw.columns]
    if missing:
        raise LayerError(f"{path.name}: no {', '.join(repr(c) for c in missing)} property; properties are {columns}")
    try:
        check_geometries_present(raw, id_field="id")
        values = np.asarray(raw.geometry.values).copy()  # a one-point MultiPoint is a Point
        single = (shapely.get_type_id(values) == 4) & (shapely.get_num_geometries(values) == 1)
        values[single] = shapely.get_geometry(values[single], 0)
        raw = raw.set_geometry(gpd.GeoSeries(values, index=raw.index, crs=raw.crs))
        check_geometry_types(raw, ("Point",), id_field="id", layer="a household file")
        used, _ = reconcile_crs(declared, crs)
        wgs = to_wgs84(raw, used)
        check_in_china(wgs, id_field="id")
    except (LayerError, CrsError) as exc:
        raise LayerError(f"{path.name}: {exc}") from exc

    ids = [_text(v) for v in raw["id"]]
    fail([(i, "id is missing") for i, v in enumerate(ids) if v is None])
    seen: dict[str, int] = {}
    fail([(i, f"id {v!r} is also on feature {seen[v] + 1}") for i, v in enumerate(ids) if seen.setdefault(v, i) != i])
    grids = [_text(v) for v in raw["grid_id"]]
    fail([(i, "grid_id is missing: every household belongs to one grid") for i, g in enumerate(grids) if g is None])

    def flags(column: str) -> np.ndarray:
        values = [_flag(v) for v in raw[column]]
        fail([(i, f"{column} {raw[column][i]!r} is not true/false") for i, v in enumerate(values) if v is None])
        return np.asarray(values, dtype=bool)

    centers = flags("is_center")
    capacity = np.zeros(len(raw), dtype=np.int64)
    bad = []
    for i, value in enumerate(raw["capacity"] if "capacity" in raw else [None] * len(raw)):
        if not centers[i]:
            continue
        text = _text(value)
        number = float(text) if text is not None and _is_number(text) else None
        if text is None:
            capacity[i] = DEFAULT_CAPACITY
        elif number is None or not number.is_integer() or number <= 0:
            bad.append((i, f"capacity {text!r} of a center household must be a whole number ≥ 1"))
        else:
            capacity[i] = int(number)
    fail(bad)
    out = gpd.GeoDataFrame(
        {"id": ids, "grid_id": grids, "is_center": centers, "capacity": capacity},
        geometry=wgs.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    if "building" in raw:
        out["building"] = [_text(v) for v in raw["building"]]
    if "is_party_member" in raw:
        out["is_party_member"] = flags("is_party_member")
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_previous(path: Path) -> Any:
    """An earlier RESULT.csv as ``household_id``, ``center_id`` (text; NA where it was uncovered)."""
    import pandas as pd

    from gis.errors import LayerError

    if not path.is_file():
        raise LayerError(f"{path.name}: file not found ({path})")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except Exception as exc:  # noqa: BLE001
        raise LayerError(f"{path.name}: cannot read the file as CSV ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in ("household_id", "center_id") if c not in table.columns]
    if missing:
        raise LayerError(f"{path.name}: no {', '.join(missing)} column; columns are {list(table.columns)}")
    table = table[["household_id", "center_id"]].apply(lambda s: s.str.strip())
    empty = table.index[table["household_id"] == ""]
    if len(empty):
        raise LayerError(f"{path.name}: row {int(empty[0]) + 2}: household_id is missing")
    dup = table["household_id"][table["household_id"].duplicated()]
    if len(dup):
        raise LayerError(f"{path.name}: household_id {dup.iloc[0]!r} is listed more than once")
    return table.assign(center_id=table["center_id"].replace("", pd.NA))


# --- the assignment ------------------------------------------------------------------------------------------------


def assign(extract: Any, frame: Any, previous: Any | None) -> Any:
    """The 中心户 pipeline (`gis.centers.run`) on the file's network, households walking from their own points,
    snapping capped by the settings' ``max_snap_m`` (GRIDMAP_MAX_SNAP_M) as in the stored path."""
    from api.settings import get_settings
    from gis.centers import run

    return run(frame, extract.nodes, extract.edges, previous=previous, max_snap_m=get_settings().max_snap_m)


def result_table(result: Any) -> Any:
    """RESULT.csv: the contract columns first, then grid, status and reason (why uncovered or moved)."""
    table = result.households
    return table[["household_id", "center_id", "walk_m", "grid_id", "status", "reason"]]


def center_loads(result: Any, frame: Any) -> Any:
    """Per center household: households it looks after (itself not counted) and its capacity."""
    import pandas as pd

    table = result.households
    others = table[table["center_id"].notna() & (table["status"] != "center")]
    centers = frame.loc[frame["is_center"], ["id", "grid_id", "capacity"]].set_index("id")
    load = others["center_id"].value_counts().reindex(centers.index).fillna(0).astype(int)
    return pd.DataFrame(centers.assign(load=load))


# --- printing ------------------------------------------------------------------------------------------------------


def _more(n: int) -> None:
    if n > MAX_LISTED_LINES:
        typer.echo(f"    … and {n - MAX_LISTED_LINES} more")


def _print_summary(frame: Any, done: Any) -> None:
    result = done.assignment
    table = result.households
    status = table["status"]
    n_centers = int((status == "center").sum())
    assigned = int(((status != "center") & table["center_id"].notna()).sum())
    uncovered = result.uncovered
    loads = center_loads(result, frame)
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


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)
