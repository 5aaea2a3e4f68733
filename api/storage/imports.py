"""Imports into PostGIS, each in one transaction: on any error nothing is stored.

The parsing and checking live in gis/ (pure); this module moves the checked frames into the tables and links the
layers to each other (buildings to grids and compounds) in SQL. A user's layer file (`gridmap import-layer`) is
linked to the layers already stored by source id or code, and grids are checked to tile their communities in the
same transaction: when a check fails, nothing of the file is stored.
"""

import json
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from api.residents import stored_residents
from api.storage import audit, commitments, layers, resident_imports, sample_history
from api.storage.session import SYSTEM, transaction
from gis.errors import LayerError
from gis.io import TilingReport, check_grid_tiling, read_layer, read_osm
from gis.sample import draw_commitments, load_settings

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
    with transaction(engine, scope=SYSTEM) as conn:
        for table, frame in [
            ("compounds", extract.compounds),
            ("buildings", extract.buildings),
            ("service_points", extract.service_points),
            ("walk_nodes", extract.nodes),
            ("walk_edges", extract.edges),
        ]:
            result = layers.upsert_layer(conn, table, frame, source=source)
            written[table] = {"inserted": result.inserted, "updated": result.updated}
        # A re-import of an edited area must not keep edges that are gone; edges first (they refer to nodes).
        written["walk_edges"]["deleted"] = layers.prune_missing(conn, "walk_edges", source=source)
        written["walk_nodes"]["deleted"] = layers.prune_missing(conn, "walk_nodes", source=source)
        link_buildings(conn)
        layers.analyze(conn, list(written))
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
    """Upsert several layers in dependency order (the order of ``layers.LAYERS``)."""
    counts = {}
    for table in layers.LAYERS:
        if table in frames:
            counts[table] = layers.upsert_layer(conn, table, frames[table], source=source).total
    if "grid_workers" in frames:
        counts["grid_worker_grids"] = layers.link_worker_grids(conn, frames["grid_workers"], source=source)
    return counts


SAMPLE_SOURCE = "sample"


def load_sample(
    engine: Engine,
    area,
    *,
    id_hash_key: bytes,
    history: bool = True,
    until: date | None = None,
    seed: int | None = None,
) -> dict[str, int]:
    """Load a generated sample area (gis.sample.SampleArea) with its residents and, with `history`, a year of field
    work up to `until` (default: today in China; gis.sample.generate_history, drawn with `seed`, default the
    settings' one); rows a previous sample had and this one lacks go.

    The sample is synthetic and owned by gridmap, so replacing it whole is safe; ids of unchanged rows stay. Its
    residents are stored as real ones are: the ID number as its hash under `id_hash_key` and masked, never in clear.
    Its field work replaces the previous sample's (api.storage.sample_history); what users logged stays.
    """
    frames = {table: getattr(area, table) for table in layers.LAYERS}
    people = stored_residents(area.residents, id_hash_key)
    with transaction(engine, scope=SYSTEM) as conn:
        if history:  # first: the prune below then finds no field work of the sample referring to what it deletes
            sample_history.clear_sample_history(conn, source=SAMPLE_SOURCE)
        counts = load_frames(conn, frames, source=SAMPLE_SOURCE)
        written = resident_imports.store_sample_residents(conn, people, source=SAMPLE_SOURCE)
        counts["residents"] = written["inserted"] + written["updated"] + written["unchanged"]
        for table in reversed(list(layers.LAYERS)):
            layers.prune_missing(conn, table, source=SAMPLE_SOURCE)
        day = until or sample_history.today()
        # party members' commitments (承诺/践诺) of last year and this year, up to the day
        pledges = draw_commitments(area.households, area.residents, day)
        counts["commitments"] = commitments.store_sample_commitments(conn, pledges, source=SAMPLE_SOURCE)
        layers.analyze(conn, [*layers.LAYERS, "grid_worker_grids", "residents"])
        if history:
            counts |= sample_history.store_sample_history(
                conn,
                area,
                until=day,
                seed=load_settings().seed if seed is None else seed,
                source=SAMPLE_SOURCE,
            )
        record_run(conn, source=SAMPLE_SOURCE, kind="sample", path=None, counts=counts, report={"residents": written})
        # The sample's ~1M ids at district scale would make one 8 MB audit row: the source names them all.
        audit.record(
            conn,
            user_id=None,
            login=None,
            action="import",
            object_table="residents",
            object_ids=[],
            detail={"source": SAMPLE_SOURCE, "rows": len(people), **written},
        )
    return counts


# Links from a file's references to rows of any source: by source id or by code.
LINK_SQL = {
    "communities": """
        UPDATE communities c SET street_id = st.id FROM staging_communities s, streets st
        WHERE c.source = :source AND c.source_id = s.source_id
          AND (st.source_id = s.street_ref OR st.code = s.street_ref)""",
    "grids": """
        UPDATE grids g SET community_id = coalesce(
            (SELECT c.id FROM communities c WHERE c.source_id = s.community_ref ORDER BY c.id LIMIT 1),
            (SELECT c.id FROM communities c JOIN streets st ON st.id = c.street_id
              WHERE st.code = g.district_code || g.street_code AND c.code = g.community_code ORDER BY c.id LIMIT 1),
            (SELECT c.id FROM communities c WHERE ST_Contains(c.geom, ST_PointOnSurface(g.geom))
              ORDER BY c.id LIMIT 1))
        FROM staging_grids s WHERE g.source = :source AND g.source_id = s.source_id""",
    "buildings": """
        UPDATE buildings b SET grid_id = g.id FROM staging_buildings s, grids g
        WHERE b.source = :source AND b.source_id = s.source_id AND (g.code = s.grid_ref OR g.source_id = s.grid_ref)""",
}

NO_COMMUNITY = "(no community)"


def _grids_to_check(conn: Connection, source: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The communities this import's grids fall in, with every grid of theirs from any source.

    Grids with no community are checked among themselves, against their own union as a stand-in community, so
    that overlaps are still found before communities are imported.
    """
    grids = gpd.read_postgis(
        text(
            "SELECT g.code, coalesce(g.community_id::text, :none) AS community_id, g.geom FROM grids g "
            "WHERE g.community_id IN (SELECT community_id FROM grids WHERE source = :source) "
            "OR (g.community_id IS NULL AND g.source = :source)"
        ),
        conn,
        geom_col="geom",
        params={"source": source, "none": NO_COMMUNITY},
    )
    communities = gpd.read_postgis(
        text(
            "SELECT id::text AS id, coalesce(name, code) AS name, geom FROM communities "
            "WHERE id IN (SELECT community_id FROM grids WHERE source = :source)"
        ),
        conn,
        geom_col="geom",
        params={"source": source},
    )
    orphans = grids[grids["community_id"] == NO_COMMUNITY]
    if len(orphans):
        stand_in = gpd.GeoDataFrame(
            {"id": [NO_COMMUNITY], "name": [NO_COMMUNITY]}, geometry=[orphans.union_all()], crs=grids.crs
        )
        communities = pd.concat([communities, stand_in.rename_geometry("geom")], ignore_index=True)
    return grids, communities


def check_stored_grids(conn: Connection, source: str, file_name: str) -> TilingReport:
    """Overlapping grids and grids crossing a community line are errors; gaps are reported."""
    grids, communities = _grids_to_check(conn, source)
    report = check_grid_tiling(grids, communities, community_key="community_id", community_id="id", grid_id="code")
    names = dict(zip(communities["id"], communities["name"], strict=True))
    errors = [
        f"grids {o.grid_a} and {o.grid_b} overlap by {o.area_m2:.0f} m² (community {names[o.community]})"
        for o in report.overlaps
    ] + [f"grid {o.grid} reaches {o.area_m2:.0f} m² outside community {names[o.community]}" for o in report.outside]
    if errors:
        raise LayerError(
            f"{file_name}: " + "; ".join(errors[:5]) + (f"; and {len(errors) - 5} more" if len(errors) > 5 else "")
        )
    report.gaps = [gap for gap in report.gaps if gap.community != NO_COMMUNITY]
    return report


def import_layer(
    engine: Engine,
    path: Path,
    *,
    kind: str,
    crs: str | None,
    source: str | None = None,
    **read_options,
) -> dict:
    """Read, check and store one layer file; returns the counts and what was repaired or found."""
    frame, report = read_layer(path, kind=kind, crs=crs, **read_options)
    source = source or str(frame["source"].iloc[0])
    result: dict = {"source": source, "kind": kind, "features": len(frame), "notes": list(report.notes)}
    result["repair"] = report.repair.summary()
    try:
        with transaction(engine, scope=SYSTEM) as conn:
            _store(conn, frame, kind=kind, source=source, path=path, result=result)
    except IntegrityError as exc:
        # e.g. a grid code that another source already holds; the database says which key.
        detail = getattr(exc.orig, "diag", None)
        raise LayerError(
            f"{path.name}: {getattr(detail, 'message_detail', None) or 'conflicts with stored rows'}"
        ) from None
    return result


def _store(conn: Connection, frame: gpd.GeoDataFrame, *, kind: str, source: str, path: Path, result: dict) -> None:
    """Upsert, link to the stored layers, check grids; the caller's transaction rolls back on any error."""
    written = layers.upsert_layer(conn, kind, frame, source=source, resolve_refs=False)
    result.update(inserted=written.inserted, updated=written.updated)
    if kind in LINK_SQL:
        conn.execute(text(LINK_SQL[kind]), {"source": source})
    if kind == "grids":
        tiling = check_stored_grids(conn, source, path.name)
        gaps_only = TilingReport(tiling.n_communities, tiling.n_grids, tiling.tolerance_m2, gaps=tiling.gaps)
        result["gaps"] = gaps_only.problems
        result["without_community"] = conn.scalar(
            text("SELECT count(*) FROM grids WHERE source = :source AND community_id IS NULL"), {"source": source}
        )
    if kind in ("grids", "buildings"):
        link_buildings(conn)
    record_run(conn, source=source, kind=kind, path=path, counts={kind: len(frame)}, report=result)
