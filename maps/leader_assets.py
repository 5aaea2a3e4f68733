"""The leader map's Leaflet plugins, served by gridmap like Leaflet itself (maps/static/vendor/leader, see its
README): a heatmap with a weekly time slider (folium's HeatMapWithTime on Leaflet.TimeDimension and heatmap.js)
and marker clusters (Leaflet.markercluster).

folium loads these plugins from CDNs, and HeatMapWithTime's own script calls jQuery (``$.extend``), which gridmap
does not load: `WeeklyHeatMap` is HeatMapWithTime with ``L.extend`` instead and its data written as JSON (each
cell's position once, then per week its index and weight: a fifth of the size of folium's [lat, lon, weight]
lists). Both classes have their CDN lists emptied; `PluginAssets` puts the vendored files in the page instead
(linked under the asset URL, or inlined for a self-contained file).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from branca.element import CssLink, Figure, JavascriptLink, MacroElement
from folium.plugins import HeatMapWithTime, MarkerCluster
from folium.template import Template

from maps.base import VENDOR_DIR
from maps.render import Literal

LEADER_DIR = VENDOR_DIR / "leader"
# In load order: iso8601 before TimeDimension, heatmap.js before its Leaflet overlay.
SCRIPTS = (
    "iso8601.js",
    "leaflet.timedimension.min.js",
    "pa7_hm.min.js",
    "pa7_leaflet_hm.min.js",
    "leaflet.markercluster.js",
)
STYLES = ("leaflet.timedimension.control.min.css", "MarkerCluster.css", "MarkerCluster.Default.css")


@cache
def _text(name: str) -> str:
    return (LEADER_DIR / name).read_text(encoding="utf-8")


class PluginAssets(MacroElement):
    """The vendored plugin scripts and styles in the page header, after Leaflet."""

    def __init__(self, asset_base_url: str | None) -> None:
        super().__init__()
        self._name = "PluginAssets"
        self.asset_base_url = asset_base_url.rstrip("/") if asset_base_url is not None else None

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]  # a MacroElement adds to the page
        figure = self.get_root()
        assert isinstance(figure, Figure), "PluginAssets must be inside a Figure"
        for name in STYLES:
            if self.asset_base_url is None:
                figure.header.add_child(Literal(f"<style>{_text(name)}</style>"), name=f"leader_{name}")
            else:
                figure.header.add_child(CssLink(f"{self.asset_base_url}/leader/{name}"), name=f"leader_{name}")
        for name in SCRIPTS:
            if self.asset_base_url is None:
                script = _text(name).replace("</script", "<\\/script")
                figure.header.add_child(Literal(f"<script>{script}</script>"), name=f"leader_{name}")
            else:
                figure.header.add_child(JavascriptLink(f"{self.asset_base_url}/leader/{name}"), name=f"leader_{name}")
        super().render(**kwargs)


class LocalMarkerCluster(MarkerCluster):
    """folium's MarkerCluster without its CDN links (PluginAssets brings the scripts)."""

    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []


