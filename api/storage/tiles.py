"""Mapbox vector tiles of the stored layers, made by PostGIS (``ST_AsMVT``), one statement per tile.

The shape follows tipg's tile query: rows whose geometry meets the tile (with its buffer) are picked by the
geometry's GiST index in EPSG:4326, projected to Web Mercator and clipped into tile coordinates by
``ST_AsMVTGeom``, and ``ST_AsMVT`` encodes them as one layer named after the gridmap layer. Feature ids are the
rows' ids. Every attribute comes from a whitelist below; no text a client sends reaches the SQL (the layer name
picks one of these statements, z/x/y are bound integers).

Personal layers (hazards, requests, visits) carry no names, phones, addresses or descriptions: category, state,
overdue and dates only. They are read under the user's scope, so row-level security picks the rows.

GCJ-02 tiles (``crs='gcj02'``, for maps drawn on AMap): the same rows, drawn where AMap draws them. Tile z/x/y is a
tile of AMap's GCJ-02 map; the rows read are those in the WGS84 area that GCJ-02 moves into it (the tile's corners
shifted back exactly), and each geometry is moved by one affine map per tile fitted to the exact shift at the
tile's corners (least squares), in Web Mercator before clipping. The shift bends by at most ~2 m per km, so the
affine map is within ~0.3 m of the exact shift in a z14 tile and within centimetres from z16 up, and neighbouring
tiles agree along their shared edge to the same error.
"""

import math
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, text

from gis.crs import gcj02_to_wgs84

EXTENT = 4096  # tile coordinates per side (the MVT default)
BUFFER = 64  # tile coordinates drawn beyond each edge, so strokes and points at the edges are not cut
CHINA_TIME = "Asia/Shanghai"

# The tile's envelope in Web Mercator, and the areas whose rows are read, in WGS84 for the GiST index (a box in one
# is a box in the other: both are aligned with lon/lat): polygons meeting the tile itself (as tipg reads them; a
# polygon only in the buffer draws nothing inside the tile), points within the buffer too (a marker near the edge of
# the next tile reaches into this one).
BOUNDS = f"""
bounds AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS env,
           ST_Transform(ST_TileEnvelope(:z, :x, :y), 4326) AS area,
           ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => {BUFFER / EXTENT}), 4326) AS near
)"""
MVT_GEOM = f"ST_AsMVTGeom(ST_Transform({{geom}}, 3857), bounds.env, {EXTENT}, {BUFFER}, true)"


def _local(column: str) -> str:
    """A timestamptz as ISO 8601 in China time (MVT has no time type; the session's zone must not matter)."""
    return f"to_char({column} AT TIME ZONE '{CHINA_TIME}', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"


def _plain(table: str, columns: str, *, points: bool = False) -> str:
    return f"""
SELECT t.id, {columns}, {MVT_GEOM.format(geom="t.geom")} AS geom
FROM {table} t, bounds
WHERE t.geom && bounds.{"near" if points else "area"}"""


# Covered flags: one boolean attribute per service type (walk_m within the budget in metres); no row: no flag. And
# the walk in whole metres to the nearest point of each type as '<type>_m' (none: unreachable), from which the
# planner map colours buildings by walking time for any profile and level; the building's name for its tooltip.
COVERAGE_ROWS = f"""
SELECT b.id, b.grid_id, b.name, cov.flags, {MVT_GEOM.format(geom="b.geom")} AS geom
FROM buildings b
CROSS JOIN bounds
LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(c.service_type, coalesce(c.walk_m <= :budget_m, false))
           || coalesce(jsonb_object_agg(c.service_type || '_m', round(c.walk_m)::int)
                       FILTER (WHERE c.walk_m IS NOT NULL AND c.walk_m < 'Infinity'), '{{}}') AS flags
    FROM building_coverage c WHERE c.building_id = b.id
) cov ON true
WHERE b.geom && bounds.area"""

CASE_ROWS = f"""
SELECT t.id, t.grid_id, t.building_id, t.state, {{kind}},
       t.closed_at IS NULL AND t.deadline < now() AS overdue,
       {_local("t.{opened}")} AS {{opened}}, {_local("t.deadline")} AS deadline,
       {_local("t.closed_at")} AS closed_at,
       {MVT_GEOM.format(geom="t.location")} AS geom
FROM {{table}} t, bounds
WHERE t.location && bounds.near"""

