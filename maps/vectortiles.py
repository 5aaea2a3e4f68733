"""Overlays drawn from gridmap's vector tiles (``/tiles/{layer}/{z}/{x}/{y}.pbf``) with Leaflet.VectorGrid, for the
street- and district-wide maps: the page carries a few options per layer instead of every feature's GeoJSON.

`VectorTileLayer` is a folium Layer (so it has a name in the layer control, and ``show``). Each feature is styled in
the browser by the options: a fixed style, only features whose properties equal `only`, a colour per walking-time
class computed from a walk-metres property (`classify`, the planner map). Its tooltip (hover) and popup (click,
phones) are built as DOM text nodes (``textContent``), never as HTML: a name holding ``<script>`` or ``<img
onerror>`` in the tiles shows as those characters and runs nothing. Labels are fixed strings of gridmap.

The page loads VectorGrid from gridmap (``{asset_base_url}/vectorgrid/…``); tile layers need the API (tiles are
read with the session's cookie), so maps written to a file by the CLI keep drawing inline GeoJSON.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
from branca.element import Figure, JavascriptLink, MacroElement
from folium.map import Layer
from folium.template import Template

from maps.base import shift_latlon, tile_url
from maps.render import Literal

VECTORGRID = "vectorgrid/Leaflet.VectorGrid.bundled.min.js"
MAX_NATIVE_ZOOM = 20  # tiles are made up to /tiles' MAX_ZOOM; beyond this Leaflet scales the z20 tile

# The page's one helper: makes a VectorGrid layer from the options of a VectorTileLayer (see the module docstring).
HELPER_JS = """
window.gridmapTileLayers = window.gridmapTileLayers || [];
function gridmapPanes(map) {
    if (!map.getPane('gridmapTiles')) {
        // Above the base map: areas drawn under the tiles (service circles), then the tile layers, then the inline
        // overlays (outlines, suggested sites; Leaflet's overlayPane is 400), tooltips and popups.
        map.createPane('gridmapBelow').style.zIndex = 380;
        map.createPane('gridmapTiles').style.zIndex = 390;
    }
}
function gridmapVectorLayer(map, o) {
    function classOf(p) {
        var m = p[o.classify.prop];
        if (m == null) { return o.classify.levels.length + 1; }
        var minutes = m / (o.classify.speed * 60);
        for (var i = 0; i < o.classify.levels.length; i++) {
            if (minutes <= o.classify.levels[i] + 1e-9) { return i; }
        }
        return o.classify.levels.length;
    }
    function styleOf(p) {
        for (var k in (o.only || {})) { if (p[k] !== o.only[k]) { return []; } }
        if (o.inGrids && o.inGrids.indexOf(p.grid_id) < 0) { return []; }
        var s = Object.assign({}, o.style);
        if (s.fill === undefined) { s.fill = s.fillColor !== undefined; }  // VectorGrid fills only when told
        if (o.classify) {
            var c = classOf(p);
            if (c < o.classify.from) { return []; }
            s.fillColor = o.classify.colours[c];
        }
        if (o.point) { s.radius = o.point; s.fill = true; }
        return s;
    }
    function content(p) {
        var table = document.createElement('table');
        table.className = 'gridmap-info';
        function row(label, value) {
            if (value == null || value === '') { return; }
            var tr = table.insertRow(), th = document.createElement('th'), td = tr.insertCell();
            th.textContent = label; td.textContent = String(value);
            tr.insertBefore(th, td);
        }
        (o.fields || []).forEach(function(f) { row(f[1], p[f[0]]); });
        if (o.classify) {
            var m = p[o.classify.prop];
            row(o.classify.label, m == null ? o.classify.unreachable
                : (m / (o.classify.speed * 60)).toFixed(1) + ' 分钟 min · ' + m + ' m');
        }
        if (o.lookup && o.lookup.values[p.gridmap_id] != null) {
            row(o.lookup.label, o.lookup.values[p.gridmap_id]);
        }
        return table;
    }
    gridmapPanes(map);
    var styles = {};
    styles[o.layer] = function(p) { return styleOf(p); };
    var layer = L.vectorGrid.protobuf(o.url, {
        vectorTileLayerStyles: styles,
        interactive: o.interactive,
        maxNativeZoom: o.maxNativeZoom,
        maxZoom: 22,
        pane: 'gridmapTiles',
        zIndex: window.gridmapTileLayers.length + 1,  // the order they were added, also after a toggle
        rendererFactory: L.svg.tile,
        getFeatureId: function(f) { f.properties.gridmap_id = f.id; return f.id; },
        fetchOptions: {credentials: 'same-origin'}
    });
    if (o.interactive && ((o.fields || []).length || o.classify)) {
        var tip = L.tooltip({sticky: true, className: 'foliumtooltip'});
        layer.on('mouseover', function(e) {
            tip.setContent(content(e.layer.properties)).setLatLng(e.latlng);
            map.openTooltip(tip);
        });
        layer.on('mouseout', function() { map.closeTooltip(tip); });
        layer.on('click', function(e) {
            L.popup().setLatLng(e.latlng).setContent(content(e.layer.properties)).openOn(map);
        });
    }
    window.gridmapTileLayers.push({name: o.name, tiles: o.layer, layer: layer});
    return layer;
}
"""


class VectorTileAssets(MacroElement):
    """VectorGrid and the helper above, once per page (after Leaflet, which `LocalAssets` puts first)."""

    def __init__(self, asset_base_url: str) -> None:
        super().__init__()
        self._name = "VectorTileAssets"
        self.asset_base_url = asset_base_url.rstrip("/")

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]  # a MacroElement adds to the page, returns None
        figure = self.get_root()
        assert isinstance(figure, Figure), "VectorTileAssets must be inside a Figure"
        figure.header.add_child(JavascriptLink(f"{self.asset_base_url}/{VECTORGRID}"), name="leaflet_vectorgrid")
        figure.header.add_child(Literal(f"<script>{HELPER_JS}</script>"), name="gridmap_vector_layer")
        super().render(**kwargs)


BELOW_PANE = "gridmapBelow"  # a Leaflet pane under the tile layers (inline areas that must not hide them)


class TilePanes(MacroElement):
    """Creates the panes of the tile layers and of what is drawn under them; add it before any layer uses them."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            gridmapPanes({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "TilePanes"


