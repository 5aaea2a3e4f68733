"""The planner map's street- and district-wide layers drawn from gridmap's vector tiles (maps.vectortiles): grids,
buildings coloured by walking time (from the walk metres per type on the ``coverage`` tiles), the uncovered
buildings and the service points. The circles, Euclidean rings and suggested sites stay inline (a few shapes)."""

from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import pandas as pd

from maps.base import escape
from maps.coverage_style import UNREACHABLE_TEXT
from maps.labels import FIELD_LABELS, LAYER_NAMES, SERVICE_TYPES, service_colour, service_label
from maps.vectortiles import add_grid_codes, add_tile_layer


def add_tiled_layers(
    fmap: folium.Map,
    *,
    service_type: str,
    levels: Sequence[float],
    speed: float | None,
    colours: Sequence[str],
    types: Sequence[str],
    served: pd.Series,
    grids: gpd.GeoDataFrame | None,
    in_grids: Sequence[int] | None,
    styles: dict[str, dict],
    asset_base_url: str,
    tile_prefix: str,
) -> None:
    """Add the tile overlays of the planner map of `service_type` to `fmap`.

    `speed`: the profile's walking speed in m/s (buildings' classes are minutes = metres / speed / 60 against
    `levels`); `types`: the service types present; `served`: buildings nearest to each point of the type, by point
    id; `in_grids`: draw only the buildings of these grids (one community); `styles`: 'grid', 'building' and
    'uncovered' base styles of maps.coverage.
    """
    where: dict[str, Any] = {"asset_base_url": asset_base_url, "tile_prefix": tile_prefix}
    if grids is not None and len(grids):
        add_tile_layer(
            fmap, "grids", name=escape(LAYER_NAMES["grids"]), style=styles["grid"], interactive=False, **where
        )
        add_grid_codes(fmap, grids)
    n = len(levels)
    classify = {
        "prop": f"{service_type}_m",
        "speed": speed or 1.0,
        "levels": [float(level) for level in levels],
        "colours": list(colours),
        "from": 0,
        "label": FIELD_LABELS["walk"],
        "unreachable": UNREACHABLE_TEXT,
    }
    add_tile_layer(
        fmap,
        "coverage",
        name=escape(LAYER_NAMES["walk_time"]),
        style=styles["building"],
        fields=[("name", FIELD_LABELS["name"])],
        classify=classify,
        in_grids=in_grids,
        **where,
    )
    add_tile_layer(
        fmap,
        "coverage",
        name=escape(f"{LAYER_NAMES['uncovered']} (>{levels[-1]:g} min)"),
        style=styles["uncovered"],
        fields=[("name", FIELD_LABELS["name"])],
        classify={**classify, "from": n},
        in_grids=in_grids,
        **where,
    )
    order = {code: i for i, code in enumerate(SERVICE_TYPES)}
    fields = [("name", FIELD_LABELS["name"]), ("type", FIELD_LABELS["type_label"])]
    for code in sorted(set(types), key=lambda c: (c == service_type, order.get(c, len(order)), c)):
        chosen = code == service_type
        style = {
            "color": "#111111" if chosen else "#ffffff",
            "weight": 2 if chosen else 1.5,
            "fillColor": service_colour(code),
            "fillOpacity": 0.95,
        }
        lookup = None
        if chosen:
            lookup = {"label": FIELD_LABELS["served"], "values": {str(k): int(v) for k, v in served.items()}}
        add_tile_layer(
            fmap,
            "service_points",
            name=escape(f"{service_label(code)} {code}"),
            style=style,
            fields=fields,
            only={"type": code},
            point=7 if chosen else 5,
            lookup=lookup,
            show=chosen,
            **where,
        )