class WeeklyHeatMap(HeatMapWithTime):
    """HeatMapWithTime without jQuery and CDN links, its data and labels written as JSON: `centres` the [lat, lon]
    of each cell, `data` per step a list of [index in centres, weight], `index` the label of each step."""

    default_js: list[tuple[str, str]] = []
    default_css: list[tuple[str, str]] = []

    def __init__(self, data: list, centres: list, **kwargs: Any) -> None:
        super().__init__(data, **kwargs)
        self.centres = centres

    _template = Template(
        """
        {% macro header(this, kwargs) %}
            <script>
            var TDHeatmap = L.TimeDimension.Layer.extend({
                initialize: function(data, options) {
                    var heatmapCfg = {radius: 15, blur: 0.8, maxOpacity: 1., scaleRadius: false,
                        useLocalExtrema: false, latField: 'lat', lngField: 'lng', valueField: 'count',
                        defaultWeight: 1};
                    heatmapCfg = L.extend({}, heatmapCfg, options.heatmapOptions || {});
                    var layer = new HeatmapOverlay(heatmapCfg);
                    L.TimeDimension.Layer.prototype.initialize.call(this, layer, options);
                    this._currentLoadedTime = 0;
                    this._currentTimeData = {max: 1, data: []};
                    this.data = data;
                    this.centres = options.centres;
                    this.defaultWeight = heatmapCfg.defaultWeight || 1;
                },
                onAdd: function(map) {
                    L.TimeDimension.Layer.prototype.onAdd.call(this, map);
                    map.addLayer(this._baseLayer);
                    if (this._timeDimension) {
                        this._getDataForTime(this._timeDimension.getCurrentTime());
                    }
                },
                _onNewTimeLoading: function(ev) { this._getDataForTime(ev.time); },
                isReady: function(time) { return (this._currentLoadedTime == time); },
                _update: function() { this._baseLayer.setData(this._currentTimeData); return true; },
                _getDataForTime: function(time) {
                    var points = [];
                    var data = this.data[time - 1] || [];
                    for (var i = 0; i < data.length; i++) {
                        var at = this.centres[data[i][0]];
                        points.push({lat: at[0], lng: at[1], count: data[i][1]});
                    }
                    this._currentTimeData = {max: 1, data: points};
                    this._currentLoadedTime = time;
                    if (this._timeDimension && time == this._timeDimension.getCurrentTime()
                            && !this._timeDimension.isLoading()) {
                        this._update();
                    }
                    this.fire('timeload', {time: time});
                }
            });
            L.Control.TimeDimensionCustom = L.Control.TimeDimension.extend({
                initialize: function(index, options) {
                    options.playerOptions = L.extend({buffer: 1, minBufferReady: -1}, options.playerOptions || {});
                    L.Control.TimeDimension.prototype.initialize.call(this, options);
                    this.index = index;
                },
                _getDisplayDateFormat: function(date) { return this.index[date.getTime() - 1]; }
            });
            </script>
        {% endmacro %}

        {% macro script(this, kwargs) %}
            {{ this._parent.get_name() }}.timeDimension = L.timeDimension(
                {times: {{ this.times|tojson }}, currentTime: new Date({{ this.times|length }})});
            var {{ this._control_name }} = new L.Control.TimeDimensionCustom({{ this.index|tojson }}, {
                autoPlay: false, backwardButton: true, displayDate: true, forwardButton: true,
                limitMinimumRange: 5, limitSliders: true, loopButton: true, maxSpeed: 10, minSpeed: 0.1,
                playButton: true, playReverseButton: true, position: {{ this.position|tojson }},
                speedSlider: false, speedStep: 0.1, styleNS: "leaflet-control-timecontrol",
                timeSlider: true, timeSliderDragUpdate: true, timeSteps: 1
            }).addTo({{ this._parent.get_name() }});
            var {{ this.get_name() }} = new TDHeatmap({{ this.data|tojson }}, {centres: {{ this.centres|tojson }},
                heatmapOptions: {
                radius: {{ this.radius|tojson }}, blur: {{ this.blur|tojson }},
                minOpacity: {{ this.min_opacity|tojson }}, maxOpacity: {{ this.max_opacity|tojson }},
                scaleRadius: {{ this.scale_radius }}, useLocalExtrema: {{ this.use_local_extrema }},
                defaultWeight: 1
            }});
            {{ this.get_name() }}.gridmapKind = "heat";
        {% endmacro %}
        """
    )


class HazardClusters(LocalMarkerCluster):
    """Hazards as circle markers in a marker cluster group, written compactly: each hazard is [lat, lon, category,
    state, severity, week] with indices into `lookups` (lists of labels, HTML-escaped by the caller), its tooltip
    built from those labels; markers coloured by severity (`colours`, by severity index)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.markerClusterGroup({{ this.options|tojson }});
            {{ this.get_name() }}.gridmapKind = "hazards";
            (function() {
                var rows = {{ this.rows|tojson }}, names = {{ this.lookups|tojson }};
                var labels = {{ this.labels|tojson }}, colours = {{ this.colours|tojson }};
                var markers = rows.map(function(r) {
                    var m = L.circleMarker([r[0], r[1]], {radius: 6, weight: 1, color: "#333333",
                        fillColor: colours[r[4]] || "#777777", fillOpacity: 0.9, className: "gridmap-hazard"});
                    var html = '<table class="gridmap-info">';
                    for (var i = 0; i < labels.length; i++) {
                        html += '<tr><th>' + labels[i] + '</th><td>' + names[i][r[i + 2]] + '</td></tr>';
                    }
                    m.bindTooltip(html + '</table>', {sticky: true});
                    return m;
                });
                {{ this.get_name() }}.addLayers(markers);
            })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        rows: list[list[Any]],
        lookups: list[list[str]],
        labels: list[str],
        colours: list[str],
        *,
        name: str,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name=name, options=options)
        self.rows, self.lookups, self.labels, self.colours = rows, lookups, labels, colours
        self.options = options or {}
