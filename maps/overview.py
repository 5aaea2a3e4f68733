"""Overview map (概览图) of a community or street: grids, buildings, service points by type, compounds.

Each layer is one folium.GeoJson (a Leaflet FeatureGroup) so the page stays small for a few thousand buildings:
only the properties a tooltip shows, escaped, with coordinates rounded to 6 decimals. Every overlay has a
Chinese + English name in the layer control; a legend lists the service types drawn.
"""

from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd

from maps.base import EMPTY_CENTER, GRID_CODE_LABEL, base_map, escape, feature_collection, frames_bounds
from maps.basemaps import BaseMap
from maps.labels import FIELD_LABELS, LAYER_NAMES, SERVICE_TYPES, service_colour, service_label
from maps.legend import HtmlLegend

STYLES: dict[str, dict[str, Any]] = {
    "communities": {"color": "#8c564b", "weight": 3, "fill": False},
    "grids": {"color": "#1f4e99", "weight": 2, "fillColor": "#1f4e99", "fillOpacity": 0.04},
    "compounds": {"color": "#2ca02c", "weight": 2, "dashArray": "6 4", "fill": False},
    "buildings": {"color": "#555555", "weight": 0.5, "fillColor": "#8c8c8c", "fillOpacity": 0.6},
    "walk_edges": {"color": "#999999", "weight": 1, "opacity": 0.8},
}


class Legend(HtmlLegend):
    """The overview map's legend: the service types drawn, with their colours."""

    def __init__(self, entries: Sequence[tuple[str, str, int]]) -> None:
        rows = "".join(
            f'<div><i style="background:{escape(colour)}"></i>{escape(label)} ({count})</div>'
            for label, colour, count in entries
        )
        super().__init__(f"<b>服务阵地 Service points</b>{rows}" if rows else "")


def _layer(
    gdf: gpd.GeoDataFrame,
    *,
    name: str,
    style: dict[str, Any],
    fields: Sequence[str],
    show: bool = True,
    **kwargs: Any,
) -> folium.GeoJson:
    """One overlay: the frame's features with `fields` as escaped properties and a tooltip showing them."""
    tooltip = None
    if fields:
        aliases = [escape(FIELD_LABELS[f]) for f in fields]
        tooltip = folium.GeoJsonTooltip(fields=list(fields), aliases=aliases, sticky=True)
    return folium.GeoJson(
        feature_collection(gdf, fields),
        name=escape(name),
        style_function=lambda _feature: dict(style),
        tooltip=tooltip,
        show=show,
        **kwargs,
    )


def _service_layers(service_points: gpd.GeoDataFrame) -> list[tuple[folium.GeoJson, tuple[str, str, int]]]:
    """One CircleMarker layer per service type (known types in the usual order, then unknown ones)."""
    points = service_points.assign(type=service_points["type"].fillna("").astype(str))
    present = set(points["type"])
    codes = [c for c in SERVICE_TYPES if c in present] + sorted(present - set(SERVICE_TYPES))
    layers = []
    for code in codes:
        subset = points[points["type"] == code]
        label, colour = service_label(code), service_colour(code)
        subset = subset.assign(type_label=label)
        marker = folium.CircleMarker(radius=6, weight=1.5, color="#ffffff", fill=True, fill_opacity=0.95)
        style = {"fillColor": colour}
        layer = _layer(subset, name=f"{label} {code}", style=style, fields=("name", "type_label"), marker=marker)
        layers.append((layer, (label, colour, len(subset))))
    return layers


def overview_map(
    *,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    service_points: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame | None = None,
    walk_edges: gpd.GeoDataFrame | None = None,
    tiles: str | BaseMap = "openstreetmap",
    attribution: str | None = None,
    asset_base_url: str | None = None,
    osm_data: bool = False,
) -> folium.Map:
    """The overview map, fitted to the data, with a layer control and a service-type legend.

    Frames have the columns of docs/layers.md, in EPSG:4326; empty or absent layers are left out. The walk
    network starts hidden (it is busy and mostly context). `tiles`, `attribution`, `asset_base_url` and
    `osm_data` are as in `maps.base.base_map`.
    """
    drawn = [f for f in (grids, buildings, service_points, compounds, communities) if f is not None]
    bounds = frames_bounds(drawn)
    fmap = base_map(
        bounds,
        center=EMPTY_CENTER if bounds is None else None,
        zoom=4 if bounds is None else 16,
        tiles=tiles,
        attribution=attribution,
        osm_data=osm_data,
        asset_base_url=asset_base_url,
    )

    # Bottom to top: area outlines first, so buildings and points stay hoverable above them.
    if communities is not None and len(communities):
        _layer(
            communities, name=LAYER_NAMES["communities"], style=STYLES["communities"], fields=("code", "name")
        ).add_to(fmap)
    if len(grids):
        _layer(
            grids,
            name=LAYER_NAMES["grids"],
            style=STYLES["grids"],
            fields=("code", "name"),
            on_each_feature=GRID_CODE_LABEL,
        ).add_to(fmap)
    if len(compounds):
        _layer(compounds, name=LAYER_NAMES["compounds"], style=STYLES["compounds"], fields=("name",)).add_to(fmap)
    if len(buildings):
        _layer(
            buildings,
            name=LAYER_NAMES["buildings"],
            style=STYLES["buildings"],
            fields=("kind", "floors", "households"),
        ).add_to(fmap)
    if walk_edges is not None and len(walk_edges):
        _layer(walk_edges, name=LAYER_NAMES["walk_edges"], style=STYLES["walk_edges"], fields=(), show=False).add_to(
            fmap
        )

    legend_entries = []
    if len(service_points):
        for layer, entry in _service_layers(service_points):
            layer.add_to(fmap)
            legend_entries.append(entry)
    fmap.add_child(Legend(legend_entries))
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap
