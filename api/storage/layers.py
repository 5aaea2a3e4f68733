"""The stored layers: frames into PostGIS, pages of features out.

Frames go in by COPY into a temporary table, then one upsert per layer.

Rows are keyed by (source, source_id), so importing the same data again updates rows instead of duplicating them.
Relations arrive as source ids (columns ending in ``_ref``, see docs/layers.md) and are resolved here to foreign
keys by joining the referenced table on the same source.
"""

import io
from collections.abc import Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Connection, text

from api.storage.frames import copy_in


@dataclass(frozen=True)
class LayerSpec:
    """How one layer's frame maps onto its table."""

    table: str
    columns: dict[str, str]  # column -> PostgreSQL type of the staging column
    refs: dict[str, tuple[str, str]] = field(default_factory=dict)  # frame column -> (fk column, table)
    geometry: str | None = None  # 'multipolygon' | 'point' | 'linestring' | None


LAYERS: dict[str, LayerSpec] = {
    spec.table: spec
    for spec in [
        LayerSpec("streets", {"code": "text", "name": "text"}, geometry="multipolygon"),
        LayerSpec(
            "communities",
            {"code": "text", "name": "text"},
            {"street_ref": ("street_id", "streets")},
            "multipolygon",
        ),
        LayerSpec(
            "grids",
            {
                "code": "text",
                "code_profile": "text",
                "district_code": "text",
                "street_code": "text",
                "community_code": "text",
                "seq_code": "text",
                "name": "text",
            },
            {"community_ref": ("community_id", "communities")},
            "multipolygon",
        ),
        LayerSpec("compounds", {"name": "text"}, geometry="multipolygon"),
        LayerSpec(
            "buildings",
            {"kind": "text", "name": "text", "floors": "integer", "households": "integer"},
            {"grid_ref": ("grid_id", "grids"), "compound_ref": ("compound_id", "compounds")},
            "multipolygon",
        ),
        LayerSpec(
            "households",
            {"unit": "text", "room": "text", "size": "integer", "tags": "text[]", "is_party_member": "boolean"},
            {"building_ref": ("building_id", "buildings"), "grid_ref": ("grid_id", "grids")},
            "point",
        ),
        LayerSpec(
            "center_households",
            {"capacity": "integer"},
            {"household_ref": ("household_id", "households")},
        ),
        LayerSpec(
            "service_points", {"type": "text", "level": "text", "name": "text", "hours": "text"}, geometry="point"
        ),
        LayerSpec("walk_nodes", {}, geometry="point"),
        LayerSpec(
            "walk_edges",
            {"length_m": "double precision", "highway": "text", "name": "text"},
            {"u_ref": ("source_node", "walk_nodes"), "v_ref": ("target_node", "walk_nodes")},
            "linestring",
        ),
        LayerSpec("grid_workers", {"name": "text"}),
    ]
}


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0

    @property
    def total(self) -> int:
        return self.inserted + self.updated


def _pg_array(values: object) -> str | None:
    """A list of plain codes as a PostgreSQL array literal (tag codes never hold commas or braces)."""
    if values is None or (isinstance(values, float) and pd.isna(values)):
        return "{}"
    if not isinstance(values, Iterable):
        raise TypeError(f"tags must be a list, not {type(values).__name__}")
    return "{" + ",".join(str(v) for v in values) + "}"


def _copy_frame(conn: Connection, staging: str, frame: pd.DataFrame) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, header=False, na_rep="\\N")
    buffer.seek(0)
    copy_in(conn, f"COPY {staging} FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)


def upsert_layer(
    conn: Connection, table: str, frame: pd.DataFrame, *, source: str, resolve_refs: bool = True
) -> UpsertResult:
    """Insert or update the rows of ``frame`` into ``table`` inside the caller's transaction.

    With ``resolve_refs=False`` the ``_ref`` columns are only staged (in ``staging_<table>`` until commit), for
    callers that link across sources themselves, e.g. a user's grid file naming communities by code.
    """
    spec = LAYERS[table]
    if frame.empty:
        return UpsertResult()
    staging = f"staging_{table}"
    columns = list(spec.columns)
    refs = list(spec.refs)
    frame = frame.reset_index(drop=True)
    out = pd.DataFrame({"source_id": frame["source_id"].astype(str)})
    for column in columns:
        values = frame[column] if column in frame else pd.Series([None] * len(frame))
        if spec.columns[column] == "text[]":
            values = values.map(_pg_array)
        elif spec.columns[column] == "integer":
            values = pd.to_numeric(values, errors="coerce").round().astype("Int64")
        out[column] = values
    for ref in refs:
        out[ref] = frame[ref].astype("string") if ref in frame else None
    if spec.geometry:
        out["geom"] = shapely.to_wkb(frame.geometry.to_numpy(), hex=True, include_srid=False)
    staged = ["source_id text", *(f"{c} {spec.columns[c]}" for c in columns), *(f"{r} text" for r in refs)]
    if spec.geometry:
        staged.append("geom text")
    conn.execute(text(f"DROP TABLE IF EXISTS {staging}"))
    conn.execute(text(f"CREATE TEMP TABLE {staging} ({', '.join(staged)}) ON COMMIT DROP"))
    _copy_frame(conn, staging, out)
    if resolve_refs:
        _check_refs_resolved(conn, table, spec, staging, source)
    else:
        refs = []

    target = ["source", "source_id", *columns]
    select = [":source", "s.source_id", *(f"s.{c}" for c in columns)]
    joins = []
    for i, ref in enumerate(refs):
        fk, ref_table = spec.refs[ref]
        target.append(fk)
        select.append(f"r{i}.id")
        joins.append(f"LEFT JOIN {ref_table} r{i} ON r{i}.source = :source AND r{i}.source_id = s.{ref}")
    if spec.geometry:
        geom = "ST_SetSRID(ST_GeomFromWKB(decode(s.geom, 'hex')), 4326)"
        target.append("geom")
        select.append(f"ST_Multi({geom})" if spec.geometry == "multipolygon" else geom)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in target[2:])
    sql = (
        f"INSERT INTO {table} ({', '.join(target)}) SELECT {', '.join(select)} FROM {staging} s "
        f"{' '.join(joins)} ON CONFLICT (source, source_id) DO UPDATE SET {updates} "
        "RETURNING (xmax = 0) AS inserted"
    )
    flags = conn.execute(text(sql), {"source": source}).scalars().all()
    inserted = sum(1 for f in flags if f)
    return UpsertResult(inserted=inserted, updated=len(flags) - inserted)


def _check_refs_resolved(conn: Connection, table: str, spec: LayerSpec, staging: str, source: str) -> None:
    """A reference to a row that is not there is an error, not a silent NULL.

    No LIMIT in the query: with one the planner probes the referenced table's index once per staged row (1.4 s for
    the district's 393k households), without it hashes that table once (0.4 s); the list is empty unless in error.
    """
    for ref, (_, ref_table) in spec.refs.items():
        result = conn.execute(
            text(
                f"SELECT s.source_id, s.{ref} FROM {staging} s WHERE s.{ref} IS NOT NULL AND NOT EXISTS "
                f"(SELECT 1 FROM {ref_table} r WHERE r.source = :source AND r.source_id = s.{ref})"
            ),
            {"source": source},
        )
        missing = result.fetchmany(3)
        result.close()
        if missing:
            examples = ", ".join(f"{row[0]} → {row[1]}" for row in missing)
            raise ValueError(f"{table}: {ref} names rows that {ref_table} does not have ({examples})")


def link_worker_grids(conn: Connection, workers: pd.DataFrame, *, source: str) -> int:
    """Store which grids each grid worker (网格员) is assigned to; replaces that worker's assignments."""
    pairs = [(w, g) for w, grids in zip(workers["source_id"], workers["grid_refs"], strict=True) for g in grids]
    conn.execute(
        text(
            "DELETE FROM grid_worker_grids WHERE worker_id IN "
            "(SELECT id FROM grid_workers WHERE source = :source AND source_id = ANY(:ids))"
        ),
        {"source": source, "ids": list(workers["source_id"].astype(str))},
    )
    if not pairs:
        return 0
    result = conn.execute(
        text(
            "INSERT INTO grid_worker_grids (worker_id, grid_id) "
            "SELECT w.id, g.id FROM unnest(CAST(:workers AS text[]), CAST(:grids AS text[])) AS p(w, g) "
            "JOIN grid_workers w ON w.source = :source AND w.source_id = p.w "
            "JOIN grids g ON g.source = :source AND g.source_id = p.g"
        ),
        {"source": source, "workers": [p[0] for p in pairs], "grids": [p[1] for p in pairs]},
    )
    return result.rowcount


def prune_missing(conn: Connection, table: str, *, source: str) -> int:
    """Delete rows of ``source`` that the last upsert into ``table`` (same transaction) did not have.

    Used for the walk network only: nothing refers to its rows, and a stale edge would distort routing.
    """
    result = conn.execute(
        text(
            f"DELETE FROM {table} t WHERE t.source = :source AND NOT EXISTS "
            f"(SELECT 1 FROM staging_{table} s WHERE s.source_id = t.source_id)"
        ),
        {"source": source},
    )
    return result.rowcount


def read_layer(conn: Connection, table: str, *, where: str = "TRUE", params: dict | None = None) -> gpd.GeoDataFrame:
    """Read a layer back as a GeoDataFrame (for maps and analysis)."""
    return gpd.read_postgis(
        text(f"SELECT * FROM {table} WHERE {where} ORDER BY id"), conn, geom_col="geom", params=params
    )


def analyze(conn: Connection, tables: list[str]) -> None:
    """Refresh the planner statistics of tables just bulk-written (in the caller's transaction; ~1.7 s for the
    district's layers). Without them the next queries plan blind until autovacuum gets there, if it runs at all:
    e.g. a page of uncovered buildings took 0.6 s instead of 0.1 s, most of it compiling JIT code for a guessed
    2,000 households per building."""
    conn.execute(text(f"ANALYZE {', '.join(tables)}"))


def count_rows(conn: Connection) -> dict[str, int]:
    return {table: conn.scalar(text(f"SELECT count(*) FROM {table}")) for table in LAYERS}


def features_page(
    conn: Connection,
    layer: str,
    properties: list[str],
    *,
    bbox: tuple[float, float, float, float] | None,
    limit: int,
    offset: int,
) -> tuple[list, int]:
    """A page of `layer`'s features (GeoJSON dicts with `properties`) and how many match, optionally within `bbox`
    (WGS84). `layer` and `properties` must come from a whitelist: they are written into the SQL."""
    where = "TRUE"
    params: dict = {"limit": limit, "offset": offset}
    if bbox:
        where = "geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)"
        params.update(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3])
    props = ", ".join(f"'{c}', {c}" for c in properties)
    features = conn.scalar(
        text(
            "SELECT coalesce(json_agg(f), '[]'::json) FROM ("
            f"SELECT 'Feature' AS type, id, ST_AsGeoJSON(geom, 7)::json AS geometry, "
            f"json_build_object({props}) AS properties FROM {layer} WHERE {where} "
            "ORDER BY id LIMIT :limit OFFSET :offset) f"
        ),
        params,
    )
    matched = conn.scalar(text(f"SELECT count(*) FROM {layer} WHERE {where}"), params)
    return features, matched
