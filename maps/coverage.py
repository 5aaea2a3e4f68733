"""Planner map (服务圈规划图) of one service type: how far every building really walks, the network service circles,
the buildings left outside them and where new points would help most.

The map only draws frames it is given (the results of gis.coverage: coverage, service circles and siting, or the
same columns read from the database or a CSV), so it does not depend on how they were computed. Buildings are
coloured in steps by walking time to the nearest point of the type under a walking profile: one colour per level
(≤5, ≤10, ≤15 minutes by default), one beyond the largest level and a dark one for buildings that reach no point at all.
The network circles are drawn one overlay per level, the Euclidean circles only as a dashed reference that starts
hidden (a compass circle overstates the walkable area about 1.6–1.9×, ../shared/research/access.md §4.4).

As in maps.overview: one folium.GeoJson per layer, only the properties a tooltip shows, HTML-escaped, coordinates
rounded to 6 decimals; every overlay has a Chinese + English name in the layer control.
"""

import functools
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.template import Template

from maps.base import base_map, escape, feature_collection, to_wgs84
from maps.labels import (
    FIELD_LABELS,
    GAIN_UNITS,
    LAYER_NAMES,
    SERVICE_TYPES,
    circle_layer_name,
    profile_label,
    service_colour,
    service_label,
)
from maps.overview import EMPTY_CENTER, GRID_CODE_LABEL, SITE_RANK_LABEL, HtmlLegend, _bounds

# Walking-time classes: one colour per level, green (near) to orange, then beyond the largest level and unreachable.
LEVEL_ANCHORS = ("#1a9641", "#a6d96a", "#fdae61")
BEYOND_COLOUR = "#d7191c"
UNREACHABLE_COLOUR = "#2b2b2b"
UNCOVERED_OUTLINE = "#000000"
# Network circles: dark blue for the smallest level to light blue for the largest, so nested fills read as rings.
CIRCLE_ANCHORS = ("#08519c", "#6baed6")
SUGGESTION_COLOUR = "#111111"

UNREACHABLE_TEXT = "不可达 unreachable"
PROFILE_COLUMN = "walk_min_{profile}"
_COVERED_COLUMN = re.compile(r"^covered_(?:(?P<profile>.+)_)?(?P<level>\d+(?:\.\d+)?)$")

BUILDING_STYLE: dict[str, Any] = {"color": "#4d4d4d", "weight": 0.5, "opacity": 0.8, "fillOpacity": 0.85}
UNCOVERED_STYLE: dict[str, Any] = {"color": UNCOVERED_OUTLINE, "weight": 2.5, "opacity": 1.0, "fillOpacity": 0.85}
GRID_STYLE: dict[str, Any] = {"color": "#7f7f7f", "weight": 1.5, "fill": False}  # grey: blue is for the circles
EUCLIDEAN_STYLE: dict[str, Any] = {"color": "#444444", "weight": 1.5, "opacity": 0.9, "dashArray": "6 5", "fill": False}

COVERAGE_STYLE = """
<style>
  .gridmap-legend .gridmap-swatch { display: inline-block; width: 14px; height: 10px; border-radius: 0;
    margin-right: 6px; vertical-align: -1px; border: 1px solid #4d4d4d; }
  .gridmap-legend .gridmap-line { display: inline-block; width: 16px; height: 0; border-top: 2px dashed #444;
    margin-right: 6px; vertical-align: 3px; }
  .gridmap-legend .gridmap-circle { opacity: 0.45; margin-right: 2px; border-color: #08519c; }
  .gridmap-legend .gridmap-count { color: #666; }
</style>
"""


class CoverageLegend(HtmlLegend):
    """Bottom-right legend of the coverage map (HTML built escaped), with the map's own CSS."""

    def __init__(self, html: str) -> None:
        super().__init__(html, COVERAGE_STYLE)


class WalkTooltip(MacroElement):
    """The buildings' tooltip: name, walk (minutes · metres), nearest point, covered flags per level, residents.

    Built in the browser from compact properties (``min``, ``m``, ``near`` — an index into `nearest` — and the
    class ``cls``), so the page does not repeat the same Chinese point name and unit text (6 bytes a character as
    JSON) in every one of thousands of buildings. Every string it shows is HTML-escaped in Python: labels and
    names here, building names by feature_collection; the rest are numbers.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.bindTooltip(function(layer) {
            var p = layer.feature.properties, t = {{ this.text|tojson }};
            var walk = p.min == null ? t.unreachable
                : p.min.toFixed(1) + t.minutes + (p.m == null ? '' : ' · ' + p.m + ' m');
            var covered = t.levels.map(function(level, i) {
                return level + (p.cls <= i ? ' ✓' : ' ✗');
            }).join(' · ');
            var values = [p.name, walk, p.near == null ? '—' : t.nearest[p.near], covered, p.residents];
            var rows = t.labels.map(function(label, i) {
                return '<tr><th>' + label + '</th><td>' + (values[i] == null ? '' : values[i]) + '</td></tr>';
            });
            var div = L.DomUtil.create('div');
            div.innerHTML = '<table>' + rows.join('') + '</table>';
            return div;
        }, {sticky: true, className: 'foliumtooltip'});
        {% endmacro %}
        """
    )

    def __init__(self, *, levels: Sequence[float], nearest: Sequence[str], residents: bool) -> None:
        super().__init__()
        self._name = "WalkTooltip"
        fields = ["name", "walk", "nearest", "covered", *(["residents"] if residents else [])]
        self.text = {
            "labels": [escape(FIELD_LABELS[f]) for f in fields],
            "levels": [escape(f"{level:g}") for level in levels],
            "nearest": [escape(name) for name in nearest],
            "minutes": " 分钟 min",
            "unreachable": escape(UNREACHABLE_TEXT),
        }


# --- colours and classes --------------------------------------------------------------------------------------


def _ramp(anchors: Sequence[str], n: int) -> list[str]:
    """`n` colours spread evenly along the piecewise-linear RGB ramp through `anchors`."""
    rgb = np.array([[int(a[i : i + 2], 16) for i in (1, 3, 5)] for a in anchors], dtype=float)
    at = np.linspace(0.0, 1.0, len(anchors))
    where = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    channels = [np.interp(where, at, rgb[:, c]) for c in range(3)]
    return ["#{:02x}{:02x}{:02x}".format(*(round(ch[i]) for ch in channels)) for i in range(n)]


def class_colours(n_levels: int) -> list[str]:
    """Fill colour of each walking-time class: `n_levels` levels, then beyond the largest, then unreachable."""
    return [*_ramp(LEVEL_ANCHORS, n_levels), BEYOND_COLOUR, UNREACHABLE_COLOUR]


def walk_classes(minutes: np.ndarray, levels: Sequence[float], covered: np.ndarray | None = None) -> np.ndarray:
    """Walking-time class of each building: i for the smallest level i it is within, ``len(levels)`` beyond the
    largest level, ``len(levels) + 1`` unreachable (NaN minutes).

    `covered` (buildings × levels, booleans, levels ascending) are the table's flags; when given they decide, so the
    colours agree with the covered counts of the gap report to the last metre; else ``minutes ≤ level``.
    """
    minutes = np.asarray(minutes, dtype=float)
    n = len(levels)
    if covered is None:
        covered = minutes[:, None] <= np.asarray(levels, dtype=float)[None, :]
    covered = np.asarray(covered, dtype=bool).reshape(len(minutes), n)
    first = np.where(covered.any(axis=1), covered.argmax(axis=1), n)
    return np.where(np.isnan(minutes), n + 1, first).astype(np.int64)


# --- inputs ---------------------------------------------------------------------------------------------------


def _ids(frame: pd.DataFrame) -> pd.Series:
    """The frame's ids as strings: ``source_id``, else ``id``, else the index."""
    column = "source_id" if "source_id" in frame else "id" if "id" in frame else None
    values = frame[column] if column else pd.Series(frame.index, index=frame.index)
    return values.astype(str)


def _as_bool(values: pd.Series) -> np.ndarray:
    """Booleans from a flag column that may have come through CSV ('True'/'False', 1/0) or have gaps."""
    if values.dtype == bool:
        return values.to_numpy()
    return values.astype(str).str.strip().str.lower().isin(("true", "1", "t", "yes")).to_numpy()


def _type_rows(table: pd.DataFrame, service_type: str, profile: str, levels: Sequence[float]) -> pd.DataFrame:
    """Rows of `service_type`, one per building (the shortest walk if repeated), with columns building_id,
    service_id, walk_m, minutes and ``covered_<i>`` per level when the table has the flags for every level."""
    walk_column = PROFILE_COLUMN.format(profile=profile)
    if walk_column not in table:
        if "walk_min" not in table:
            raise KeyError(f"the coverage table has neither {walk_column!r} nor 'walk_min'")
        walk_column = "walk_min"  # the one-profile table of the CLI (gis.coverage.profile_table)
    rows = table[table["service_type"].astype(str) == str(service_type)] if "service_type" in table else table
    out = pd.DataFrame(
        {
            "building_id": rows["building_id"].astype(str),
            "service_id": rows["service_id"] if "service_id" in rows else None,
            "walk_m": pd.to_numeric(rows["walk_m"], errors="coerce") if "walk_m" in rows else np.nan,
            "minutes": pd.to_numeric(rows[walk_column], errors="coerce"),
        }
    )
    own: dict[float, str] = {}  # covered_<profile>_<level>
    plain: dict[float, str] = {}  # covered_<level> of the one-profile table
    for column in rows.columns:
        match = _COVERED_COLUMN.match(str(column))
        if match and match["profile"] == profile:
            own[float(match["level"])] = column
        elif match and match["profile"] is None:
            plain[float(match["level"])] = column
    flags = plain if walk_column == "walk_min" else own
    if all(float(level) in flags for level in levels):
        for i, level in enumerate(levels):
            out[f"covered_{i}"] = _as_bool(rows[flags[float(level)]])
    out = out.sort_values("minutes", na_position="last", kind="stable")
    return out.drop_duplicates("building_id").set_index("building_id")


def _speed(rows: pd.DataFrame, circles: gpd.GeoDataFrame | None, profile: str) -> float | None:
    """The profile's walking speed (m/s), read back from the table (walk_m / minutes) or the circles' budgets."""
    ok = np.isfinite(rows["walk_m"]) & np.isfinite(rows["minutes"]) & (rows["minutes"] > 0)
    if ok.any():
        return float(np.median(rows.loc[ok, "walk_m"] / (rows.loc[ok, "minutes"] * 60.0)))
    if circles is not None and {"budget_m", "level"} <= set(circles.columns) and len(circles):
        same = circles[circles["profile"] == profile] if "profile" in circles else circles
        same = same[pd.to_numeric(same["level"], errors="coerce") > 0]
        if len(same):
            return float(np.median(same["budget_m"].astype(float) / (same["level"].astype(float) * 60.0)))
    return None


def _drop_empty(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf = to_wgs84(gdf)
    return gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]


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
        feature_collection(gdf, fields),
        name=escape(name),
        style_function=style_function,
        tooltip=tooltip,
        show=show,
        **kwargs,
    )


