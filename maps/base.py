"""The base of every gridmap map: tiles, Leaflet served by gridmap itself, OSM attribution, HTML escaping, bounds
and the labels drawn on grids and suggested sites.

folium loads Leaflet, jQuery, Bootstrap and Font Awesome from CDNs that are blocked in mainland China and
unreachable on the closed networks of grid offices, so `base_map` replaces them with the Leaflet copy in
`maps/static/vendor` (either referenced under `asset_base_url` or inlined). The maps use only folium features that
need nothing but Leaflet: GeoJson (with CircleMarker points), FeatureGroup, LayerControl, GeoJsonTooltip and
our own MacroElements. Functions here return folium objects and never write files.
"""

import base64
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import CssLink, Figure, JavascriptLink, MacroElement
from folium.template import Template
from folium.utilities import JsCode

from maps.basemaps import (
    OSM_ATTRIBUTION,
    OSM_COPYRIGHT_URL,
    OSM_TILES,
    BaseMap,
    as_base_map,
    display_bounds,
    display_frame,
    display_lonlat,
)
from maps.render import Literal

__all__ = ["OSM_ATTRIBUTION", "OSM_COPYRIGHT_URL", "OSM_TILES", "BaseMap"]

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
LEAFLET_VERSION = "1.9.3"  # the version folium 0.20 loads; tests/test_maps.py checks they agree

# (min lon, min lat, max lon, max lat), the order of GeoDataFrame.total_bounds.
Bounds = Sequence[float] | np.ndarray

COORDINATE_DECIMALS = 6  # ≈ 0.1 m; more digits only make the page bigger

_URL = re.compile(r"https?://[^\s\"'<>()\\]+")
_SOURCE_MAP = re.compile(r"\n//# sourceMappingURL=\S+\s*$")
_CSS_IMAGE = re.compile(r"url\(images/([\w-]+\.png)\)")


# --- escaping -------------------------------------------------------------------------------------------------


def escape(text: object) -> str:
    """HTML-escape `text` for a popup, tooltip, legend or layer name; None becomes ''.

    Besides html.escape (& < > " '), ` $ and \\ become entities too: folium.Tooltip puts its text inside a JS
    template literal, where they would end the string, interpolate `${…}` or break the whole script.
    """
    if text is None:
        return ""
    escaped = html.escape(str(text), quote=True)
    return escaped.replace("\\", "&#92;").replace("`", "&#96;").replace("$", "&#36;")


def info_html(fields: Mapping[str, object]) -> str:
    """A small label → value table for a popup or tooltip, with every label and value escaped."""
    rows = "".join(f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in fields.items())
    return f'<table class="gridmap-info">{rows}</table>'


def _json_value(value: Any) -> Any:
    """One property value as JSON for GeoJson: strings escaped, missing → None, whole floats → int."""
    if value is None or (not isinstance(value, str | list | tuple | dict | np.ndarray) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        return int(number) if number.is_integer() and math.isfinite(number) else number
    return escape(value)


def escaped_properties(gdf: pd.DataFrame, columns: Iterable[str]) -> list[dict[str, Any]]:
    """JSON-ready properties of each row, every string HTML-escaped.

    folium.GeoJsonTooltip / GeoJsonPopup put property values into innerHTML unescaped, so a building or service
    point named '<img src=x onerror=…>' would run script. A column the frame lacks gives None (a map should not
    fail over a missing label).
    """
    columns = list(columns)
    values = {col: gdf[col].tolist() if col in gdf.columns else [None] * len(gdf) for col in columns}
    return [{col: _json_value(values[col][i]) for col in columns} for i in range(len(gdf))]


def feature_collection(
    gdf: gpd.GeoDataFrame, columns: Iterable[str] = (), *, on: folium.Map | None = None
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection for folium.GeoJson: only `columns`, escaped, coordinates rounded.

    Rows without geometry are dropped. Each feature gets an `id` so folium need not search for one. `on`: the map
    it is drawn on (from `base_map`), so that it is shifted to GCJ-02 on an AMap base (see `shift_frame`).
    """
    gdf = to_wgs84(gdf)
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    if on is not None:
        gdf = shift_frame(on, gdf)
    geoms = shapely.transform(gdf.geometry.values, lambda xy: np.round(xy, COORDINATE_DECIMALS))
    properties = escaped_properties(gdf, columns)
    features = [
        {"type": "Feature", "id": i, "geometry": shapely.geometry.mapping(geom), "properties": props}
        for i, (geom, props) in enumerate(zip(geoms, properties, strict=True))
    ]
    return {"type": "FeatureCollection", "features": features}


def to_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame in EPSG:4326 (the layers are stored so; a frame without a CRS is taken to be in it)."""
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        return gdf.to_crs(4326)
    return gdf


# --- local assets ---------------------------------------------------------------------------------------------


@cache
def leaflet_js() -> str:
    """Vendored leaflet.js, without its source-map comment (the map file is not vendored)."""
    return _SOURCE_MAP.sub("\n", (VENDOR_DIR / "leaflet.js").read_text(encoding="utf-8"))


@cache
def leaflet_css_inline() -> str:
    """Vendored leaflet.css with its images as data: URIs, since relative urls break once inlined."""

    def data_uri(match: re.Match[str]) -> str:
        png = (VENDOR_DIR / "images" / match.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode('ascii')})"

    return _CSS_IMAGE.sub(data_uri, (VENDOR_DIR / "leaflet.css").read_text(encoding="utf-8"))


class LocalAssets(MacroElement):
    """Puts gridmap's Leaflet in the page header, under the names folium uses, instead of folium's CDN links."""

    def __init__(self, asset_base_url: str | None) -> None:
        super().__init__()
        self._name = "LocalAssets"
        self.asset_base_url = asset_base_url.rstrip("/") if asset_base_url is not None else None

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]  # a MacroElement adds to the page, returns None
        figure = self.get_root()
        assert isinstance(figure, Figure), "LocalAssets must be inside a Figure"
        if self.asset_base_url is None:
            figure.header.add_child(Literal(f"<style>{leaflet_css_inline()}</style>"), name="leaflet_css")
            figure.header.add_child(Literal(f"<script>{leaflet_js()}</script>"), name="leaflet")
        else:
            figure.header.add_child(CssLink(f"{self.asset_base_url}/leaflet.css"), name="leaflet_css")
            figure.header.add_child(JavascriptLink(f"{self.asset_base_url}/leaflet.js"), name="leaflet")
        super().render(**kwargs)


