"""The grid worker's map (网格员工作图): their grids, their buildings by visit status, open hazards and requests,
today's walking order, their position; from a building's popup they log a visit or report a hazard, queued on the phone
while offline (maps/static/worker.js).

Unlike the planning maps, the layers are drawn by the page's own script from one JSON block: every text a user
typed (a hazard's description, a request, a building's name) reaches the page only as JSON data (``<``, ``>`` and
``&`` written as ``\\u003c`` …, so no markup can close the block) and is put on the map with ``textContent``,
never as HTML. The base map, Leaflet and the legend are gridmap's as everywhere (maps.base, maps.legend).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.template import Template

from maps.base import (
    COORDINATE_DECIMALS,
    escape,
    fitted_map,
    frames_bounds,
    shift_frame,
    shift_latlon,
    to_wgs84,
)
from maps.basemaps import BaseMap
from maps.legend import HtmlLegend

WORKER_JS = Path(__file__).resolve().parent / "static" / "worker.js"

# Visit status of a building (of the households the user may see) → (Chinese label, colour).
STATUS: dict[str, tuple[str, str]] = {
    "overdue": ("逾期", "#d7191c"),
    "due": ("待走访", "#fdae61"),
    "done": ("已走访", "#1a9641"),
    "empty": ("无可见住户", "#9e9e9e"),
}
SEVERITY: dict[str, tuple[str, str]] = {
    "high": ("高", "#b2182b"),
    "medium": ("中", "#ef8a62"),
    "low": ("低", "#f7c46c"),
}
VISIT_KINDS: dict[str, str] = {"routine": "例行走访", "care": "关爱走访", "help": "帮扶", "attend": "必到"}
LAYERS: dict[str, str] = {
    "grids": "网格 Grids",
    "buildings": "楼栋走访 Buildings",
    "hazards": "隐患 Hazards",
    "requests": "诉求 Requests",
    "tour": "今日路线 Today's round",
}

BUILDING_PROPERTIES = ("id", "name", "kind", "lon", "lat", "households", "care", "due", "overdue", "status")

WORKER_STYLE = """
<style>
  html, body { overscroll-behavior: none; }
  .leaflet-touch .leaflet-bar a, .gridmap-locate a { width: 44px; height: 44px; line-height: 44px; font-size: 22px; }
  .leaflet-touch .leaflet-control-layers-toggle { width: 44px; height: 44px; }
  .leaflet-control-layers label { font-size: 15px; line-height: 32px; }
  .gridmap-legend { max-width: 46vw; font-size: 11px; }
  .gridmap-popup { font-size: 14px; min-width: 220px; max-width: 80vw; }
  .gridmap-popup h3 { font-size: 15px; margin: 0 0 4px; }
  .gridmap-popup table { border-collapse: collapse; margin-bottom: 6px; }
  .gridmap-popup th { text-align: left; font-weight: normal; color: #555; padding-right: 8px; }
  .gridmap-popup button { min-height: 44px; min-width: 44px; margin: 4px 4px 0 0; padding: 0 12px; font-size: 15px; }
  .gridmap-popup select, .gridmap-popup textarea { width: 100%; min-height: 40px; font-size: 16px;
    box-sizing: border-box; margin: 2px 0 6px; }
  .gridmap-popup .gridmap-note { color: #555; font-size: 12px; }
  .gridmap-stop { background: #253494; color: #fff; border: 2px solid #fff; border-radius: 50%;
    width: 16px; height: 16px; line-height: 16px; text-align: center; font-size: 10px; font-weight: 700;
    opacity: 0.9; }
  .gridmap-queue { background: rgba(255,255,255,0.95); padding: 6px 10px; border-radius: 4px; font-size: 13px;
    box-shadow: 0 1px 4px rgba(0,0,0,0.3); max-width: 70vw; }
  .gridmap-queue:empty { display: none; }
</style>
"""


@cache
def worker_js() -> str:
    """The page's own script (maps/static/worker.js), inlined so the CLI's file works alone too."""
    return WORKER_JS.read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: no ``<``, ``>`` or ``&`` (so no ``</script>`` or ``<!--``) and
    no U+2028/U+2029; JSON.parse gives the strings back exactly as typed."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, code in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, code)
    return text


class WorkerLayers(MacroElement):
    """The layers, popups, forms, offline queue and locate control of the worker map: data as a JSON block in the
    page, drawn by worker.js (which names the map it draws on)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <script type="application/json" id="gridmap-worker-data">{{ this.data_json }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function (map) {
        {{ this.js }}
        })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__()
        self._name = "WorkerLayers"
        self.data_json = script_json(data)
        self.js = worker_js()


# --- data -------------------------------------------------------------------------------------------------------


def _value(value: Any) -> Any:
    """A JSON value: NA → None, numpy scalars → Python, whole floats kept as floats."""
    if value is None or (not isinstance(value, str | list | tuple | dict) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in row.items()}


def _features(gdf: gpd.GeoDataFrame, columns: Sequence[str]) -> dict[str, Any]:
    """A FeatureCollection with the raw (unescaped: the script uses textContent) properties, coordinates rounded."""
    gdf = to_wgs84(gdf)
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    geoms = shapely.transform(gdf.geometry.values, lambda xy: np.round(xy, COORDINATE_DECIMALS))
    rows = gdf[[c for c in columns if c in gdf.columns]].to_dict("records")
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(g),
                "properties": {k: _value(v) for k, v in r.items()},
            }
            for g, r in zip(geoms, rows, strict=True)
        ],
    }


