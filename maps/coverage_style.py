"""How the planner map (服务圈规划图) shows walking time: colour classes, the legend and the buildings' tooltip.

Kept apart from maps.coverage, which reads the frames and draws the layers, so each reads in one sitting.
"""

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium.template import Template

from maps.base import escape
from maps.labels import FIELD_LABELS, GAIN_UNITS, profile_label, service_label
from maps.legend import HtmlLegend

# Walking-time classes: one colour per level, green (near) to orange, then beyond the largest level and unreachable.
LEVEL_ANCHORS = ("#1a9641", "#a6d96a", "#fdae61")
BEYOND_COLOUR = "#d7191c"
UNREACHABLE_COLOUR = "#2b2b2b"
UNCOVERED_OUTLINE = "#000000"
# Network circles: dark blue for the smallest level to light blue for the largest, so nested fills read as rings.
CIRCLE_ANCHORS = ("#08519c", "#6baed6")
SUGGESTION_COLOUR = "#111111"

UNREACHABLE_TEXT = "不可达 unreachable"


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


def ramp(anchors: Sequence[str], n: int) -> list[str]:
    """`n` colours spread evenly along the piecewise-linear RGB ramp through `anchors`."""
    rgb = np.array([[int(a[i : i + 2], 16) for i in (1, 3, 5)] for a in anchors], dtype=float)
    at = np.linspace(0.0, 1.0, len(anchors))
    where = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    channels = [np.interp(where, at, rgb[:, c]) for c in range(3)]
    return ["#{:02x}{:02x}{:02x}".format(*(round(ch[i]) for ch in channels)) for i in range(n)]


def class_colours(n_levels: int) -> list[str]:
    """Fill colour of each walking-time class: `n_levels` levels, then beyond the largest, then unreachable."""
    return [*ramp(LEVEL_ANCHORS, n_levels), BEYOND_COLOUR, UNREACHABLE_COLOUR]


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


def gain_unit(suggestions: pd.DataFrame) -> str | None:
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


def legend_html(
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
        unit = gain_unit(suggestions)
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
