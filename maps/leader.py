"""Leader map (领导驾驶舱地图) of a street or community for street leaders and community secretaries: where residents'
requests come from week by week (heat with a time slider), where requests cluster more than chance allows
(Getis-Ord Gi* hotspots, drawn apart from the heat), hazards (clustered markers), and per grid the request closure
rate and the hazard overdue rate over the period (choropleths with a legend).

No resident appears on it: the heat is of cells (gis.heat), hotspots of hexagons (gis.hotspots), rates per grid;
any count below k = 5 is shown as "<5" and a rate on fewer than 5 cases is not coloured; hazards tied to one
household are not drawn. Every text from the data (grid names, category names) is HTML-escaped
(maps.base.escape / feature_collection). As the other maps: gridmap's own Leaflet and plugins (maps.leader_assets),
Chinese labels, every overlay in the layer control.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import folium
import geopandas as gpd
import numpy as np
from branca.element import MacroElement
from folium.template import Template

from gis.heat import HEAT_SIZE_M, WeeklyHeat
from gis.hotspots import SMALL_K, Z_95, Z_99, Hotspots, suppressed
from maps.base import escape, feature_collection, fitted_map, frames_bounds, shift_frame, shift_latlon
from maps.basemaps import BaseMap
from maps.leader_assets import HazardClusters, PluginAssets, WeeklyHeatMap
from maps.legend import HtmlLegend

LAYERS = {
    "heat": "诉求热力（按周）",
    "hotspots": "诉求热点（Gi* 显著）",
    "closure": "网格诉求办结率",
    "overdue": "网格隐患逾期率",
    "hazards": "隐患（聚合）",
}
NO_DATA = "#d9d9d9"  # a grid whose rate rests on fewer than k cases
# (lower bound, colour, label): closure — higher is better; overdue — higher is worse.
CLOSURE_CLASSES = (
    (0.95, "#1a9641", "≥95%"),
    (0.85, "#a6d96a", "85–95%"),
    (0.70, "#ffffbf", "70–85%"),
    (0.50, "#fdae61", "50–70%"),
    (0.0, "#d7191c", "<50%"),
)
OVERDUE_CLASSES = (
    (0.50, "#a50f15", "≥50%"),
    (0.30, "#de2d26", "30–50%"),
    (0.15, "#fb6a4a", "15–30%"),
    (0.05, "#fcae91", "5–15%"),
    (0.0, "#fee5d9", "<5%"),
)
HOTSPOT_STYLE = {
    "hot99": ("#67000d", "热点 99% 置信"),
    "hot95": ("#ef3b2c", "热点 95% 置信"),
    "cold95": ("#2171b5", "冷点 95% 置信"),
}
SEVERITY_COLOURS = {"high": "#d7191c", "medium": "#fdae61", "low": "#2c7bb6"}

LEADER_STYLE = """
<style>
  .gridmap-legend .gridmap-box { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
    vertical-align: -2px; border: 1px solid #777; border-radius: 0; }
  .gridmap-legend { max-width: 300px; }
  .gridmap-filter { background: rgba(255,255,255,0.95); padding: 6px 8px; border-radius: 4px; font-size: 12px;
    box-shadow: 0 1px 4px rgba(0,0,0,0.3); }
  .gridmap-filter label { display: block; margin: 2px 0; }
  .gridmap-filter select, .gridmap-filter input { font-size: 12px; max-width: 180px; }
</style>
"""


@dataclass
class LeaderView:
    """What the map shows and was asked for (the filter form and legend say it back)."""

    first: date
    last: date
    category: str | None = None
    community_id: int | None = None
    categories: Sequence[tuple[str, str]] = ()  # (code, name)
    communities: Sequence[tuple[int, str]] = ()  # (id, name) in the user's scope
    scope_label: str = ""
    form: bool = True  # the filter form (a served page); a written file shows the filters as text
    notes: list[str] = field(default_factory=list)


class ControlBox(MacroElement):
    """A Leaflet control holding `html` (built escaped by the caller) at `position`."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function() {
                var box = L.control({position: {{ this.position|tojson }}});
                box.onAdd = function() {
                    var div = L.DomUtil.create('div', {{ this.css|tojson }});
                    div.innerHTML = {{ this.html|tojson }};
                    L.DomEvent.disableClickPropagation(div);
                    return div;
                };
                box.addTo({{ this._parent.get_name() }});
            })();
        {% endmacro %}
        """
    )

    def __init__(self, html: str, *, position: str = "topleft", css: str = "gridmap-filter") -> None:
        super().__init__()
        self._name = "ControlBox"
        self.html, self.position, self.css = html, position, css


def rate_class(rate: float | None, n: int, classes: Sequence[tuple[float, str, str]], k: int = SMALL_K) -> str:
    """The fill colour of a grid's rate; grey when there is no rate or it rests on fewer than `k` cases."""
    if rate is None or n < k:
        return NO_DATA
    return next(colour for bound, colour, _ in classes if rate >= bound)