def _points(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    for row in frame.to_dict("records"):
        if _value(row.get("lon")) is None or _value(row.get("lat")) is None:
            continue
        item = {c: _value(row.get(c)) for c in columns}
        item["lon"], item["lat"] = round(float(row["lon"]), COORDINATE_DECIMALS), round(float(row["lat"]), 6)
        out.append(item)
    return out


def _display_offset(fmap: folium.Map, bounds: Any) -> list[float]:
    """[dlat, dlon] that draws a WGS84 position (the phone's, from the locate control) on `fmap`: the GCJ-02 shift
    at the middle of the user's grids on an AMap base, else 0. The shift changes by ~1e-5 of itself per degree, so
    one offset holds to a few centimetres across a grid."""
    if bounds is None:
        return [0.0, 0.0]
    lon, lat = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    shifted_lat, shifted_lon = shift_latlon(fmap, lat, lon)
    return [round(float(shifted_lat - lat), 8), round(float(shifted_lon - lon), 8)]


def _drawn_points(fmap: folium.Map, frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its ``lon``/``lat`` as drawn on `fmap` (GCJ-02 on an AMap base)."""
    if not len(frame):
        return frame
    lat, lon = shift_latlon(fmap, frame["lat"].to_numpy(dtype=float), frame["lon"].to_numpy(dtype=float))
    return frame.assign(lat=lat, lon=lon)


def building_status(buildings: pd.DataFrame, due: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Per building: ``due`` (households due today or overdue), ``overdue`` (past their due date) and ``status``:
    overdue, due, done (households seen, none due) or empty (no household the user may see)."""
    by_building: dict[int, list[int]] = {}
    for entry in due:
        by_building.setdefault(int(entry["building_id"]), []).append(int(entry["days_overdue"]))
    ids = buildings["id"].astype(int).to_numpy()
    n_due = np.array([len(by_building.get(i, [])) for i in ids], dtype=int)
    n_over = np.array([sum(d > 0 for d in by_building.get(i, [])) for i in ids], dtype=int)
    households = buildings["households"].fillna(0).astype(int).to_numpy()
    status = np.where(n_over > 0, "overdue", np.where(n_due > 0, "due", np.where(households > 0, "done", "empty")))
    return buildings.assign(due=n_due, overdue=n_over, status=status)


def _household_choices(households: pd.DataFrame, overdue: Mapping[int, int]) -> dict[str, list[list[Any]]]:
    """building id → [[household id, unit, room, days overdue (0: due today; None: not due)], …] for the visit
    form's picker (and the page's own update of a building once a visit is sent)."""
    out: dict[str, list[list[Any]]] = {}
    for row in households.itertuples(index=False):
        out.setdefault(str(int(row.building_id)), []).append(
            [int(row.id), _value(row.unit), _value(row.room), overdue.get(int(row.id))]
        )
    return out


def _tour(due: Mapping[str, Any], buildings: pd.DataFrame) -> dict[str, Any]:
    """Today's walking order as [lat, lon] stops (building centroids) from the start position."""
    walk = due.get("walk_order") or {}
    where = buildings.set_index(buildings["id"].astype(int))[["lat", "lon"]]
    stops = [
        [round(float(where.at[b, "lat"]), 6), round(float(where.at[b, "lon"]), 6), int(b)]
        for b in walk.get("building_ids", [])
        if int(b) in where.index
    ]
    position = due.get("position")
    start = None
    if position and stops:
        lon, lat = position["coordinates"]
        start = [round(float(lat), 6), round(float(lon), 6)]
    return {"start": start, "stops": stops, "total_m": walk.get("total_m", 0.0), "method": walk.get("method")}


def _legend_html(counts: Mapping[str, int], n_hazards: int, n_requests: int, n_stops: int) -> str:
    rows = ["<b>网格员工作图</b>"]
    for key, (label, colour) in STATUS.items():
        rows.append(
            f'<div><i style="background:{colour};border-radius:0"></i>{escape(label)} ({counts.get(key, 0)})</div>'
        )
    severities = "".join(f'<i style="background:{c}"></i>{label}' for label, c in SEVERITY.values())
    rows.append(f"<div>隐患 ({n_hazards}): {severities}</div>")
    rows.append('<div class="gridmap-sub">半透明=已整改待核查 · 黑边=超期</div>')
    rows.append(f'<div><i style="background:#6a3d9a"></i>诉求 ({n_requests})</div>')
    rows.append(f'<div><i style="background:#253494"></i>今日路线 ({n_stops} 站)</div>')
    return "".join(rows)


def worker_map(
    *,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame,
    households: pd.DataFrame,
    hazards: pd.DataFrame,
    requests: pd.DataFrame,
    due: Mapping[str, Any],
    categories: Sequence[tuple[str, str]] = (),
    user: Mapping[str, Any] | None = None,
    api_base: str | None = "",
    tiles: str | BaseMap = "openstreetmap",
    attribution: str | None = None,
    asset_base_url: str | None = None,
    osm_data: bool = False,
) -> folium.Map:
    """The worker map, fitted to the user's grids.

    Parameters
    ----------
    grids : the user's grids (``code``, ``name``).
    buildings : their buildings with ``id``, ``name``, ``lon``/``lat`` (a point on the building), ``households``
        and ``care`` (counts of the households the user may see, and of those needing special care).
    households : ``id``, ``building_id``, ``unit``, ``room`` of those households (the visit form's picker).
    hazards : open hazards: ``id``, ``category_name``, ``severity``, ``state``, ``state_label``, ``overdue``,
        ``description``, ``lon``, ``lat``.
    requests : open requests: ``id``, ``service_name``, ``state``, ``state_label``, ``overdue``, ``description``,
        ``lon``, ``lat``.
    due : the due list (api.visits.today.due_today): ``households`` with ``building_id`` and ``days_overdue``,
        ``walk_order`` and ``position``.
    categories : hazard categories as (code, name) for the hazard form.
    user : ``id`` and ``login`` (the offline queue is kept per user on the phone).
    api_base : where the page sends visits and hazards ('' = its own server); None: a file, no forms.
    tiles, attribution, asset_base_url, osm_data : as in `maps.base.base_map`.
    """
    due_entries = list(due.get("households", []))
    drawn = (
        building_status(buildings, due_entries) if len(buildings) else buildings.assign(due=[], overdue=[], status=[])
    )
    bounds = frames_bounds([f for f in (grids, buildings) if len(f)])
    fmap = fitted_map(
        bounds,
        tiles=tiles,
        attribution=attribution,
        osm_data=osm_data,
        asset_base_url=asset_base_url,
    )
    # Drawn on the base's datum (GCJ-02 on AMap); the buildings' lon/lat properties stay WGS84: a visit is sent
    # with them when the phone has no position.
    tour = _tour(due, _drawn_points(fmap, drawn)) if len(drawn) else {"start": None, "stops": [], "total_m": 0.0}
    if tour["start"] is not None:
        tour["start"] = [round(float(v), 6) for v in shift_latlon(fmap, *tour["start"])]
    hazard_points = _points(
        _drawn_points(fmap, hazards),
        ["id", "category_name", "severity", "state", "state_label", "overdue", "description"],
    )
    request_points = _points(
        _drawn_points(fmap, requests), ["id", "service_name", "state_label", "overdue", "description"]
    )
    data = {
        "layers": LAYERS,
        "status": {k: list(v) for k, v in STATUS.items()},
        "severity": {k: list(v) for k, v in SEVERITY.items()},
        "kinds": list(VISIT_KINDS.items()),
        "categories": [list(c) for c in categories],
        "grids": _features(shift_frame(fmap, grids) if len(grids) else grids, ["code", "name"]),
        "buildings": _features(
            shift_frame(fmap, drawn) if len(drawn) else drawn,
            ["id", "name", "kind", "lon", "lat", "households", "care", "due", "overdue", "status"],
        ),
        "households": _household_choices(
            households, {int(d["household_id"]): int(d["days_overdue"]) for d in due_entries}
        ),
        "hazards": hazard_points,
        "requests": request_points,
        "tour": tour,
        "today": due.get("today"),
        "user": dict(user or {}),
        "api": api_base,
        "display_offset": _display_offset(fmap, bounds),
    }
    fmap.add_child(WorkerLayers(data))
    counts = pd.Series(drawn["status"]).value_counts().to_dict() if len(drawn) else {}
    legend = _legend_html(counts, len(hazard_points), len(request_points), len(tour["stops"]))
    fmap.add_child(HtmlLegend(legend, WORKER_STYLE))
    return fmap
