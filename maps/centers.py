"""中心户 map (党员中心户联系图): which center household looks after which household, and what each grid lacks.

A community secretary checks the assignment of gis/centers/assign.py on it: each center household, a line from every
household it looks after (one colour per center, cycled within the grid), the households left uncovered (marked
red with the reason in the tooltip), suggested new centers, and the grids with their load (households, centers,
capacity, uncovered) in the tooltip. In file mode there are no grid polygons: each grid is then drawn as the
concave hull of its households, and the legend says so.

As maps/coverage.py: one folium.GeoJson per layer, only the properties a tooltip shows, HTML-escaped
(maps.base.feature_collection), coordinates rounded, gridmap's own Leaflet (maps.base.base_map), Chinese + English
names. Every drawn element carries a CSS class (``gridmap-center``, ``gridmap-link`` …) so tests can count them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.centers import DEFAULT_CAPACITY
from gis.crs import metric_crs
from maps.base import (
    GRID_CODE_LABEL,
    SITE_RANK_LABEL,
    escape,
    feature_collection,
    fitted_map,
    frames_bounds,
    to_wgs84,
)
from maps.basemaps import BaseMap
from maps.labels import LAYER_NAMES
from maps.legend import HtmlLegend

# One colour per center, cycled within each grid (neighbouring centers of a grid differ up to 10 centers).
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79", "#637939",
)  # fmt: skip
UNCOVERED_COLOUR = "#d7191c"
SUGGESTED_COLOUR = "#111111"
GRID_COLOUR = "#7f7f7f"
HULL_BUFFER_M = 15.0  # a hull of one or two households is a point or a line: grow it into a shape
HULL_RATIO = 0.4  # shapely.concave_hull: 0 = tightest, 1 = convex
TRUE = ("true", "1", "t", "yes")

CENTER_LAYERS: dict[str, str] = {
    "grids": LAYER_NAMES["grids"],
    "links": "联系线 Household → center",
    "households": "联系户 Households looked after",
    "uncovered": "未覆盖户 Uncovered households",
    "centers": "党员中心户 Center households",
    "suggestions": "建议新增中心户 Suggested centers",
}
CENTER_FIELDS: dict[str, str] = {
    "code": "网格 Grid",
    "households": "户数 Households",
    "centers": "中心户 Centers",
    "capacity": "容量 Capacity",
    "assigned": "已联系 Assigned",
    "uncovered": "未覆盖 Uncovered",
    "mean_walk": "平均步行 Mean walk (m)",
    "household": "住户 Household",
    "center": "中心户 Center household",
    "grid": "网格 Grid",
    "walk": "步行 Walk (m)",
    "status": "状态 Status",
    "reason": "原因 Reason",
    "load": "联系户数 Looks after",
    "rank": "排名 Rank",
    "covers": "可覆盖 Covers",
}
HULL_NOTE = "网格范围为住户凹包（文件模式无网格边界） outline = hull of its households (no grid polygons given)"

CENTERS_STYLE = """
<style>
  .gridmap-legend .gridmap-line { display: inline-block; width: 16px; height: 0; border-top: 2px solid #1f77b4;
    margin-right: 6px; vertical-align: 3px; border-radius: 0; }
</style>
"""


class CentersLegend(HtmlLegend):
    """Bottom-right legend of the 中心户 map (HTML built escaped), with the map's own CSS."""

    def __init__(self, html: str) -> None:
        super().__init__(html, CENTERS_STYLE)


# --- inputs -----------------------------------------------------------------------------------------------------


def _text_ids(values: pd.Series) -> pd.Series:
    """Ids as text, NA kept (ids from a CSV and from GeoJSON must compare equal)."""
    return values.map(lambda v: None if pd.isna(v) else str(v), na_action=None)


