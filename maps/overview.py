"""Overview map (概览图) of a community or street: grids, buildings, service points by type, compounds.

Served by the API (`tile_prefix` given), grids, buildings and service points are drawn from gridmap's vector tiles
(maps.vectortiles): the page stays small for a street or a district (the sample street's inline page was 1.2 MB).
Written to a file by the CLI (no `tile_prefix`), each layer is one folium.GeoJson: only the properties a tooltip
shows, escaped, with coordinates rounded to 6 decimals. Compounds, communities and the grid codes are inline
either way (a few hundred shapes or points). Every overlay has a Chinese + English name in the layer control; a
legend lists the service types drawn.
"""

from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd

from maps.base import GRID_CODE_LABEL, escape, feature_collection, fitted_map, frames_bounds
from maps.basemaps import BaseMap
from maps.labels import FIELD_LABELS, LAYER_NAMES, SERVICE_TYPES, service_colour, service_label
from maps.legend import HtmlLegend
from maps.vectortiles import add_grid_codes, add_tile_layer

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
    on: folium.Map | None = None,
    **kwargs: Any,
) -> folium.GeoJson:
    """One overlay: the frame's features with `fields` as escaped properties and a tooltip showing them, drawn on
    the base of the map `on` (GCJ-02 on AMap)."""
    tooltip = None
    if fields:
        aliases = [escape(FIELD_LABELS[f]) for f in fields]
        tooltip = folium.GeoJsonTooltip(fields=list(fields), aliases=aliases, sticky=True)
    return folium.GeoJson(
        feature_collection(gdf, fields, on=on),
        name=escape(name),
        style_function=lambda _feature: dict(style),
        tooltip=tooltip,
        show=show,
        **kwargs,
    )


def _service_types(service_points: gpd.GeoDataFrame) -> list[tuple[str, gpd.GeoDataFrame]]:
    """The points of each type (known types in the usual order, then unknown ones)."""
    points = service_points.assign(type=service_points["type"].fillna("").astype(str))
    present = set(points["type"])
    codes = [c for c in SERVICE_TYPES if c in present] + sorted(present - set(SERVICE_TYPES))
    return [(code, points[points["type"] == code]) for code in codes]


def _service_layers(
    fmap: folium.Map, service_points: gpd.GeoDataFrame, tiles: tuple[str, str] | None
) -> list[tuple[str, str, int]]:
    """One CircleMarker overlay per service type, inline or from the service_points tiles; the legend entries."""
    entries = []
    for code, subset in _service_types(service_points):
        label, colour = service_label(code), service_colour(code)
        name = f"{label} {code}"
        if tiles is not None:
            style = {"color": "#ffffff", "weight": 1.5, "fillColor": colour, "fillOpacity": 0.95}
            fields = [("name", FIELD_LABELS["name"]), ("type", FIELD_LABELS["type_label"])]
            add_tile_layer(fmap, "service_points", name=escape(name), style=style, fields=fields, only={"type": code},
                           point=6, asset_base_url=tiles[0], tile_prefix=tiles[1])  # fmt: skip
        else:
            subset = subset.assign(type_label=label)
            marker = folium.CircleMarker(radius=6, weight=1.5, color="#ffffff", fill=True, fill_opacity=0.95)
            style = {"fillColor": colour}
            _layer(subset, name=name, style=style, fields=("name", "type_label"), marker=marker, on=fmap).add_to(fmap)
        entries.append((label, colour, len(subset)))
    return entries


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
    tile_prefix: str | None = None,
) -> folium.Map:
    """The overview map, fitted to the data, with a layer control and a service-type legend.

    Frames have the columns of docs/layers.md, in EPSG:4326; empty or absent layers are left out. The walk
    network starts hidden (it is busy and mostly context). `tiles`, `attribution`, `asset_base_url` and
    `osm_data` are as in `maps.base.base_map`. `tile_prefix` (e.g. '/tiles', with `asset_base_url`): draw grids,
    buildings and service points from gridmap's vector tiles there; the frames then only fit the map and count.
    """
    drawn = [f for f in (grids, buildings, service_points, compounds, communities) if f is not None]
    bounds = frames_bounds(drawn)
    fmap = fitted_map(
        bounds,
        tiles=tiles,
        attribution=attribution,
        osm_data=osm_data,
        asset_base_url=asset_base_url,
    )

    tiles_from = None
    if tile_prefix is not None:
        if asset_base_url is None:
            raise ValueError("tile layers need the API's assets: give asset_base_url with tile_prefix")
        tiles_from = (asset_base_url, tile_prefix)

    def labelled(*fields: str) -> list[tuple[str, str]]:
        return [(f, FIELD_LABELS[f]) for f in fields]

    # Bottom to top: area outlines first, so buildings and points stay hoverable above them.
    if communities is not None and len(communities):
        _layer(
            communities, name=LAYER_NAMES["communities"], style=STYLES["communities"], fields=("code", "name"), on=fmap
        ).add_to(fmap)
    if len(grids) and tiles_from is not None:
        add_tile_layer(fmap, "grids", name=escape(LAYER_NAMES["grids"]), style=STYLES["grids"],
                       fields=labelled("code", "name"), asset_base_url=tiles_from[0],
                       tile_prefix=tiles_from[1])  # fmt: skip
        add_grid_codes(fmap, grids)
    elif len(grids):
        _layer(
            grids,
            name=LAYER_NAMES["grids"],
            style=STYLES["grids"],
            fields=("code", "name"),
            on_each_feature=GRID_CODE_LABEL,
            on=fmap,
        ).add_to(fmap)
    if len(compounds):
        _layer(compounds, name=LAYER_NAMES["compounds"], style=STYLES["compounds"], fields=("name",), on=fmap).add_to(
            fmap
        )
    if len(buildings) and tiles_from is not None:
        add_tile_layer(fmap, "buildings", name=escape(LAYER_NAMES["buildings"]), style=STYLES["buildings"],
                       fields=labelled("name", "kind", "floors", "households"), asset_base_url=tiles_from[0],
                       tile_prefix=tiles_from[1])  # fmt: skip
    elif len(buildings):
        _layer(
            buildings,
            name=LAYER_NAMES["buildings"],
            style=STYLES["buildings"],
            fields=("kind", "floors", "households"),
            on=fmap,
        ).add_to(fmap)
    if walk_edges is not None and len(walk_edges):
        _layer(
            walk_edges, name=LAYER_NAMES["walk_edges"], style=STYLES["walk_edges"], fields=(), show=False, on=fmap
        ).add_to(fmap)

    legend_entries = _service_layers(fmap, service_points, tiles_from) if len(service_points) else []
    fmap.add_child(Legend(legend_entries))
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap
