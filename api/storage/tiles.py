"""Mapbox vector tiles of the stored layers, made by PostGIS (``ST_AsMVT``), one statement per tile.

The shape follows tipg's tile query: rows whose geometry meets the tile (with its buffer) are picked by the
geometry's GiST index in EPSG:4326, projected to Web Mercator and clipped into tile coordinates by
``ST_AsMVTGeom``, and ``ST_AsMVT`` encodes them as one layer named after the gridmap layer. Feature ids are the
rows' ids. Every attribute comes from a whitelist below; no text a client sends reaches the SQL (the layer name
picks one of these statements, z/x/y are bound integers).

Personal layers (hazards, requests, visits) carry no names, phones, addresses or descriptions: category, state,
overdue and dates only. They are read under the user's scope, so row-level security picks the rows.
"""

from dataclasses import dataclass

from sqlalchemy import Connection, text

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


# Covered flags: one boolean attribute per service type (walk_m within the budget in metres); no row: no flag.
COVERAGE_ROWS = f"""
SELECT b.id, b.grid_id, cov.flags, {MVT_GEOM.format(geom="b.geom")} AS geom
FROM buildings b
CROSS JOIN bounds
LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(c.service_type, coalesce(c.walk_m <= :budget_m, false)) AS flags
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


def _versions_params(layer: str) -> dict:
    spec = LAYERS[layer]
    return {"layers": list(spec.versions), "coverage_run": spec.coverage_run}


def tile(conn: Connection, layer: str, z: int, x: int, y: int, *, budget_m: float = 0.0) -> tuple[bytes, str]:
    """The MVT of one tile of `layer` (a key of `LAYERS`; empty bytes when no feature meets it) and the versions it
    was drawn at (see `versions`)."""
    params = {"z": z, "x": x, "y": y, "budget_m": budget_m} | _versions_params(layer)
    # The planner's cost of ST_AsMVTGeom over a few thousand rows passes jit_above_cost: compiling took 20-36 ms
    # of a 140-180 ms z14 tile and saved nothing (measured on the district sample). For this transaction only.
    conn.execute(text("SET LOCAL jit = off"))
    body, drawn_at = conn.execute(TILE_SQL[layer], params).one()
    return bytes(body or b""), drawn_at


def versions(conn: Connection, layer: str) -> str:
    """What a tile of `layer` kept now would stand for: its layer counters (and the stored coverage run)."""
    return str(conn.scalar(VERSIONS_SQL, _versions_params(layer)))
