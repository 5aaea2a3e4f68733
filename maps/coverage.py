"""Planner map (服务圈规划图) of one service type: how far every building really walks, the network service circles,
the buildings left outside them and where new points would help most.

The map only draws frames it is given (the results of gis.coverage: coverage, service circles and siting, or the
same columns read from the database or a CSV), so it does not depend on how they were computed. Buildings are
coloured in steps by walking time to the nearest point of the type under a walking profile: one colour per level
(≤5, ≤10, ≤15 minutes by default), one beyond the largest level and a dark one for buildings that reach no point at all.
The network circles are drawn one overlay per level, the Euclidean circles only as a dashed reference that starts
hidden (on real street networks a compass circle overstates the walkable area about 1.6–1.9×).

As in maps.overview: one folium.GeoJson per layer, only the properties a tooltip shows, HTML-escaped, coordinates
rounded to 6 decimals; every overlay has a Chinese + English name in the layer control.
"""

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from maps.base import (
    GRID_CODE_LABEL,
    SITE_RANK_LABEL,
    escape,
    feature_collection,
    fitted_map,
    frames_bounds,
)
from maps.basemaps import BaseMap
from maps.coverage_inputs import _drop_empty, _ids, _speed, _type_rows
from maps.coverage_style import (
    CIRCLE_ANCHORS,
    SUGGESTION_COLOUR,
    UNCOVERED_OUTLINE,
    CoverageLegend,
    WalkTooltip,
    class_colours,
    gain_unit,
    legend_html,
    ramp,
    walk_classes,
)
from maps.coverage_tiles import add_tiled_layers
from maps.labels import (
    FIELD_LABELS,
    GAIN_UNITS,
    LAYER_NAMES,
    SERVICE_TYPES,
    circle_layer_name,
    service_colour,
    service_label,
)
from maps.vectortiles import BELOW_PANE, add_panes

BUILDING_STYLE: dict[str, Any] = {"color": "#4d4d4d", "weight": 0.5, "opacity": 0.8, "fillOpacity": 0.85}
UNCOVERED_STYLE: dict[str, Any] = {"color": UNCOVERED_OUTLINE, "weight": 2.5, "opacity": 1.0, "fillOpacity": 0.85}
GRID_STYLE: dict[str, Any] = {"color": "#7f7f7f", "weight": 1.5, "fill": False}  # grey: blue is for the circles
EUCLIDEAN_STYLE: dict[str, Any] = {"color": "#444444", "weight": 1.5, "opacity": 0.9, "dashArray": "6 5", "fill": False}


# --- layers ---------------------------------------------------------------------------------------------------


def _class_style(feature: dict[str, Any], *, base: dict[str, Any], colours: Sequence[str]) -> dict[str, Any]:
    """`base` filled with the colour of the feature's walking-time class (property ``cls``)."""
    return {**base, "fillColor": colours[feature["properties"]["cls"]]}


def _overlay(
    gdf: gpd.GeoDataFrame,
    *,
    name: str,
    style: Any,
    fields: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    show: bool = True,
    on: folium.Map | None = None,
    **kwargs: Any,
) -> folium.GeoJson:
    """One overlay: `gdf` with `fields` as escaped properties and a tooltip showing them (labelled by `labels`, else
    FIELD_LABELS); `style` is a dict or a function of the feature."""
    tooltip = None
    if fields:
        aliases = [escape({**FIELD_LABELS, **(labels or {})}[f]) for f in fields]
        tooltip = folium.GeoJsonTooltip(fields=list(fields), aliases=aliases, sticky=True)
    style_function = style if callable(style) else (lambda _feature: dict(style))
    return folium.GeoJson(
        feature_collection(gdf, fields, on=on),
        name=escape(name),
        style_function=style_function,
        tooltip=tooltip,
        show=show,
        **kwargs,
    )


def _service_overlay(
    points: gpd.GeoDataFrame, code: str, *, chosen: bool, served: pd.Series | None = None, on: folium.Map | None = None
) -> folium.GeoJson:
    label, colour = service_label(code), service_colour(code)
    fields: tuple[str, ...] = ("name", "type_label")
    points = points.assign(type_label=label)
    if served is not None:
        points = points.assign(served=_ids(points).map(served).fillna(0).astype("int64").to_numpy())
        fields = (*fields, "served")
    marker = folium.CircleMarker(
        radius=7 if chosen else 5,
        weight=2 if chosen else 1.5,
        color="#111111" if chosen else "#ffffff",
        fill=True,
        fill_opacity=0.95,
    )
    return _overlay(
        points, name=f"{label} {code}", style={"fillColor": colour}, fields=fields, show=chosen, marker=marker, on=on
    )


