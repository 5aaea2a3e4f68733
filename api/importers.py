"""Imports into PostGIS, each in one transaction: on any error nothing is stored.

The parsing and checking live in gis/ (pure); this module only moves the checked frames into the tables and
links the layers to each other (buildings to grids and compounds) in SQL.
"""

import json
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, text

from api import store
from gis.io import read_osm

OSM_SUFFIXES = (".osm.pbf", ".osm", ".pbf", ".osm.xml")


def osm_source(path: Path) -> str:
    """One source per area: 'x.osm' and 'x.osm.pbf' hold the same data and update the same rows."""
    name = path.name
    for suffix in OSM_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return f"osm:{name}"


def record_run(conn: Connection, *, source: str, kind: str, path: Path | None, counts: dict, report: dict) -> None:
    conn.execute(
        text(
            "INSERT INTO import_runs (source, kind, file_name, counts, report) "
            "VALUES (:source, :kind, :file, CAST(:counts AS jsonb), CAST(:report AS jsonb))"
        ),
        {
            "source": source,
            "kind": kind,
            "file": path.name if path else None,
            "counts": json.dumps(counts),
            "report": json.dumps(report, default=str),
        },
    )


def link_buildings(conn: Connection) -> None:
    """Give buildings without a grid or compound the one that contains their point on surface."""
    conn.execute(
        text(
            "UPDATE buildings b SET grid_id = g.id FROM grids g "
            "WHERE b.grid_id IS NULL AND ST_Contains(g.geom, ST_PointOnSurface(b.geom))"
        )
    )
    conn.execute(
        text(
            "UPDATE buildings b SET compound_id = c.id FROM compounds c "
            "WHERE b.compound_id IS NULL AND ST_Contains(c.geom, ST_PointOnSurface(b.geom))"
        )
    )


def import_osm(engine: Engine, path: Path, *, source: str | None = None, progress: bool = False) -> dict:
    """Import walk network, buildings, service points and compounds from an OSM file.

    Returns the whole-file figures (walkable km, buildings, service points) and the rows written per table.
    """
    extract = read_osm(path, progress=progress)
    source = source or osm_source(path)
    written: dict[str, dict[str, int]] = {}
    with engine.begin() as conn:
        for table, frame in [
            ("compounds", extract.compounds),
            ("buildings", extract.buildings),
            ("service_points", extract.service_points),
            ("walk_nodes", extract.nodes),
            ("walk_edges", extract.edges),
        ]:
            result = store.upsert_layer(conn, table, frame, source=source)
            written[table] = {"inserted": result.inserted, "updated": result.updated}
        # A re-import of an edited area must not keep edges that are gone; edges first (they refer to nodes).
        written["walk_edges"]["deleted"] = store.prune_missing(conn, "walk_edges", source=source)
        written["walk_nodes"]["deleted"] = store.prune_missing(conn, "walk_nodes", source=source)
        link_buildings(conn)
        store.analyze(conn, list(written))
        summary = {
            "walkable_km": round(extract.walkable_km, 2),
            "walkable_ways": extract.walkable_ways,
            "buildings": len(extract.buildings),
            "service_points": len(extract.service_points),
            "compounds": len(extract.compounds),
            "walk_nodes": len(extract.nodes),
            "walk_edges": len(extract.edges),
        }
        record_run(conn, source=source, kind="osm", path=path, counts=summary, report=written)
    return {"source": source, **summary, "written": written}


def load_frames(conn: Connection, frames: dict[str, pd.DataFrame], *, source: str) -> dict[str, int]:
    """Upsert several layers in dependency order (the order of ``store.LAYERS``)."""
    counts = {}
    for table in store.LAYERS:
        if table in frames:
            counts[table] = store.upsert_layer(conn, table, frames[table], source=source).total
    if "grid_workers" in frames:
        counts["grid_worker_grids"] = store.link_worker_grids(conn, frames["grid_workers"], source=source)
    return counts


SAMPLE_SOURCE = "sample"


def load_sample(engine: Engine, area) -> dict[str, int]:
    """Load a generated sample area (gis.sample.SampleArea); rows a previous sample had and this one lacks go.

    The sample is synthetic and owned by gridmap, so replacing it whole is safe; ids of unchanged rows stay.
    """
    frames = {table: getattr(area, table) for table in store.LAYERS}
    with engine.begin() as conn:
        counts = load_frames(conn, frames, source=SAMPLE_SOURCE)
        for table in reversed(list(store.LAYERS)):
            store.prune_missing(conn, table, source=SAMPLE_SOURCE)
        store.analyze(conn, [*store.LAYERS, "grid_worker_grids"])
        record_run(conn, source=SAMPLE_SOURCE, kind="sample", path=None, counts=counts, report={})
    return counts
