"""Base maps (底图): which tiles a map is drawn on, who to credit, which hosts the page may load them from, and the
GCJ-02 display shift that AMap's tiles need.

Kinds (`GRIDMAP_TILES`, see `make_base_map`):

- ``openstreetmap`` (default): tile.openstreetmap.org.
- ``tianditu`` (天地图): the vector map ``vec_w`` with its annotation ``cva_w`` (Web Mercator, CGCS2000 ≈ WGS84:
  no shift), with a browser key (`GRIDMAP_TIANDITU_KEY`; it is in the page, as Tianditu's own pages have it).
- ``amap`` (高德): AMap's road map. AMap's tiles are in GCJ-02, so everything drawn on them is shifted forward
  from WGS84 to GCJ-02 when drawn (`BaseMap.gcj02`); the database and the API stay WGS84.
- a URL template with ``{z}``, ``{x}``, ``{y}`` (and ``{s}`` for subdomains): a tile server inside the office
  network, with its attribution (`GRIDMAP_TILES_ATTRIBUTION`, required).
- ``none``: no tiles (closed networks, tests).

OpenStreetMap-derived data is credited on every base (``osm_data`` in `maps.base.base_map`).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import shapely

from gis.crs import wgs84_to_gcj02

OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_COPYRIGHT_URL = "https://www.openstreetmap.org/copyright"
# One string for the tiles and for OSM-derived data, so Leaflet shows it once when both apply (ODbL).
OSM_ATTRIBUTION = f'© <a href="{OSM_COPYRIGHT_URL}">OpenStreetMap</a> contributors'

TIANDITU_SUBDOMAINS = "01234567"
TIANDITU_TILES = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
)
TIANDITU_ATTRIBUTION = '© <a href="https://www.tianditu.gov.cn/">天地图 Tianditu</a>'
TIANDITU_KEY = re.compile(r"[A-Za-z0-9]{16,64}")  # Tianditu's keys are 32 hex digits

AMAP_SUBDOMAINS = "1234"
AMAP_TILES = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
AMAP_ATTRIBUTION = '© <a href="https://www.amap.com/">高德地图 AMap</a>'

KINDS = ("openstreetmap", "tianditu", "amap", "none")
# Characters that may not appear in a tile URL template (they would leave a JS string or an HTML attribute).
_UNSAFE_URL = re.compile(r"[\s\"'<>\\`]")


@dataclass(frozen=True)
class TileSource:
    """One raster tile layer of a base map (Leaflet ``L.tileLayer`` options)."""

    url: str
    name: str
    subdomains: str = ""
    max_native_zoom: int = 19


@dataclass(frozen=True)
class BaseMap:
    """A base map: its tile layers (none for 'none'), its credit, whether drawing on it needs the GCJ-02 shift."""

    kind: str  # one of KINDS or 'url'
    layers: tuple[TileSource, ...]
    attribution: str  # HTML (a fixed string, or the operator's setting for a URL template)
    gcj02: bool = False

    @property
    def sources(self) -> tuple[str, ...]:
        """The origins the page loads tiles from (for the Content-Security-Policy); () for no tiles or tiles on
        gridmap's own server."""
        found: list[str] = []
        for layer in self.layers:
            for source in _origins(layer.url, layer.subdomains):
                if source not in found:
                    found.append(source)
        return tuple(found)

    @property
    def tile_urls(self) -> tuple[str, ...]:
        return tuple(layer.url for layer in self.layers)


def _origins(url: str, subdomains: str) -> list[str]:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return []  # a path on this server: 'self'
    if "{s}" in parts.netloc and subdomains:
        return [f"{parts.scheme}://{parts.netloc.replace('{s}', s)}" for s in subdomains]
    labels = parts.netloc.split(".")
    if "{" in labels[0]:
        labels[0] = "*"
    if any("{" in label for label in labels):  # a template elsewhere in the name: allow the scheme
        return [f"{parts.scheme}:"]
    return [f"{parts.scheme}://{'.'.join(labels)}"]