def _circle_layers(
    circles: gpd.GeoDataFrame, *, service_type: str, profile: str, levels: Sequence[float]
) -> tuple[list[tuple[float, gpd.GeoDataFrame]], gpd.GeoDataFrame]:
    """Network circles dissolved per level (smallest first) and the Euclidean reference rings, of the type and
    profile."""
    circles = _drop_empty(circles)
    if "service_type" in circles:
        circles = circles[circles["service_type"].astype(str) == str(service_type)]
    if "profile" in circles:
        circles = circles[circles["profile"].astype(str) == str(profile)]
    kind = circles["kind"].astype(str) if "kind" in circles else pd.Series("network", index=circles.index)
    level = pd.to_numeric(circles["level"], errors="coerce").to_numpy(dtype=float)
    wanted = np.isclose(level[:, None], np.asarray(levels, dtype=float)[None, :]).any(axis=1)
    network, rings = (
        circles[(kind == "network").to_numpy() & wanted],
        circles[(kind == "euclidean").to_numpy() & wanted],
    )
    per_level = []
    for lv in levels:
        parts = network[np.isclose(pd.to_numeric(network["level"]).to_numpy(dtype=float), lv)]
        if len(parts):
            merged = shapely.union_all(np.asarray(parts.geometry.values))
            if not merged.is_empty:
                per_level.append((float(lv), gpd.GeoDataFrame(geometry=[merged], crs="EPSG:4326")))
    return per_level, rings


# --- the map --------------------------------------------------------------------------------------------------