def joined(households: gpd.GeoDataFrame, table: pd.DataFrame) -> gpd.GeoDataFrame:
    """Households (``id`` or ``source_id``, ``grid_id``, ``is_center``, ``capacity``) joined with the assignment
    (``household_id``, ``center_id``, ``walk_m``, optional ``status`` and ``reason``), in WGS84, with ``kind``:
    ``center``, ``assigned`` or ``uncovered``."""
    hh = to_wgs84(households)
    hh = hh[~(hh.geometry.isna() | hh.geometry.is_empty)].copy()
    hh["id"] = _text_ids(hh["id"] if "id" in hh else hh["source_id"])
    hh["grid_id"] = _text_ids(hh["grid_id"])
    rows = table.assign(household_id=_text_ids(table["household_id"]), center_id=_text_ids(table["center_id"]))
    rows = rows.drop_duplicates("household_id").set_index("household_id")
    found = rows.reindex(hh["id"].to_numpy())
    hh["center_id"] = found["center_id"].to_numpy()
    hh["walk_m"] = pd.to_numeric(found["walk_m"], errors="coerce").to_numpy()
    hh["reason"] = found["reason"].to_numpy() if "reason" in found else None
    hh["status"] = found["status"].to_numpy() if "status" in found else None
    if "is_center" in hh:
        flag = hh["is_center"]
        centers = flag.to_numpy(bool) if flag.dtype == bool else flag.astype(str).str.lower().isin(TRUE).to_numpy()
    else:
        centers = (hh["center_id"] == hh["id"]).to_numpy()
    capacity = pd.to_numeric(hh["capacity"], errors="coerce") if "capacity" in hh else np.nan
    hh["capacity"] = np.where(centers, pd.Series(capacity, index=hh.index).fillna(DEFAULT_CAPACITY), 0).astype(int)
    hh["kind"] = np.where(centers, "center", np.where(pd.isna(hh["center_id"]), "uncovered", "assigned"))
    return hh


def grid_load(hh: gpd.GeoDataFrame) -> pd.DataFrame:
    """Per grid: households, centers, capacity, assigned, uncovered and mean walk of the assigned."""
    kind = hh["kind"]
    frame = pd.DataFrame(
        {
            "grid_id": hh["grid_id"],
            "households": 1,
            "centers": (kind == "center").astype(int),
            "capacity": hh["capacity"],
            "assigned": (kind == "assigned").astype(int),
            "uncovered": (kind == "uncovered").astype(int),
            "walk": np.where(kind == "assigned", hh["walk_m"].fillna(0), 0.0),
        }
    )
    load = frame.groupby("grid_id", sort=True).sum()
    load["mean_walk"] = np.round(load["walk"] / load["assigned"].where(load["assigned"] > 0), 0)
    load["capacity"] = load["capacity"].astype(int)
    return load.drop(columns="walk")