# Visits counted per building (at a point on it), under the user's scope: how many and the last one.
VISITS_ROWS = f"""
SELECT b.id, b.grid_id, v.visits, {_local("v.last_visit")} AS last_visit,
       {MVT_GEOM.format(geom="ST_PointOnSurface(b.geom)")} AS geom
FROM buildings b
CROSS JOIN bounds
JOIN LATERAL (
    SELECT count(*)::int AS visits, max(vi.visited_at) AS last_visit
    FROM households h JOIN visits vi ON vi.household_id = h.id
    WHERE h.building_id = b.id
) v ON v.visits > 0
WHERE b.geom && bounds.area"""


@dataclass(frozen=True)
class TileLayer:
    rows: str  # SELECT of id, attributes and an MVT geometry named geom, using the CTE `bounds`
    personal: bool  # read under the user's scope (row-level security), never cached across users
    versions: tuple[str, ...] = ()  # layer_versions counters that a change of the layer moves
    coverage_run: bool = False  # also keyed by the stored coverage run (replaced whole by each run)


LAYERS: dict[str, TileLayer] = {
    "buildings": TileLayer(
        _plain("buildings", "t.kind, t.name, t.floors, t.households, t.grid_id, t.compound_id, t.source"),
        personal=False,
        versions=("buildings",),
    ),
    "grids": TileLayer(
        _plain("grids", "t.code, t.name, t.community_id, t.source"), personal=False, versions=("grids",)
    ),
    "communities": TileLayer(
        _plain("communities", "t.code, t.name, t.street_id, t.source"), personal=False, versions=("communities",)
    ),
    "service_points": TileLayer(
        _plain("service_points", "t.type, t.level, t.name, t.hours, t.source", points=True),
        personal=False,
        versions=("service_points",),
    ),
    "coverage": TileLayer(COVERAGE_ROWS, personal=False, versions=("buildings",), coverage_run=True),
    "hazards": TileLayer(
        CASE_ROWS.format(table="hazards", kind="t.category, t.severity", opened="reported_at"), personal=True
    ),
    "requests": TileLayer(
        CASE_ROWS.format(table="requests", kind="t.service_code", opened="requested_at"), personal=True
    ),
    "visits": TileLayer(VISITS_ROWS, personal=True),
}

# Each counter with its writing transaction (xmin, never reused by a rolled-back change, as in api.storage.maps), as
# one text: 'layer=version@xmin;…'.
VERSIONS = """(
SELECT coalesce(string_agg(v.layer || '=' || v.version || '@' || v.xmin::text, ';' ORDER BY v.layer), '')
       || CASE WHEN :coverage_run
               THEN ';coverage_runs=' || coalesce((SELECT max(id)::text FROM coverage_runs), '') ELSE '' END
FROM layer_versions v WHERE v.layer = ANY(:layers)
)"""
VERSIONS_SQL = text(f"SELECT {VERSIONS}")
# The tile and the versions it stands for, read in one statement (one snapshot): what was drawn is what they say.
# ST_AsMVT skips rows whose geometry ST_AsMVTGeom clipped away (NULL); a WHERE on it would be pushed into the scan
# and clip every geometry twice (measured: +30 % on a z14 tile of 9,000 buildings). Features in id order: the same
# rows make the same bytes (and ETag), whatever order parallel workers hand them over in.
TILE_SQL = {
    name: text(
        f"WITH {BOUNDS}, rows AS ({layer.rows}\n)\n"
        f"SELECT (SELECT ST_AsMVT(rows.*, '{name}', {EXTENT}, 'geom', 'id' ORDER BY rows.id) FROM rows),"
        f" {VERSIONS}"
    )
    for name, layer in LAYERS.items()
}

# The same statements for GCJ-02 tiles: the rows of a WGS84 box, each geometry moved by an affine map (see above).
SHIFTED_BOUNDS = """
bounds AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS env,
           ST_MakeEnvelope(:area_w, :area_s, :area_e, :area_n, 4326) AS area,
           ST_MakeEnvelope(:near_w, :near_s, :near_e, :near_n, 4326) AS near
)"""
_PLAIN_GEOM, _SHIFTED_GEOM = (
    "ST_AsMVTGeom(ST_Transform({geom}, 3857), bounds.env",
    "ST_AsMVTGeom(ST_Affine(ST_Transform({geom}, 3857), :a, :b, :d, :e, :xoff, :yoff), bounds.env",
)


def _shifted(sql: str) -> str:
    before, after = (part.split("{geom}") for part in (_PLAIN_GEOM, _SHIFTED_GEOM))
    count = sql.count(before[0])
    sql = sql.replace(before[0], after[0]).replace(before[1], after[1]).replace(BOUNDS, SHIFTED_BOUNDS)
    assert count and sql.count(after[1]) == count, "every MVT geometry of a shifted tile is moved"
    return sql