def _building_frame(
    buildings: gpd.GeoDataFrame,
    rows: pd.DataFrame,
    names: pd.Series,
    levels: Sequence[float],
) -> tuple[gpd.GeoDataFrame, dict[str, Any], pd.Series]:
    """The buildings with their compact tooltip properties, the `WalkTooltip` arguments, and the number of
    buildings each service point is nearest to.

    Properties: ``name`` (the building's, else its id), ``min`` (minutes, 1 decimal; null: unreachable), ``m``
    (walk metres), ``near`` (index into the tooltip's point names), ``cls`` (walking-time class) and ``residents``
    when the layer has them.
    """
    ids = _ids(buildings)
    found = rows.reindex(ids.to_numpy())
    minutes = found["minutes"].to_numpy(dtype=float)
    flags = [f"covered_{i}" for i in range(len(levels))]
    covered = found[flags].fillna(False).to_numpy(dtype=bool) if flags[0] in found else None
    classes = walk_classes(minutes, levels, covered)
    reached = found["service_id"].notna().to_numpy() & np.isfinite(minutes)
    nearest = pd.Series(
        [str(s) if r else None for s, r in zip(found["service_id"], reached, strict=True)], dtype=object
    )
    near, point_ids = pd.factorize(nearest.to_numpy(dtype=object), use_na_sentinel=True)
    label = buildings["name"].where(buildings["name"].notna(), ids) if "name" in buildings else ids
    frame = gpd.GeoDataFrame(
        {
            "name": label.to_numpy(),
            "min": np.round(minutes, 1),
            "m": np.round(found["walk_m"].to_numpy(dtype=float)),
            "near": np.where(near >= 0, near, np.nan),
            "cls": classes,
        },
        geometry=buildings.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    if "residents" in buildings:
        frame["residents"] = pd.to_numeric(buildings["residents"], errors="coerce").to_numpy()
    tooltip = {
        "levels": levels,
        "nearest": [str(names.get(pid, pid)) for pid in point_ids],
        "residents": "residents" in frame,
    }
    return frame, tooltip, nearest.dropna().value_counts()


def coverage_map(
    *,
    buildings: gpd.GeoDataFrame,
    service_points: gpd.GeoDataFrame,
    table: pd.DataFrame,
    service_type: str,
    profile: str = "standard",
    levels: Sequence[float] = (5, 10, 15),
    circles: gpd.GeoDataFrame | None = None,
    suggestions: gpd.GeoDataFrame | None = None,
    grids: gpd.GeoDataFrame | None = None,
    tiles: str | BaseMap = "openstreetmap",
    attribution: str | None = None,
    asset_base_url: str | None = None,
    osm_data: bool = False,
    tile_prefix: str | None = None,
    in_grids: Sequence[int] | None = None,
) -> folium.Map:
    """The planner map of one service type under one walking profile, fitted to the buildings.

    Parameters
    ----------
    buildings : footprints with ``source_id`` (or ``id``; else the index) matching the table's ``building_id``;
        optional ``name`` (shown, else the id) and ``residents`` (shown, and summed for the uncovered ones).
    service_points : Points with ``type``, ``source_id`` (or ``id``) and ``name``. Points of `service_type` are
        shown with the number of buildings each is nearest to; the other types are overlays that start hidden.
    table : the coverage table (`gis.coverage.Coverage.table`): ``building_id``, ``service_type``, ``service_id``,
        ``walk_m``, ``walk_min_<profile>`` and optionally ``covered_<profile>_<level>``; the one-profile form the
        CLI writes (``walk_min``, ``covered_<level>``; `gis.coverage.profile_table`) is read too. NaN minutes, or
        no row for a building, means it reaches no point of the type. Other types' rows are ignored.
    service_type : the type whose walking times colour the buildings (a docs/layers.md code).
    profile : the walking profile (``standard``, ``elderly`` or any name the table has); its speed is read back
        from walk_m / minutes (or the circles' budgets) to show each level in metres.
    levels : minutes of the levels, default (5, 10, 15); beyond the largest is "uncovered". With the table's
        ``covered_*`` flags for every level, the flags decide the classes; else minutes ≤ level.
    circles : `gis.coverage.circles.service_circles` output: ``level``, ``kind`` (``network`` polygon or ``euclidean``
        ring), optionally ``service_type``, ``profile`` and ``budget_m``; rows of other types, profiles or levels
        are ignored. The network polygons are unioned per level, one overlay each.
    suggestions : `gis.coverage.suggest_sites` output: Points with ``rank``, ``gain``, ``buildings`` (buildings newly
        covered) and optionally ``candidate_id``. ``gain`` is taken to count residents (suggest_sites' default
        weight) unless ``attrs['weight']`` names another column; a gain equal to ``buildings`` on every row (no
        weights given) is not shown as residents.
    grids : optional grid outlines (``code``), drawn under everything with their codes.
    tiles, attribution, asset_base_url, osm_data : as in `maps.base.base_map`.
    tile_prefix : e.g. '/tiles' (with `asset_base_url`): grids, buildings and service points are drawn from
        gridmap's vector tiles there (maps.coverage_tiles); the frames then only fit the map, count the legend and
        name the points. `in_grids`: then draw only the buildings of these grids (one community).

    Returns
    -------
    folium.Map (nothing is written). Overlays, bottom to top: grids, network circles per level (largest first),
    Euclidean reference rings (hidden), buildings by walking time, uncovered buildings, other service types
    (hidden), the chosen type's points, suggested sites; a legend and a layer control.
    """
    levels = tuple(sorted(float(level) for level in levels))
    if not levels:
        raise ValueError("coverage_map needs at least one level")
    n = len(levels)
    buildings = _drop_empty(buildings)
    points = _drop_empty(service_points)
    points = points.assign(type=points["type"].fillna("").astype(str) if "type" in points else "")
    chosen = points[points["type"] == str(service_type)]
    suggestions = _drop_empty(suggestions) if suggestions is not None else None
    grids = _drop_empty(grids) if grids is not None else None

    rows = _type_rows(table, service_type, profile, levels)
    names = pd.Series(chosen["name"].to_numpy() if "name" in chosen else None, index=_ids(chosen).to_numpy())
    names = names.where(names.notna(), names.index.to_series())
    names = names[~names.index.duplicated()]
    drawn, tooltip, served = _building_frame(buildings, rows, names, levels)
    fields = [c for c in drawn.columns if c != drawn.geometry.name]
    colours = class_colours(n)

    bounds = frames_bounds([f for f in (buildings, chosen, suggestions, grids) if f is not None])
    fmap = fitted_map(
        bounds,
        tiles=tiles,
        attribution=attribution,
        osm_data=osm_data,
        asset_base_url=asset_base_url,
    )

    below: dict[str, Any] = {}  # the circles' pane: under the tile layers, as they were under the inline buildings
    if tile_prefix is not None:
        if asset_base_url is None:
            raise ValueError("tile layers need the API's assets: give asset_base_url with tile_prefix")
        add_panes(fmap, asset_base_url)
        below = {"pane": BELOW_PANE}
    if tile_prefix is None and grids is not None and len(grids):
        folium.GeoJson(  # outlines with their codes (a permanent label), under everything and not hoverable
            feature_collection(grids, ["code"], on=fmap),
            name=escape(LAYER_NAMES["grids"]),
            style_function=lambda _feature: dict(GRID_STYLE),
            on_each_feature=GRID_CODE_LABEL,
            interactive=False,
        ).add_to(fmap)

    per_level: list[tuple[float, gpd.GeoDataFrame]] = []
    rings = None
    if circles is not None:
        per_level, rings = _circle_layers(circles, service_type=service_type, profile=profile, levels=levels)
        if len(circles) and not per_level:
            warnings.warn(f"no network circles for {service_type!r}, {profile!r} at {levels}", stacklevel=2)
    circle_colours = ramp(CIRCLE_ANCHORS, len(per_level))
    for (level, frame), colour in reversed(list(zip(per_level, circle_colours, strict=True))):
        style = {"color": colour, "weight": 1.2, "opacity": 0.9, "fillColor": colour, "fillOpacity": 0.14}
        _overlay(frame, name=circle_layer_name(level), style=style, interactive=False, on=fmap, **below).add_to(fmap)
    if rings is not None and len(rings):
        _overlay(
            rings, name=LAYER_NAMES["euclidean"], style=EUCLIDEAN_STYLE, show=False, interactive=False, on=fmap, **below
        ).add_to(fmap)

    uncovered = drawn[drawn["cls"].to_numpy() >= n]
    if tile_prefix is not None:
        add_tiled_layers(
            fmap,
            service_type=str(service_type),
            levels=levels,
            speed=_speed(rows, circles, profile),
            colours=colours,
            types=sorted(set(points["type"])),
            served=served,
            grids=grids,
            in_grids=in_grids,
            styles={"grid": GRID_STYLE, "building": BUILDING_STYLE, "uncovered": UNCOVERED_STYLE},
            asset_base_url=str(asset_base_url),
            tile_prefix=tile_prefix,
        )
    else:
        layers = (
            (drawn, LAYER_NAMES["walk_time"], BUILDING_STYLE),
            (uncovered, f"{LAYER_NAMES['uncovered']} (>{levels[-1]:g} min)", UNCOVERED_STYLE),
        )
        for frame, name, base in layers:
            if len(frame):
                style_of = functools.partial(_class_style, base=base, colours=colours)
                data = feature_collection(frame, fields, on=fmap)
                layer = folium.GeoJson(data, name=escape(name), style_function=style_of)
                layer.add_child(WalkTooltip(**tooltip))
                layer.add_to(fmap)

        order = {code: i for i, code in enumerate(SERVICE_TYPES)}  # known types in the usual order, then unknown ones
        for code in sorted(set(points["type"]) - {str(service_type)}, key=lambda c: (order.get(c, len(order)), c)):
            _service_overlay(points[points["type"] == code], code, chosen=False, on=fmap).add_to(fmap)
        if len(chosen):
            _service_overlay(chosen, str(service_type), chosen=True, served=served, on=fmap).add_to(fmap)

    if suggestions is not None and len(suggestions):
        sites = suggestions.rename(columns={"buildings": "new_buildings"})
        unit = gain_unit(suggestions)
        gain_label = {"gain": GAIN_UNITS.get(unit, (f"新覆盖 {unit} newly covered", ""))[0]} if unit else {}
        marker = folium.CircleMarker(radius=10, weight=3, color=SUGGESTION_COLOUR, fill=True, fill_opacity=1.0)
        _overlay(
            sites,
            name=LAYER_NAMES["suggestions"],
            style={"fillColor": "#ffffff"},
            fields=[
                f for f in ("rank", "gain", "new_buildings", "candidate_id") if f in sites and (unit or f != "gain")
            ],
            labels=gain_label,
            marker=marker,
            on_each_feature=SITE_RANK_LABEL,
            on=fmap,
        ).add_to(fmap)

    residents = float(uncovered["residents"].sum()) if "residents" in uncovered else None
    legend = legend_html(
        service_type=str(service_type),
        profile=profile,
        speed=_speed(rows, circles, profile),
        levels=levels,
        counts=np.bincount(drawn["cls"].to_numpy(dtype=np.int64), minlength=n + 2),
        colours=colours,
        uncovered=(len(uncovered), residents),
        circle_colours=circle_colours,
        circle_levels=[level for level, _ in per_level],
        has_rings=rings is not None and len(rings) > 0,
        suggestions=suggestions,
    )
    fmap.add_child(CoverageLegend(legend))
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap
