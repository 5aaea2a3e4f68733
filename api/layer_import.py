"""`gridmap import-layer`: a user's grids, communities, buildings or service points into PostGIS.

gis.io.layers reads and checks the file (CRS, repair, codes, ids); here the rows are stored and linked to the
layers already in the database, and grids are checked to tile their communities. One transaction: when a
check fails, nothing of the file is stored.
"""

from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import IntegrityError

from api import store
from api.importers import link_buildings, record_run
from gis.errors import LayerError
from gis.io import TilingReport, check_grid_tiling, read_layer

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
        with engine.begin() as conn:
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
    written = store.upsert_layer(conn, kind, frame, source=source, resolve_refs=False)
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
