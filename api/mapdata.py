"""Read the stored layers that a map draws, and hand them to maps/ (which never touches the database)."""

import folium
import geopandas as gpd
from sqlalchemy import Connection, text

from maps.overview import overview_map

# Columns each map layer needs; geometry is read as 'geometry'.
OVERVIEW_LAYERS = {
    "grids": "code, name, community_id, source",
    "buildings": "kind, name, floors, households, source",
    "service_points": "type, level, name, hours, source",
    "compounds": "name, source",
    "communities": "code, name, source",
}


def _read(conn: Connection, table: str, columns: str) -> gpd.GeoDataFrame:
    return gpd.read_postgis(
        text(f"SELECT id, {columns}, geom AS geometry FROM {table} ORDER BY id"),
        conn,
        geom_col="geometry",
        crs="EPSG:4326",
    )


def overview_from_db(conn: Connection, *, tiles: str, asset_base_url: str | None) -> folium.Map:
    frames = {table: _read(conn, table, columns) for table, columns in OVERVIEW_LAYERS.items()}
    osm_data = any(frame["source"].str.startswith("osm:").any() for frame in frames.values() if len(frame))
    return overview_map(
        grids=frames["grids"],
        buildings=frames["buildings"],
        service_points=frames["service_points"],
        compounds=frames["compounds"],
        communities=frames["communities"],
        tiles=tiles,
        asset_base_url=asset_base_url,
        osm_data=osm_data,
    )