def add_panes(fmap: folium.Map, asset_base_url: str) -> None:
    """The tile layers' scripts and panes on `fmap` (once), before the layers that use `BELOW_PANE`."""
    if not any(isinstance(child, VectorTileAssets) for child in fmap._children.values()):
        fmap.add_child(VectorTileAssets(asset_base_url))
        fmap.add_child(TilePanes())


class VectorTileLayer(Layer):
    """An overlay of one gridmap tile layer (see the module docstring); `name` is shown escaped by the caller."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = gridmapVectorLayer({{ this._parent.get_name() }}, {{ this.options|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, *, name: str, options: dict[str, Any], show: bool = True) -> None:
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "VectorTileLayer"
        self.options = options


def add_tile_layer(
    fmap: folium.Map,
    tiles: str,
    *,
    name: str,
    style: Mapping[str, Any],
    asset_base_url: str,
    fields: Sequence[tuple[str, str]] = (),
    only: Mapping[str, Any] | None = None,
    in_grids: Sequence[int] | None = None,
    point: float | None = None,
    classify: Mapping[str, Any] | None = None,
    lookup: Mapping[str, Any] | None = None,
    interactive: bool = True,
    show: bool = True,
    tile_prefix: str = "/tiles",
) -> VectorTileLayer:
    """Add an overlay of gridmap's `tiles` layer to `fmap` (made by `maps.base.base_map`: on AMap the tiles are the
    GCJ-02 ones) and return it.

    `fields`: (property, label) pairs shown in the tooltip and popup; `only`: draw only features whose properties
    equal these; `in_grids`: only features whose ``grid_id`` is one of these; `point`: draw points as circles of this
    radius; `classify`: {prop, speed, levels, colours, from, label, unreachable} colours by walking time from walk
    metres (`from`: draw only classes ≥ it); `lookup`: {label, values: {feature id: value}} shown in the tooltip.
    """
    add_panes(fmap, asset_base_url)
    options: dict[str, Any] = {
        "url": tile_url(fmap, tiles, prefix=tile_prefix),
        "layer": tiles,
        "name": name,
        "style": dict(style),
        "fields": [list(field) for field in fields],
        "interactive": interactive,
        "maxNativeZoom": MAX_NATIVE_ZOOM,
    }
    for key, value in (("only", only), ("point", point), ("classify", classify), ("lookup", lookup)):
        if value is not None:
            options[key] = dict(value) if isinstance(value, Mapping) else value
    if in_grids is not None:
        options["inGrids"] = [int(grid) for grid in in_grids]
    layer = VectorTileLayer(name=name, options=options, show=show)
    fmap.add_child(layer)
    return layer


GRID_CODES_MIN_ZOOM = 14  # a district's thousand codes at once would be unreadable and slow


class GridCodes(MacroElement):
    """The grids' codes as labels at a point inside each grid, for maps whose grid outlines come from the tiles: a
    compact [lat, lon, code] list (≈ 40 bytes a grid; folium's GeoJSON took ≈ 230) drawn as permanent tooltips
    within the view from zoom `GRID_CODES_MIN_ZOOM`. Codes are set as text (``textContent``), never as HTML."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function(map, codes, minZoom) {
            var group = L.layerGroup().addTo(map);
            function update() {
                group.clearLayers();
                if (map.getZoom() < minZoom) { return; }
                var view = map.getBounds().pad(0.2);
                codes.forEach(function(c) {
                    if (!view.contains([c[0], c[1]])) { return; }
                    var label = document.createElement('span');
                    label.textContent = c[2];
                    var tip = L.tooltip({permanent: true, direction: 'center', interactive: false,
                                         className: 'gridmap-grid-code'});
                    group.addLayer(tip.setLatLng([c[0], c[1]]).setContent(label));
                });
            }
            map.on('moveend zoomend', update);
            update();
        })({{ this._parent.get_name() }}, {{ this.codes|tojson }}, {{ this.min_zoom }});
        {% endmacro %}
        """
    )

    def __init__(self, codes: list[list[Any]], min_zoom: int) -> None:
        super().__init__()
        self._name = "GridCodes"
        self.codes = codes
        self.min_zoom = min_zoom


def add_grid_codes(fmap: folium.Map, grids: gpd.GeoDataFrame) -> None:
    """The grids' codes as labels (see `GridCodes`), drawn on `fmap`'s base (GCJ-02 on AMap)."""
    grids = grids[grids.geometry.notna() & ~grids.geometry.is_empty]
    points = grids.geometry.representative_point()
    lat, lon = shift_latlon(fmap, points.y.to_numpy(), points.x.to_numpy())
    codes = grids["code"].astype(str).to_numpy() if "code" in grids else [""] * len(grids)
    fmap.add_child(
        GridCodes(
            [[round(float(a), 5), round(float(o), 5), str(c)] for a, o, c in zip(lat, lon, codes, strict=True)],
            GRID_CODES_MIN_ZOOM,
        )
    )