def grid_hulls(hh: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Each grid's outline from its households (file mode has no grid polygons): a concave hull grown a little."""
    crs = metric_crs(hh)
    metric = hh.to_crs(crs)
    shapes, names = [], []
    for grid, points in metric.groupby("grid_id", sort=True).geometry:
        hull = shapely.concave_hull(shapely.MultiPoint(list(points.values)), ratio=HULL_RATIO)
        shapes.append(hull.buffer(HULL_BUFFER_M))
        names.append(grid)
    return gpd.GeoDataFrame({"grid_id": names}, geometry=shapes, crs=crs).to_crs(4326)


def _grid_key(grids: gpd.GeoDataFrame, known: set[str]) -> pd.Series:
    """Which column of `grids` the households' grid_id names: ``grid_id``, ``source_id`` or ``code``."""
    for column in ("grid_id", "source_id", "code"):
        if column in grids and _text_ids(grids[column]).isin(known).any():
            return _text_ids(grids[column])
    return pd.Series([None] * len(grids), index=grids.index)


# --- layers -----------------------------------------------------------------------------------------------------


def _layer(
    gdf: gpd.GeoDataFrame,
    *,
    key: str,
    style: Any,
    fields: Sequence[str] = (),
    marker: folium.CircleMarker | None = None,
    css: str | None = None,
    on: folium.Map | None = None,
    **kwargs: Any,
) -> folium.GeoJson:
    """One overlay with escaped properties `fields` shown in its tooltip; lines and polygons get the CSS class
    `css` through the layer's options (markers through the marker's own ``class_name``)."""
    css_option: dict[str, Any] = {"className": css} if css else {}
    properties = [*fields, *(["k"] if "k" in gdf else [])]
    tooltip = None
    if fields:
        aliases = [escape(CENTER_FIELDS[f]) for f in fields]
        tooltip = folium.GeoJsonTooltip(fields=list(fields), aliases=aliases, sticky=True)
    style_function = style if callable(style) else (lambda _feature: dict(style))
    return folium.GeoJson(
        feature_collection(gdf, properties, on=on),
        name=escape(CENTER_LAYERS[key]),
        style_function=style_function,
        tooltip=tooltip,
        marker=marker,
        **css_option,
        **kwargs,
    )


def _by_colour(base: Mapping[str, Any], *, fill: bool = False, outline: str | None = None) -> Any:
    """Style in the colour of the feature's center (property ``k``): line, or fill with an `outline` colour."""

    def style(feature: dict[str, Any]) -> dict[str, Any]:
        colour = PALETTE[int(feature["properties"]["k"]) % len(PALETTE)]
        return {**base, "color": outline or colour, **({"fillColor": colour} if fill else {})}

    return style


def _marker(radius: float, weight: float, css: str, fill_opacity: float = 0.95) -> folium.CircleMarker:
    return folium.CircleMarker(radius=radius, weight=weight, fill=True, fill_opacity=fill_opacity, class_name=css)


def _legend_html(hh: gpd.GeoDataFrame, load: pd.DataFrame, n_suggested: int, hull: bool, full: int) -> str:
    counts = hh["kind"].value_counts()
    walk = float(hh.loc[hh["kind"] == "assigned", "walk_m"].sum())
    swatch = "".join(f'<i style="background:{c};border-color:#333"></i>' for c in PALETTE[:3])
    rows = [
        "<b>党员中心户 Center households</b>",
        f"<div>{swatch}中心户 Center households ({int(counts.get('center', 0))}) · {full} 已满 at capacity</div>",
        f'<div><i class="gridmap-line"></i>联系户 → 中心户 Household → its center '
        f"({int(counts.get('assigned', 0))}) · 每户一色 one colour per center</div>",
        f'<div><i style="background:{UNCOVERED_COLOUR};border:2px solid #000"></i>未覆盖户 Uncovered '
        f"({int(counts.get('uncovered', 0))})</div>",
        f'<div><i style="background:transparent;border:2px solid {GRID_COLOUR};border-radius:0"></i>'
        f"网格 Grids ({len(load)})</div>",
    ]
    if hull:
        rows.append(f'<div class="gridmap-sub">{escape(HULL_NOTE)}</div>')
    if n_suggested:
        rows.append(
            f'<div><i style="background:#fff;border:2.5px solid {SUGGESTED_COLOUR}"></i>'
            f"建议新增中心户 Suggested centers ({n_suggested})</div>"
        )
    rows.append(f'<div class="gridmap-sub">总步行 Total walk {walk / 1000:,.1f} km (walk network)</div>')
    return "".join(rows)


def centers_map(
    *,
    households: gpd.GeoDataFrame,
    table: pd.DataFrame,
    grids: gpd.GeoDataFrame | None = None,
    suggestions: Any = None,
    tiles: str | BaseMap = "openstreetmap",
    attribution: str | None = None,
    asset_base_url: str | None = None,
    osm_data: bool = False,
) -> folium.Map:
    """The 中心户 map, fitted to the households.

    Parameters
    ----------
    households : Points with ``id`` (or ``source_id``), ``grid_id``, ``is_center`` and ``capacity``.
    table : the assignment (`gis.centers.Assignment.households` or RESULT.csv): ``household_id``, ``center_id``
        (NA: uncovered), ``walk_m``; optional ``status`` and ``reason`` (shown in the tooltips).
    grids : grid polygons with ``code`` and a key naming the households' grid_id (``grid_id``, ``source_id`` or
        ``code``); None draws each grid as the hull of its households and says so in the legend.
    suggestions : `gis.centers.Suggestions` (or its ``centers`` frame): ``household_id``, ``grid_id``,
        ``rank``, ``covers``; drawn at the suggested households with their rank.
    tiles, attribution, asset_base_url, osm_data : as in `maps.base.base_map`.

    Returns
    -------
    folium.Map (nothing written). Overlays, bottom to top: grids, lines, households looked after, uncovered
    households, center households, suggested centers; a legend and a layer control.
    """
    hh = joined(households, table)
    load = grid_load(hh)
    centers = hh[hh["kind"] == "center"].sort_values(["grid_id", "id"], kind="stable")
    colour = pd.Series(centers.groupby("grid_id").cumcount().to_numpy(), index=centers["id"].to_numpy())
    ends = hh.drop_duplicates("id").set_index("id").geometry
    assigned = hh[(hh["kind"] == "assigned") & hh["center_id"].isin(ends.index)]
    uncovered = hh[hh["kind"] == "uncovered"]
    outlines = _outlines(hh, grids, load)
    bounds = frames_bounds([f for f in (hh, outlines) if len(f)])
    fmap = fitted_map(
        bounds,
        tiles=tiles,
        attribution=attribution,
        osm_data=osm_data,
        asset_base_url=asset_base_url,
    )
    layer = functools.partial(_layer, on=fmap)  # drawn on its base (GCJ-02 on AMap)
    grid_style = {"color": GRID_COLOUR, "weight": 1.5, "fillColor": GRID_COLOUR, "fillOpacity": 0.04}
    if grids is None:
        grid_style["dashArray"] = "5 4"
    if len(outlines):
        fields = ["code", "households", "centers", "capacity", "assigned", "uncovered", "mean_walk"]
        layer(  # with the grid's code (file mode: its id) on the map
            outlines, key="grids", style=grid_style, fields=fields, css="gridmap-grid", on_each_feature=GRID_CODE_LABEL
        ).add_to(fmap)
    k = colour.reindex(assigned["center_id"].to_numpy()).fillna(0).astype(int).to_numpy()
    if len(assigned):
        ends_xy = shapely.get_coordinates(ends.reindex(assigned["center_id"].to_numpy()).to_numpy())
        lines = shapely.linestrings(np.stack([shapely.get_coordinates(assigned.geometry.to_numpy()), ends_xy], axis=1))
        links = gpd.GeoDataFrame({"k": k}, geometry=lines, crs=4326)
        link_style = _by_colour({"weight": 1.5, "opacity": 0.75})
        layer(links, key="links", style=link_style, css="gridmap-link", interactive=False).add_to(fmap)
        dots = _points(assigned, household="id", center="center_id", walk="walk_m", status="status").assign(k=k)
        fields = ["household", "center", "walk", *(["status"] if dots["status"].notna().any() else [])]
        style = _by_colour({"weight": 1, "fillOpacity": 0.9}, fill=True)
        marker = _marker(3, 1, "gridmap-household")
        layer(dots, key="households", style=style, fields=fields, marker=marker).add_to(fmap)
    if len(uncovered):
        marks = _points(uncovered, household="id", grid="grid_id", reason="reason")
        style = {"color": "#000000", "fillColor": UNCOVERED_COLOUR}
        marker = _marker(5, 2, "gridmap-uncovered")
        layer(marks, key="uncovered", style=style, fields=["household", "grid", "reason"], marker=marker).add_to(fmap)
    n = assigned["center_id"].value_counts().reindex(centers["id"].to_numpy()).fillna(0).astype(int).to_numpy()
    if len(centers):
        walks = assigned.groupby("center_id")["walk_m"].sum().reindex(centers["id"].to_numpy()).fillna(0)
        spots = _points(centers, center="id", grid="grid_id").assign(
            load=[f"{a} / {b}" for a, b in zip(n, centers["capacity"], strict=True)],
            walk=np.round(walks.to_numpy(), 0),
            k=colour.to_numpy(),
        )
        style = _by_colour({"weight": 2.5, "fillOpacity": 1.0}, fill=True, outline="#222222")
        fields = ["center", "grid", "load", "walk"]
        layer(spots, key="centers", style=style, fields=fields, marker=_marker(8, 2.5, "gridmap-center")).add_to(fmap)
    picks = getattr(suggestions, "centers", suggestions)
    sites = gpd.GeoDataFrame({"household": []}, geometry=[], crs=4326)
    if picks is not None and len(picks):
        ids = _text_ids(picks["household_id"]).to_numpy()
        sites = gpd.GeoDataFrame(
            {"household": ids, "grid": _text_ids(picks["grid_id"]).to_numpy(), "rank": picks["rank"].to_numpy(),
             "covers": picks["covers"].to_numpy()},
            geometry=ends.reindex(ids).to_numpy(),
            crs=4326,
        )  # fmt: skip
        sites = sites[sites.geometry.notna()]
        layer(
            sites, key="suggestions", style={"color": SUGGESTED_COLOUR, "fillColor": "#ffffff"},
            fields=["household", "grid", "rank", "covers"], marker=_marker(9, 3, "gridmap-suggested", 1.0),
            on_each_feature=SITE_RANK_LABEL,
        ).add_to(fmap)  # fmt: skip
    full = int((n >= centers["capacity"].to_numpy()).sum())
    fmap.add_child(CentersLegend(_legend_html(hh, load, len(sites), grids is None, full)))
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def _outlines(hh: gpd.GeoDataFrame, grids: gpd.GeoDataFrame | None, load: pd.DataFrame) -> gpd.GeoDataFrame:
    """Grid polygons (or the households' hulls) with ``code`` and the grid's load."""
    if grids is None:
        outlines = grid_hulls(hh) if len(hh) else gpd.GeoDataFrame({"grid_id": []}, geometry=[], crs=4326)
        outlines["code"] = outlines["grid_id"]
    else:
        outlines = to_wgs84(grids).copy()
        outlines["grid_id"] = _grid_key(outlines, set(load.index))
        if "code" not in outlines:
            outlines["code"] = outlines["grid_id"]
    return outlines.join(load, on="grid_id")


def _points(rows: gpd.GeoDataFrame, **columns: str) -> gpd.GeoDataFrame:
    """Tooltip frame: each property named after the column of `rows` it shows (walks rounded to 0.1 m)."""
    data = {name: rows[column].to_numpy() for name, column in columns.items()}
    if "walk" in data:
        data["walk"] = np.round(data["walk"].astype(float), 1)
    return gpd.GeoDataFrame(data, geometry=rows.geometry.to_numpy(), crs=4326)