def make_base_map(
    tiles: str = "openstreetmap", *, attribution: str | None = None, tianditu_key: str | None = None
) -> BaseMap:
    """The base map named by `tiles` (see the module docstring); ValueError saying what is wrong otherwise."""
    tiles = tiles.strip()
    if tiles == "none":
        return BaseMap("none", (), "")
    if tiles == "openstreetmap":
        return BaseMap("openstreetmap", (TileSource(OSM_TILES, "OpenStreetMap"),), OSM_ATTRIBUTION)
    if tiles == "tianditu":
        if not tianditu_key:
            raise ValueError("tiles 'tianditu' needs a key: set GRIDMAP_TIANDITU_KEY (from console.tianditu.gov.cn)")
        if not TIANDITU_KEY.fullmatch(tianditu_key):
            raise ValueError("GRIDMAP_TIANDITU_KEY must be 16-64 letters and digits (a Tianditu key is 32 hex digits)")
        layers = tuple(
            TileSource(
                TIANDITU_TILES.replace("{layer}", layer).replace("{key}", tianditu_key),
                name,
                TIANDITU_SUBDOMAINS,
                18,
            )
            for layer, name in (("vec", "天地图 Tianditu"), ("cva", "天地图注记 Tianditu labels"))
        )
        return BaseMap("tianditu", layers, TIANDITU_ATTRIBUTION)
    if tiles == "amap":
        return BaseMap("amap", (TileSource(AMAP_TILES, "高德地图 AMap", AMAP_SUBDOMAINS, 18),), AMAP_ATTRIBUTION, True)
    parts = urlsplit(tiles)
    if parts.scheme in ("http", "https") or tiles.startswith("/"):
        missing = [part for part in ("{z}", "{x}", "{y}") if part not in tiles]
        if missing:
            raise ValueError(f"a tile URL template needs {', '.join(missing)}: {tiles!r}")
        if _UNSAFE_URL.search(tiles):
            raise ValueError(f"a tile URL template may not hold spaces, quotes, <, > or backslashes: {tiles!r}")
        if not attribution or not attribution.strip():
            raise ValueError("a tile URL template needs its attribution: set GRIDMAP_TILES_ATTRIBUTION")
        return BaseMap("url", (TileSource(tiles, "底图 Base map", "abc"),), attribution.strip())
    raise ValueError(
        f"tiles must be one of {', '.join(KINDS)} or an http(s) URL template with {{z}}/{{x}}/{{y}}; got {tiles!r}"
    )


def as_base_map(tiles: "str | BaseMap", attribution: str | None = None) -> BaseMap:
    """`tiles` as a BaseMap: a BaseMap as it is, a string through `make_base_map` (no Tianditu key: pass
    ``settings.base_map`` for Tianditu)."""
    if isinstance(tiles, BaseMap):
        return tiles
    if tiles.strip() == "tianditu":
        raise ValueError("tiles 'tianditu' needs a key: pass settings.base_map (it carries GRIDMAP_TIANDITU_KEY)")
    return make_base_map(tiles, attribution=attribution)


# --- the GCJ-02 display shift ---------------------------------------------------------------------------------


def display_lonlat(base: BaseMap | None, lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS84 `lon`, `lat` (scalars or arrays) as drawn on `base`: GCJ-02 on AMap, unchanged on every other base."""
    if base is None or not base.gcj02:
        return lon, lat
    return wgs84_to_gcj02(lon, lat)


def display_frame(base: BaseMap | None, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A WGS84 frame with every vertex as drawn on `base` (a copy, GCJ-02 on AMap; the frame itself otherwise)."""
    if base is None or not base.gcj02 or not len(gdf):
        return gdf

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    out = gdf.copy()
    out[gdf.geometry.name] = shapely.transform(np.asarray(gdf.geometry.values), shift)
    return out


def display_bounds(base: BaseMap | None, bounds: Sequence[float]) -> list[float]:
    """(min lon, min lat, max lon, max lat) as drawn on `base`."""
    lon, lat = display_lonlat(base, np.array([bounds[0], bounds[2]]), np.array([bounds[1], bounds[3]]))
    return [float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])]