def _service_overlay(
    points: gpd.GeoDataFrame, code: str, *, chosen: bool, served: pd.Series | None = None
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
        points, name=f"{label} {code}", style={"fillColor": colour}, fields=fields, show=chosen, marker=marker
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


def _gain_unit(suggestions: pd.DataFrame) -> str | None:
    """What the suggestions' ``gain`` counts: the weight named in ``attrs['weight']``, else residents (the default
    weight of gis.coverage.suggest_sites); None when it only counts buildings (suggest_sites without weights: ``gain``
    equals ``buildings`` on every row), so the map does not call buildings residents."""
    if suggestions.attrs.get("weight"):
        return str(suggestions.attrs["weight"])
    if {"gain", "buildings"} <= set(suggestions.columns):
        gain = pd.to_numeric(suggestions["gain"], errors="coerce").to_numpy(dtype=float)
        if np.array_equal(gain, pd.to_numeric(suggestions["buildings"], errors="coerce").to_numpy(dtype=float)):
            return None
    return "residents"


def _legend_html(
    *,
    service_type: str,
    profile: str,
    speed: float | None,
    levels: Sequence[float],
    counts: np.ndarray,
    colours: Sequence[str],
    uncovered: tuple[int, float | None],
    circle_colours: Sequence[str],
    circle_levels: Sequence[float],
    has_rings: bool,
    suggestions: gpd.GeoDataFrame | None,
) -> str:
    """The legend: walk-time classes with metres for the profile, uncovered totals, circles and sites."""
    zh, en = profile_label(profile)
    speed_text = f" {round(speed, 2):g} m/s" if speed is not None else ""
    metres = [f" (≤{level * 60 * speed:.0f} m)" if speed is not None else "" for level in levels]
    rows = [
        f"<b>步行至{escape(service_label(service_type))} Walk to {escape(service_type)}</b>",
        f'<div class="gridmap-sub">{escape(zh)}{speed_text} · {escape(en)}</div>',
    ]
    labels = [f"≤{level:g} 分钟 min{metres[i]}" for i, level in enumerate(levels)]
    labels += [f">{levels[-1]:g} 分钟 min", UNREACHABLE_TEXT]
    for label, colour, count in zip(labels, colours, counts, strict=True):
        rows.append(
            f'<div><i class="gridmap-swatch" style="background:{escape(colour)}"></i>{escape(label)}'
            f' <span class="gridmap-count">({int(count)})</span></div>'
        )
    n_uncovered, residents = uncovered
    people = f" · {residents:,.0f} 居民 residents" if residents is not None else ""
    rows.append(
        f'<div><i class="gridmap-swatch" style="background:transparent;border:2.5px solid {UNCOVERED_OUTLINE}"></i>'
        f"未覆盖 Uncovered (&gt;{levels[-1]:g} min): {n_uncovered} 栋 buildings{people}</div>"
    )
    if circle_levels:
        swatches = "".join(
            f'<i class="gridmap-swatch gridmap-circle" style="background:{escape(c)}"></i>' for c in circle_colours
        )
        minutes = "/".join(f"{level:g}" for level in circle_levels)
        rows.append(f"<div>{swatches}{minutes} 分钟服务圈 min circles (walk network)</div>")
    if has_rings:
        rows.append('<div><i class="gridmap-line"></i>直线距离参考 Euclidean reference (not walkable)</div>')
    if suggestions is not None and len(suggestions):
        unit = _gain_unit(suggestions)
        column, word = (
            ("buildings", "栋 buildings") if unit is None else ("gain", GAIN_UNITS.get(unit, (unit, unit))[1])
        )
        values = pd.to_numeric(suggestions[column], errors="coerce") if column in suggestions else pd.Series([np.nan])
        total = f" · +{values.sum():,.0f} {escape(word)}" if values.notna().any() else ""
        rows.append(
            f'<div><i style="background:#fff;border:2.5px solid {SUGGESTION_COLOUR};width:9px;height:9px"></i>'
            f"建议新增点位 Suggested sites ({len(suggestions)}){total}</div>"
        )
    return "".join(rows)


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
    tiles: str = "openstreetmap",
    attribution: str | None = None,
    asset_base_url: str | None = None,
    osm_data: bool = False,
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

    bounds = _bounds([f for f in (buildings, chosen, suggestions, grids) if f is not None])
    fmap = base_map(
        bounds,
        center=EMPTY_CENTER if bounds is None else None,
        zoom=4 if bounds is None else 16,
        tiles=tiles,
        attribution=attribution,
        osm_data=osm_data,
        asset_base_url=asset_base_url,
    )

    if grids is not None and len(grids):
        folium.GeoJson(  # outlines with their codes (a permanent label), under everything and not hoverable
            feature_collection(grids, ["code"]),
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
    circle_colours = _ramp(CIRCLE_ANCHORS, len(per_level))
    for (level, frame), colour in reversed(list(zip(per_level, circle_colours, strict=True))):
        style = {"color": colour, "weight": 1.2, "opacity": 0.9, "fillColor": colour, "fillOpacity": 0.14}
        _overlay(frame, name=circle_layer_name(level), style=style, interactive=False).add_to(fmap)
    if rings is not None and len(rings):
        _overlay(rings, name=LAYER_NAMES["euclidean"], style=EUCLIDEAN_STYLE, show=False, interactive=False).add_to(
            fmap
        )

    uncovered = drawn[drawn["cls"].to_numpy() >= n]
    layers = (
        (drawn, LAYER_NAMES["walk_time"], BUILDING_STYLE),
        (uncovered, f"{LAYER_NAMES['uncovered']} (>{levels[-1]:g} min)", UNCOVERED_STYLE),
    )
    for frame, name, base in layers:
        if len(frame):
            style = functools.partial(_class_style, base=base, colours=colours)
            layer = folium.GeoJson(feature_collection(frame, fields), name=escape(name), style_function=style)
            layer.add_child(WalkTooltip(**tooltip))
            layer.add_to(fmap)

    order = {code: i for i, code in enumerate(SERVICE_TYPES)}  # known types in the usual order, then unknown ones
    for code in sorted(set(points["type"]) - {str(service_type)}, key=lambda c: (order.get(c, len(order)), c)):
        _service_overlay(points[points["type"] == code], code, chosen=False).add_to(fmap)
    if len(chosen):
        _service_overlay(chosen, str(service_type), chosen=True, served=served).add_to(fmap)

    if suggestions is not None and len(suggestions):
        sites = suggestions.rename(columns={"buildings": "new_buildings"})
        unit = _gain_unit(suggestions)
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
        ).add_to(fmap)

    residents = float(uncovered["residents"].sum()) if "residents" in uncovered else None
    legend = _legend_html(
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