class Attribution(MacroElement):
    """Adds a line to the map's attribution control (OSM-derived data needs it even without OSM tiles)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Attribution"
        self.text = text


def external_urls(page: str, *, tiles: "str | BaseMap | None" = None) -> list[str]:
    """http(s) URLs in a rendered page other than the tile template and the OSM copyright link.

    The vendored Leaflet text is left out first: its own strings (its home page in the "Leaflet" attribution
    prefix, the SVG namespace) are not things the page loads. A page for a closed network must give [] here.
    """
    for vendored in (leaflet_js(), leaflet_css_inline()):
        page = page.replace(vendored, "")
    if isinstance(tiles, BaseMap):
        allowed = {OSM_COPYRIGHT_URL, *tiles.tile_urls}
    elif tiles in ("openstreetmap", "amap"):
        allowed = {OSM_COPYRIGHT_URL, *as_base_map(tiles).tile_urls}
    else:
        allowed = {OSM_COPYRIGHT_URL, *([tiles] if tiles else [])}
    return sorted({url for url in _URL.findall(page) if url not in allowed})


# Where the map opens when there is nothing to draw yet (centre of China, zoomed out).
EMPTY_CENTER = (35.0, 105.0)


def frames_bounds(frames: Sequence[gpd.GeoDataFrame]) -> np.ndarray | None:
    """Total (min lon, min lat, max lon, max lat) of the non-empty frames; None if there is nothing."""
    boxes = [to_wgs84(f).total_bounds for f in frames if len(f) and not f.geometry.isna().all()]
    boxes = [b for b in boxes if np.isfinite(b).all()]
    if not boxes:
        return None
    stacked = np.vstack(boxes)
    return np.array([*stacked[:, :2].min(axis=0), *stacked[:, 2:].max(axis=0)])


# --- the map --------------------------------------------------------------------------------------------------


def _tile_layers(base: BaseMap) -> list[folium.TileLayer]:
    # control=False: a single base needs no radio button in the layer control (Tianditu's labels go on its map).
    return [
        folium.TileLayer(
            tiles=layer.url,
            attr=base.attribution,  # Leaflet shows one text once
            name=layer.name,
            max_zoom=19,
            max_native_zoom=layer.max_native_zoom,
            subdomains=layer.subdomains or "abc",
            control=False,
        )
        for layer in base.layers
    ]


def base_of(fmap: folium.Map) -> BaseMap | None:
    """The base map `fmap` was made with by `base_map` (None for a map made otherwise)."""
    base = getattr(fmap, "gridmap_base", None)
    return base if isinstance(base, BaseMap) else None


def shift_frame(fmap: folium.Map, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A WGS84 frame as drawn on `fmap`: shifted to GCJ-02 when its base is AMap, else the frame itself.

    Every map that draws its own geometries (not through `feature_collection(…, on=fmap)`) passes them here."""
    return display_frame(base_of(fmap), to_wgs84(gdf))


def shift_latlon(fmap: folium.Map, lat: Any, lon: Any) -> tuple[Any, Any]:
    """WGS84 `lat`, `lon` (scalars or numpy arrays; folium's order) as drawn on `fmap`: GCJ-02 on AMap.

    Every raw point handed to folium or to a map's own JS (a Marker's location, a PolyLine's points, heatmap
    data) goes through here, e.g. ``folium.Marker(shift_latlon(fmap, lat, lon))``."""
    shifted_lon, shifted_lat = display_lonlat(base_of(fmap), lon, lat)
    return shifted_lat, shifted_lon


