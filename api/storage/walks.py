"""The walk network around some grids, for a due list's walking order (api.tour_graphs): the edges within a margin
of the grids' extent, the nodes they join, and a point inside each building of the grids. No personal data."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import shapely
from sqlalchemy import Connection, text

TOUR_LAYERS = ("walk_nodes", "walk_edges", "buildings", "grids")
VERSIONS_SQL = "SELECT layer, version FROM layer_versions WHERE layer = ANY (:layers)"

# The grids' extent grown by :margin metres (degrees of longitude shrink with the latitude).
AREA_CTE = """
WITH extent AS (
    SELECT ST_SetSRID(ST_Extent(geom)::geometry, 4326) AS e FROM grids WHERE id = ANY (CAST(:grids AS bigint[]))
), area AS (
    SELECT ST_Expand(e, :margin / (111320.0 * cos(radians(ST_Y(ST_Centroid(e))))), :margin / 111320.0) AS box
    FROM extent WHERE e IS NOT NULL
)"""
EDGES_SQL = f"""{AREA_CTE}
SELECT w.id, w.source_node, w.target_node, w.length_m, ST_AsBinary(w.geom) AS wkb
FROM walk_edges w, area WHERE w.geom && area.box ORDER BY w.id
"""
NODES_SQL = f"""{AREA_CTE},
edges AS (SELECT w.source_node, w.target_node FROM walk_edges w, area WHERE w.geom && area.box)
SELECT n.id, ST_X(n.geom) AS x, ST_Y(n.geom) AS y FROM walk_nodes n
WHERE n.id IN (SELECT source_node FROM edges UNION SELECT target_node FROM edges) ORDER BY n.id
"""
BUILDINGS_SQL = """
SELECT id, ST_X(p) AS x, ST_Y(p) AS y
FROM (SELECT id, ST_PointOnSurface(geom) AS p FROM buildings WHERE grid_id = ANY (CAST(:grids AS bigint[]))) b
ORDER BY id
"""


def versions(conn: Connection) -> dict[str, int]:
    """The counters of the layers a walking order is computed from."""
    return dict(conn.execute(text(VERSIONS_SQL), {"layers": list(TOUR_LAYERS)}).all())


def area_inputs(
    conn: Connection, grid_ids: Sequence[int], margin_m: float
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Walk nodes and edges within `margin_m` of the grids' extent (``source_id``, ``u_ref``, ``v_ref``,
    ``length_m``, as gis.network.build_walk_graph reads them) and the grids' buildings as points inside them
    (``building_id``), all in EPSG:4326."""
    params = {"grids": [int(g) for g in grid_ids], "margin": float(margin_m)}
    edges = conn.execute(text(EDGES_SQL), params).all()
    nodes = conn.execute(text(NODES_SQL), params).all()
    buildings = conn.execute(text(BUILDINGS_SQL), params).all()
    edge_frame = gpd.GeoDataFrame(
        {
            "source_id": [str(r.id) for r in edges],
            "u_ref": [str(r.source_node) for r in edges],
            "v_ref": [str(r.target_node) for r in edges],
            "length_m": [r.length_m for r in edges],
        },
        geometry=shapely.from_wkb([bytes(r.wkb) for r in edges]) if edges else [],
        crs="EPSG:4326",
    )
    node_frame = gpd.GeoDataFrame(
        {"source_id": [str(r.id) for r in nodes]},
        geometry=shapely.points([(r.x, r.y) for r in nodes]) if nodes else [],
        crs="EPSG:4326",
    )
    building_frame = gpd.GeoDataFrame(
        {"building_id": [int(r.id) for r in buildings]},
        geometry=shapely.points([(r.x, r.y) for r in buildings]) if buildings else [],
        crs="EPSG:4326",
    )
    return node_frame, edge_frame, building_frame
