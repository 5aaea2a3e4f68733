"""Grids (网格) in the database: the layers a check or a partition reads, and a partition stored.

A partition is stored with the same linking and tiling check as an imported grid file (api.storage.imports), and
buildings and households are put in their grid; in the caller's transaction, so a failed check stores nothing.
"""

from __future__ import annotations

import geopandas as gpd
from sqlalchemy import Connection, text

from api.errors import GridsConflict
from api.storage import layers
from api.storage.filters import optional
from api.storage.imports import LINK_SQL, check_stored_grids, link_buildings, record_run
from gis.grids import Partition

PARTITION_SOURCE = "gridmap:partition"

GRIDS_SQL = """
SELECT id::text AS source_id, community_id::text AS community_ref, code, code_profile, district_code,
       street_code, community_code, seq_code, name, geom AS geometry
FROM grids WHERE {community} ORDER BY code
""".format(community=optional("community_id", "community_id"))
COMMUNITIES_SQL = """
SELECT c.id::text AS source_id, c.source_id AS stored_source_id, c.code, c.name, s.code AS street_code,
       c.geom AS geometry
FROM communities c LEFT JOIN streets s ON s.id = c.street_id
WHERE {community} ORDER BY c.id
""".format(community=optional("c.id", "community_id"))
HOUSEHOLD_POINTS_SQL = """
SELECT h.grid_id::text AS grid_ref, h.geom AS geometry FROM households h
LEFT JOIN grids g ON g.id = h.grid_id
WHERE {community}
""".format(community=optional("g.community_id", "community_id"))
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


def read_grids(conn: Connection, community_id: int | None) -> gpd.GeoDataFrame:
    """The stored grids (of one community, or all), with their code parts; ``source_id`` is the stored id."""
    return _read(conn, GRIDS_SQL, community_id=community_id)


def read_communities(conn: Connection, community_id: int | None) -> gpd.GeoDataFrame:
    """The stored communities (one, or all) with their street's code; ``source_id`` is the stored id."""
    return _read(conn, COMMUNITIES_SQL, community_id=community_id)


def read_household_points(conn: Connection, community_id: int | None) -> gpd.GeoDataFrame:
    """Each stored household's point and grid (of one community's grids, or all)."""
    return _read(conn, HOUSEHOLD_POINTS_SQL, community_id=community_id)


def read_roads(conn: Connection, community_id: int) -> gpd.GeoDataFrame:
    """The walk edges crossing a community, with their OSM highway class."""
    return _read(conn, ROADS_SQL, community_id=community_id)


def read_buildings(conn: Connection, community_id: int) -> gpd.GeoDataFrame:
    """A community's buildings with their households (counted, or the building's own figure)."""
    return _read(conn, BUILDINGS_SQL, community_id=community_id)


def store_partition(conn: Connection, community_id: int, partition: Partition) -> dict:
    """Store a partition for a community that has no grids yet, in the caller's transaction."""
    held = conn.scalar(text("SELECT count(*) FROM grids WHERE community_id = :c"), {"c": community_id})
    if held:
        raise GridsConflict(f"community {community_id} already has {held} grids: check them instead, or remove them")
    source = f"{PARTITION_SOURCE}:{community_id}"
    frame = partition.grids.assign(source=source)
    written = layers.upsert_layer(conn, "grids", frame, source=source, resolve_refs=False)
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