GCJ02_TILE_SQL = {name: text(_shifted(statement.text)) for name, statement in TILE_SQL.items()}
CRS = ("gcj02",)  # the display CRSs tiles are made in besides Web Mercator on WGS84
EARTH_RADIUS = 6378137.0  # Web Mercator's sphere


def _mercator(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return np.column_stack(
        [np.radians(lon) * EARTH_RADIUS, np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * EARTH_RADIUS]
    )


def _lonlat(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.degrees(xy[:, 0] / EARTH_RADIUS), np.degrees(2 * np.arctan(np.exp(xy[:, 1] / EARTH_RADIUS)) - np.pi / 2)


def gcj02_tile_params(z: int, x: int, y: int) -> dict[str, float]:
    """The WGS84 boxes to read (the tile, and with its buffer) and the affine map (a, b, d, e, xoff, yoff: x' = a x +
    b y + xoff, y' = d x + e y + yoff in Web Mercator) that draws WGS84 geometries where GCJ-02 puts them."""
    size = 2 * math.pi * EARTH_RADIUS / 2**z
    west, north = -math.pi * EARTH_RADIUS + x * size, math.pi * EARTH_RADIUS - y * size
    params: dict[str, float] = {}
    fit_src = fit_dst = None
    for name, margin in (("area", 1 / EXTENT), ("near", (BUFFER + 1) / EXTENT)):
        grow = margin * size
        gcj = np.array(
            [
                [west - grow, north + grow],
                [west + size + grow, north + grow],
                [west - grow, north - size - grow],
                [west + size + grow, north - size - grow],
                [west + size / 2, north - size / 2],
            ]
        )
        lon, lat = gcj02_to_wgs84(*_lonlat(gcj))
        wgs = _mercator(np.asarray(lon), np.asarray(lat))
        box_lon, box_lat = _lonlat(wgs[:4])
        params |= {
            f"{name}_w": float(box_lon.min()),
            f"{name}_e": float(box_lon.max()),
            f"{name}_s": float(box_lat.min()),
            f"{name}_n": float(box_lat.max()),
        }
        if fit_src is None:
            fit_src, fit_dst = wgs, gcj
    assert fit_src is not None and fit_dst is not None
    # Least squares in coordinates relative to the tile's centre (metres, well conditioned).
    origin = fit_src[-1]
    design = np.column_stack([fit_src - origin, np.ones(len(fit_src))])
    solution, *_ = np.linalg.lstsq(design, fit_dst - origin, rcond=None)
    (a, d), (b, e), (c, f) = solution
    # x' = a (x - ox) + b (y - oy) + c + ox  →  xoff = c + ox - a ox - b oy
    params |= {
        "a": float(a),
        "b": float(b),
        "d": float(d),
        "e": float(e),
        "xoff": float(c + origin[0] - a * origin[0] - b * origin[1]),
        "yoff": float(f + origin[1] - d * origin[0] - e * origin[1]),
    }
    return params


def _versions_params(layer: str) -> dict:
    spec = LAYERS[layer]
    return {"layers": list(spec.versions), "coverage_run": spec.coverage_run}


def tile(
    conn: Connection, layer: str, z: int, x: int, y: int, *, budget_m: float = 0.0, crs: str | None = None
) -> tuple[bytes, str]:
    """The MVT of one tile of `layer` (a key of `LAYERS`; empty bytes when no feature meets it) and the versions it
    was drawn at (see `versions`). `crs='gcj02'`: the tile of AMap's map (see the module docstring)."""
    params = {"z": z, "x": x, "y": y, "budget_m": budget_m} | _versions_params(layer)
    statement = TILE_SQL[layer]
    if crs == "gcj02":
        params |= gcj02_tile_params(z, x, y)
        statement = GCJ02_TILE_SQL[layer]
    elif crs is not None:
        raise ValueError(f"unknown tile crs {crs!r}")
    # The planner's cost of ST_AsMVTGeom over a few thousand rows passes jit_above_cost: compiling took 20-36 ms
    # of a 140-180 ms z14 tile and saved nothing (measured on the district sample). For this transaction only.
    conn.execute(text("SET LOCAL jit = off"))
    body, drawn_at = conn.execute(statement, params).one()
    return bytes(body or b""), drawn_at


def versions(conn: Connection, layer: str) -> str:
    """What a tile of `layer` kept now would stand for: its layer counters (and the stored coverage run)."""
    return str(conn.scalar(VERSIONS_SQL, _versions_params(layer)))