def tile_url(fmap: folium.Map, layer: str, *, prefix: str = "/tiles") -> str:
    """The URL template of gridmap's vector tiles of `layer` as drawn on `fmap` (``?crs=gcj02`` on AMap)."""
    base = base_of(fmap)
    shifted = "?crs=gcj02" if base is not None and base.gcj02 else ""
    return f"{prefix}/{layer}/{{z}}/{{x}}/{{y}}.pbf{shifted}"


def base_map(
    bounds: Bounds | None = None,
    *,
    center: tuple[float, float] | None = None,
    zoom: int = 16,
    tiles: str | BaseMap = "openstreetmap",
    attribution: str | None = None,
    osm_data: bool = False,
    asset_base_url: str | None = None,
) -> folium.Map:
    """An empty map with gridmap's tiles, assets and attribution, fitted to `bounds` or centred on `center`.

    Parameters
    ----------
    bounds : (min lon, min lat, max lon, max lat) in WGS84, e.g. ``gdf.total_bounds``; the map is fitted to it.
    center : (lat, lon) in WGS84, used when there are no bounds, with `zoom`.
    tiles : the base map: ``settings.base_map`` (a `maps.basemaps.BaseMap`: OpenStreetMap, Tianditu, AMap, a URL
        template, none), or as before a string: 'openstreetmap', 'none', 'amap' or a URL template with
        ``{z}/{x}/{y}``, which then needs `attribution`.
    osm_data : the map draws OpenStreetMap-derived data, so it must credit OSM whatever the base.
    asset_base_url : where the API serves ``maps/static/vendor`` (e.g. '/static/vendor'); None inlines Leaflet
        so the HTML is one self-contained file (CLI, offline).

    On an AMap base (GCJ-02 tiles) everything drawn must be shifted: `feature_collection(gdf, cols, on=fmap)`,
    `shift_frame(fmap, gdf)`, `shift_latlon(fmap, lat, lon)` and `tile_url(fmap, layer)` do it; `bounds` and
    `center` are shifted here.
    """
    if bounds is None and center is None:
        raise ValueError("base_map needs bounds or center")
    base = as_base_map(tiles, attribution)
    if bounds is not None:
        min_x, min_y, max_x, max_y = display_bounds(base, [float(v) for v in bounds])
        location = [(min_y + max_y) / 2, (min_x + max_x) / 2]
    else:
        lon, lat = display_lonlat(base, float(center[1]), float(center[0]))  # type: ignore[index]
        location = [float(lat), float(lon)]

    fmap = folium.Map(location=location, zoom_start=zoom, tiles=None, control_scale=True)
    fmap.gridmap_base = base  # type: ignore[attr-defined]  # read by base_of
    # Instance lists: folium's are module-level and shared, and list jQuery, Bootstrap and Font Awesome CDNs.
    fmap.default_js = []
    fmap.default_css = []
    fmap.add_child(LocalAssets(asset_base_url))

    for tile_layer in _tile_layers(base):
        fmap.add_child(tile_layer)
    if osm_data and base.attribution != OSM_ATTRIBUTION:
        fmap.add_child(Attribution(OSM_ATTRIBUTION))
    if bounds is not None:
        fmap.fit_bounds([[min_y, min_x], [max_y, max_x]], max_zoom=18, padding=(10, 10))
    return fmap


def fitted_map(
    bounds: Bounds | None,
    *,
    zoom: int = 16,
    tiles: str | BaseMap = "openstreetmap",
    attribution: str | None = None,
    osm_data: bool = False,
    asset_base_url: str | None = None,
) -> folium.Map:
    """`base_map` fitted to `bounds`, or all of China zoomed out when there is nothing to draw (bounds None);
    `zoom` applies when fitted bounds collapse to a point."""
    return base_map(
        bounds,
        center=EMPTY_CENTER if bounds is None else None,
        zoom=4 if bounds is None else zoom,
        tiles=tiles,
        attribution=attribution,
        osm_data=osm_data,
        asset_base_url=asset_base_url,
    )


def permanent_label(prop: str, css_class: str) -> JsCode:
    """An ``onEachFeature`` that writes ``feature.properties[prop]`` on the feature as a permanent label.

    The value is already HTML-escaped by `feature_collection`.
    """
    return JsCode(
        f"""function(feature, layer) {{
        if (feature.properties.{prop} != null) {{
            layer.bindTooltip(String(feature.properties.{prop}),
                {{permanent: true, direction: 'center', className: '{css_class}'}});
        }}
    }}"""
    )


# The grid code drawn in the middle of each grid; the rank drawn inside each suggested-site or -center marker.
GRID_CODE_LABEL = permanent_label("code", "gridmap-grid-code")
SITE_RANK_LABEL = permanent_label("rank", "gridmap-site-rank")
