"""Grids (网格) on the stored layers: check them, or draw them for a community that has none and store them.

gis.grids does the work (`check_grids`, `partition_community`); here the layers are read and, for a partition,
the new grids are stored with the same linking and tiling check as an imported grid file (api.layer_import), and
buildings and households are put in their grid. One transaction: a failed check stores nothing.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, text

from api import store
from api.errors import GridsConflict, GridsError, UnknownCommunity
from api.importers import link_buildings, record_run
from api.layer_import import LINK_SQL, check_stored_grids
from gis.errors import GridCodeError
from gis.grids import Partition, check_grids, partition_community

PARTITION_SOURCE = "gridmap:partition"

GRIDS_SQL = """
SELECT id::text AS source_id, community_id::text AS community_ref, code, code_profile, district_code,
       street_code, community_code, seq_code, name, geom AS geometry
FROM grids WHERE CAST(:community_id AS bigint) IS NULL OR community_id = :community_id ORDER BY code
"""
COMMUNITIES_SQL = """
SELECT c.id::text AS source_id, c.source_id AS stored_source_id, c.code, c.name, s.code AS street_code,
       c.geom AS geometry
FROM communities c LEFT JOIN streets s ON s.id = c.street_id
WHERE CAST(:community_id AS bigint) IS NULL OR c.id = :community_id ORDER BY c.id
"""
HOUSEHOLD_POINTS_SQL = """
SELECT h.grid_id::text AS grid_ref, h.geom AS geometry FROM households h
LEFT JOIN grids g ON g.id = h.grid_id
WHERE CAST(:community_id AS bigint) IS NULL OR g.community_id = :community_id
"""
ROADS_SQL = """
SELECT e.highway, e.geom AS geometry FROM walk_edges e, communities c
WHERE c.id = :community_id AND ST_Intersects(e.geom, c.geom)
"""
BUILDINGS_SQL = """
SELECT b.id, coalesce(nullif(p.households, 0), b.households, 0) AS households, b.geom AS geometry
FROM communities c
JOIN buildings b ON ST_Contains(c.geom, ST_PointOnSurface(b.geom))
LEFT JOIN (SELECT building_id, count(*) AS households FROM households GROUP BY building_id) p ON p.building_id = b.id
WHERE c.id = :community_id
"""


def _read(conn: Connection, sql: str, **params: object) -> gpd.GeoDataFrame:
    return gpd.read_postgis(text(sql), conn, geom_col="geometry", crs="EPSG:4326", params=params)


def check_stored(
    conn: Connection, *, community_id: int | None = None, min_households: int = 300, max_households: int = 500
) -> pd.DataFrame:
    """`check_grids` on the stored grids (of one community, or all), with household counts from the stored
    households; ``grid_id`` is the stored grid id. An unknown community is an `UnknownCommunity`."""
    grids = _read(conn, GRIDS_SQL, community_id=community_id)
    communities = _read(conn, COMMUNITIES_SQL, community_id=community_id)
    if community_id is not None and not len(communities):
        raise UnknownCommunity(f"no community {community_id}")
    if not len(grids) and not len(communities):  # nothing stored yet: nothing to check
        return pd.DataFrame(columns=["grid_id", "community", "code", "households", "area_m2", "problems", "ok"])
    households = _read(conn, HOUSEHOLD_POINTS_SQL, community_id=community_id)
    return check_grids(
        grids,
        communities,
        households=households,
        min_households=min_households,
        max_households=max_households,
    )


def partition_stored(
    conn: Connection,
    community_id: int,
    *,
    profile: str = "DB11_15",
    min_households: int = 300,
    max_households: int = 500,
) -> Partition:
    """Grids for one stored community from its roads and its buildings' households (nothing stored)."""
    communities = _read(conn, COMMUNITIES_SQL, community_id=community_id)
    if not len(communities):
        raise UnknownCommunity(f"no community {community_id}")
    community = communities.iloc[0]
    street_code = community["street_code"]
    if not street_code or not community["code"]:
        raise GridsError(
            f"community {community_id} needs its 3-digit code and a street with a 9-digit code to number grids"
        )
    roads = _read(conn, ROADS_SQL, community_id=community_id)
    buildings = _read(conn, BUILDINGS_SQL, community_id=community_id)
    try:
        return partition_community(
            communities.iloc[[0]].geometry,
            roads=roads,
            households=buildings,
            district_code=street_code[:6],
            street_code=street_code[6:],
            community_code=community["code"],
            profile=profile,
            community_ref=community["stored_source_id"],
            name_prefix=community["name"] or "",
            min_households=min_households,
            max_households=max_households,
            source=PARTITION_SOURCE,
        )
    except GridCodeError as exc:  # e.g. more grids than the code's sequence can number: targets too small
        raise GridsError(f"community {community_id}: {exc}") from exc


def store_partition(conn: Connection, community_id: int, partition: Partition) -> dict:
    """Store a partition for a community that has no grids yet, in the caller's transaction."""
    held = conn.scalar(text("SELECT count(*) FROM grids WHERE community_id = :c"), {"c": community_id})
    if held:
        raise GridsConflict(f"community {community_id} already has {held} grids: check them instead, or remove them")
    source = f"{PARTITION_SOURCE}:{community_id}"
    frame = partition.grids.assign(source=source)
    written = store.upsert_layer(conn, "grids", frame, source=source, resolve_refs=False)
    conn.execute(text(LINK_SQL["grids"]), {"source": source})
    conn.execute(
        text("UPDATE grids SET community_id = :c WHERE source = :source AND community_id IS DISTINCT FROM :c"),
        {"c": community_id, "source": source},
    )
    tiling = check_stored_grids(conn, source, f"partition of community {community_id}")
    link_buildings(conn)
    households = conn.execute(
        text(
            "UPDATE households h SET grid_id = b.grid_id FROM buildings b, grids g "
            "WHERE h.building_id = b.id AND b.grid_id = g.id AND g.source = :source "
            "AND h.grid_id IS DISTINCT FROM b.grid_id"
        ),
        {"source": source},
    ).rowcount
    report = {"grids": written.inserted, "households_linked": households, "gaps": tiling.problems}
    record_run(conn, source=source, kind="grids", path=None, counts={"grids": len(frame)}, report=report)
    return report