def shown_rate(part: int, whole: int, k: int = SMALL_K) -> str:
    """'83% (20/24)', or '<5 件' when the rate rests on fewer than k cases (the counts would single cases out)."""
    if whole < k:
        return f"{suppressed(whole, k)} 件，不计算"
    return f"{part / whole:.0%}（{part}/{whole}）"


def grid_rates(grids: gpd.GeoDataFrame, k: int = SMALL_K) -> gpd.GeoDataFrame:
    """Grids with ``requests_counted``/``requests_closed`` and ``hazards_reported``/``hazards_overdue`` given the
    display columns and fill colours of both choropleths."""
    out = grids.copy()
    counted, closed = out["requests_counted"].astype(int), out["requests_closed"].astype(int)
    reported, overdue = out["hazards_reported"].astype(int), out["hazards_overdue"].astype(int)
    out["closure"] = [shown_rate(c, n, k) for c, n in zip(closed, counted, strict=True)]
    out["overdue"] = [shown_rate(o, n, k) for o, n in zip(overdue, reported, strict=True)]
    out["closure_fill"] = [
        rate_class(c / n if n else None, n, CLOSURE_CLASSES, k) for c, n in zip(closed, counted, strict=True)
    ]
    out["overdue_fill"] = [
        rate_class(o / n if n else None, n, OVERDUE_CLASSES, k) for o, n in zip(overdue, reported, strict=True)
    ]
    return out


def _choropleth(fmap: folium.Map, grids: gpd.GeoDataFrame, key: str, *, show: bool) -> folium.GeoJson:
    fields = ["code", "name", "closure", "overdue"]
    data = feature_collection(grids.assign(layer=key, fill=grids[f"{key}_fill"]), [*fields, "layer", "fill"], on=fmap)
    tooltip = folium.GeoJsonTooltip(
        fields=fields, aliases=["网格编码", "网格名称", "诉求办结率", "隐患逾期率"], sticky=True
    )
    return folium.GeoJson(
        data,
        name=escape(LAYERS[key]),
        style_function=lambda f: {
            "color": "#555555",
            "weight": 1.2,
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.35,
        },
        tooltip=tooltip,
        show=show,
    )


def _hotspots(fmap: folium.Map, spots: Hotspots) -> folium.GeoJson | None:
    cells = spots.significant
    if not len(cells):
        return None
    cells = cells.assign(
        layer="hotspots",
        label=[HOTSPOT_STYLE[k][1] for k in cells["kind"]],
        fill=[HOTSPOT_STYLE[k][0] for k in cells["kind"]],
    )
    fields = ["label", "z", "p", "shown"]
    return folium.GeoJson(
        feature_collection(cells, [*fields, "layer", "fill", "kind"], on=fmap),
        name=escape(LAYERS["hotspots"]),
        style_function=lambda f: {
            "color": f["properties"]["fill"],
            "weight": 2,
            "fillColor": f["properties"]["fill"],
            "fillOpacity": 0.25,
            "dashArray": "4 3",
        },
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=["类型", "Gi* z 值", "p 值", "诉求件数"], sticky=True),
    )


def _drawn_centres(fmap: folium.Map, centres: list[list[float]]) -> list[list[float]]:
    """The heat cells' [lat, lon] as drawn on `fmap` (GCJ-02 on an AMap base)."""
    if not centres:
        return centres
    lat_lon = np.asarray(centres, dtype=float)
    lat, lon = shift_latlon(fmap, lat_lon[:, 0], lat_lon[:, 1])
    return np.round(np.column_stack([lat, lon]), 6).tolist()


HAZARD_FIELDS = ("category_name", "state_label", "severity_label", "week")
HAZARD_LABELS = ["类别", "状态", "严重程度", "上报周"]


def _hazard_clusters(hazards: gpd.GeoDataFrame) -> HazardClusters:
    """Hazards as [lat, lon, category, state, severity, week]: indices into lists of escaped labels."""
    lookups: list[list[str]] = []
    columns: list[list[int]] = []
    raw: list[list[str]] = []
    for column in HAZARD_FIELDS:
        values = hazards[column].fillna("").astype(str).tolist() if len(hazards) else []
        labels = sorted(set(values))
        position = {label: i for i, label in enumerate(labels)}
        raw.append(labels)
        lookups.append([escape(label) for label in labels])
        columns.append([position[v] for v in values])
    rows = [
        [round(float(point.y), 6), round(float(point.x), 6), *(column[i] for column in columns)]
        for i, point in enumerate(hazards.geometry if len(hazards) else [])
    ]
    severity_of = dict(zip(hazards["severity_label"], hazards["severity"], strict=True)) if len(hazards) else {}
    colours = [SEVERITY_COLOURS.get(severity_of.get(label, ""), "#777777") for label in raw[2]]
    return HazardClusters(
        rows, lookups, HAZARD_LABELS, colours, name=escape(LAYERS["hazards"]), options={"maxClusterRadius": 50}
    )


def _ramp(title: str, classes: Sequence[tuple[float, str, str]]) -> str:
    boxes = "".join(
        f'<span><i class="gridmap-box" style="background:{c}"></i>{escape(t)}</span> ' for _, c, t in classes
    )
    grey = f'<span><i class="gridmap-box" style="background:{NO_DATA}"></i>不足 {SMALL_K} 件</span>'
    return f"<div><b>{escape(title)}</b><br>{boxes}{grey}</div>"


def _legend(view: LeaderView, heat: WeeklyHeat, spots: Hotspots, n_hazards: int, hidden: int) -> str:
    names = dict(view.categories)
    category = escape(names.get(view.category, view.category)) if view.category else "全部类别"
    hot = spots.significant["kind"].value_counts()
    hot_rows = "".join(
        f'<span><i class="gridmap-box" style="background:{colour}"></i>{escape(label)}（{int(hot.get(kind, 0))}）'
        "</span> "
        for kind, (colour, label) in HOTSPOT_STYLE.items()
    )
    rows = [
        f"<b>{escape(view.scope_label)} 诉求与隐患</b>",
        f'<div class="gridmap-sub">{view.first.isoformat()} 至 {view.last.isoformat()} · 诉求类别：{category}</div>',
        f"<div><b>{escape(LAYERS['heat'])}</b>：拖动左下角时间轴按周查看；"
        f"热力点为约 {HEAT_SIZE_M * 2:.0f} 米的格网中心，"
        f"全期少于 {SMALL_K} 件的格网不显示（{heat.left_out} 件未绘出）。</div>",
        f"<div><b>{escape(LAYERS['hotspots'])}</b>：约 {spots.size_m:.0f} 米六边形内的诉求件数做 Getis-Ord Gi* 检验，"
        f"z ≥ {Z_95:.2f}（双侧 p &lt; 0.05，95%）为热点，z ≥ {Z_99:.2f} 为 99%，z ≤ −{Z_95:.2f} 为冷点；"
        f"未做多重检验校正。与热力图不同：热力只是密度，热点是统计上显著的聚集。<br>{hot_rows}</div>",
        _ramp("网格诉求办结率（全部类别，已办结/受理）", CLOSURE_CLASSES),
        _ramp("网格隐患逾期率（逾期/上报）", OVERDUE_CLASSES),
        f"<div><b>{escape(LAYERS['hazards'])}</b>：{n_hazards} 处（按严重程度着色）"
        + (f"；另有 {suppressed(hidden)} 处涉及住户，只计入网格比率，不在图上标出" if hidden else "")
        + "</div>",
        f'<div class="gridmap-sub">少于 {SMALL_K} 件的数字显示为 “&lt;{SMALL_K}”；本图不含任何居民个人信息。</div>',
        *(f'<div class="gridmap-sub">{escape(note)}</div>' for note in view.notes),
    ]
    return "".join(rows)


def _filter_form(view: LeaderView) -> str:
    def option(value: object, label: str, selected: bool) -> str:
        return f'<option value="{escape(value)}"{" selected" if selected else ""}>{escape(label)}</option>'

    categories = option("", "全部类别", view.category is None) + "".join(
        option(code, f"{name}（{code}）", code == view.category) for code, name in view.categories
    )
    communities = option("", "全部社区", view.community_id is None) + "".join(
        option(cid, name, cid == view.community_id) for cid, name in view.communities
    )
    many = len(view.communities) > 1
    return (
        '<form method="get" class="gridmap-filter-form"><b>筛选</b>'
        f'<label>诉求类别 <select name="category">{categories}</select></label>'
        + (f'<label>社区 <select name="community_id">{communities}</select></label>' if many else "")
        + f'<label>起 <input type="date" name="from" value="{view.first.isoformat()}"></label>'
        f'<label>止 <input type="date" name="to" value="{view.last.isoformat()}"></label>'
        '<button type="submit">应用</button></form>'
    )


def leader_map(
    *,
    grids: gpd.GeoDataFrame,
    heat: WeeklyHeat,
    spots: Hotspots,
    hazards: gpd.GeoDataFrame,
    hidden_hazards: int,
    view: LeaderView,
    tiles: str | BaseMap = "openstreetmap",
    attribution: str | None = None,
    asset_base_url: str | None = None,
    osm_data: bool = False,
) -> folium.Map:
    """The leader map, fitted to the grids.

    Parameters
    ----------
    grids : grid polygons with ``code``, ``name`` and the counts ``requests_counted``, ``requests_closed``,
        ``hazards_reported``, ``hazards_overdue`` over the period.
    heat : the weekly heat of the requests (gis.heat.weekly_heat).
    spots : the Gi* hotspots of the requests (gis.hotspots.hotspots).
    hazards : hazard points not tied to a household: ``category_name``, ``state_label``, ``severity``,
        ``severity_label``, ``week``.
    hidden_hazards : hazards tied to a household, counted in the rates but not drawn.
    view : the period, filters and scope shown.
    tiles, attribution, asset_base_url, osm_data : as in `maps.base.base_map`.
    """
    bounds = frames_bounds([grids]) if len(grids) else None
    fmap = fitted_map(
        bounds,
        zoom=15,
        tiles=tiles,
        attribution=attribution,
        osm_data=osm_data,
        asset_base_url=asset_base_url,
    )
    fmap.options.setdefault("max_zoom", 19)  # the clusters need a maxZoom, which a map without tiles lacks
    fmap.add_child(PluginAssets(asset_base_url))
    rated = grid_rates(grids)
    if len(rated):
        _choropleth(fmap, rated, "closure", show=True).add_to(fmap)
        _choropleth(fmap, rated, "overdue", show=False).add_to(fmap)
    labels = [f"{week.isoformat()} 当周" for week in heat.weeks]
    WeeklyHeatMap(
        heat.data,
        _drawn_centres(fmap, heat.centres),
        index=labels,
        name=escape(LAYERS["heat"]),
        radius=28,
        min_opacity=0.1,
        max_opacity=0.75,
    ).add_to(fmap)
    layer = _hotspots(fmap, spots)
    if layer is not None:
        layer.add_to(fmap)
    _hazard_clusters(shift_frame(fmap, hazards) if len(hazards) else hazards).add_to(fmap)
    fmap.add_child(HtmlLegend(_legend(view, heat, spots, len(hazards), hidden_hazards), LEADER_STYLE))
    if view.form:
        fmap.add_child(ControlBox(_filter_form(view), position="topleft"))
    folium.LayerControl(collapsed=True).add_to(fmap)
    return fmap
