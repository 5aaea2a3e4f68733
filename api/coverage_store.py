"""Walking coverage from the stored layers: load the inputs, compute with gis.coverage, store per building × type.

The stored table (``building_coverage``) keeps only walking metres and the nearest point; profiles and levels are
thresholds applied at query time. A run records the input version (``layer_versions`` counters of the walk
network, buildings and service points, see migration 0002) and the options, so `refresh` recomputes only when one
of them changed.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from api.settings import Settings
from gis.coverage import REQUIRED_TYPES, Coverage, coverage
from gis.network import WalkGraph, build_walk_graph

# Layers whose change changes walking distances; the others in layer_versions only change weights and groups.
INPUT_LAYERS = ("walk_nodes", "walk_edges", "buildings", "service_points")

BUILDINGS_SQL = """
SELECT b.id::text AS source_id, b.id AS building_id, b.name, b.grid_id, g.code AS grid_code,
       g.community_id, m.code AS community_code, m.name AS community_name,
       coalesce(b.households, p.households, 0) AS households, coalesce(p.residents, 0) AS residents,
       b.geom AS geometry
FROM buildings b
LEFT JOIN grids g ON g.id = b.grid_id
LEFT JOIN communities m ON m.id = g.community_id
LEFT JOIN (SELECT building_id, count(*) AS households, sum(size) AS residents FROM households GROUP BY building_id) p
       ON p.building_id = b.id
ORDER BY b.id
"""
SERVICES_SQL = "SELECT id::text AS source_id, id, type, name, level, geom AS geometry FROM service_points ORDER BY id"
NODES_SQL = "SELECT id::text AS source_id, geom AS geometry FROM walk_nodes ORDER BY id"
EDGES_SQL = """
SELECT id::text AS source_id, source_node::text AS u_ref, target_node::text AS v_ref, length_m, geom AS geometry
FROM walk_edges ORDER BY id
"""


class CoverageUnavailable(Exception):
    """The stored layers cannot give a coverage (no walk network, no buildings)."""


def layer_versions(conn: Connection) -> dict[str, int]:
    return dict(conn.execute(text("SELECT layer, version FROM layer_versions")).all())


def input_version(versions: dict[str, int]) -> str:
    """The version of the coverage inputs, e.g. ``buildings=3;service_points=5;walk_edges=2;walk_nodes=2``."""
    return ";".join(f"{layer}={versions.get(layer, 0)}" for layer in sorted(INPUT_LAYERS))


def coverage_options(settings: Settings) -> dict:
    """What besides the layers changes the stored metres (profiles and levels do not: they are thresholds)."""
    return {"max_snap_m": settings.max_snap_m}


def _read(conn: Connection, sql: str) -> gpd.GeoDataFrame:
    return gpd.read_postgis(text(sql), conn, geom_col="geometry", crs="EPSG:4326")


@dataclass(eq=False)
class CoverageState:
    """Everything a planner's request needs in memory: the graph, the coverage and the weighted buildings."""

    versions: dict[str, int]
    graph: WalkGraph
    coverage: Coverage
    buildings: gpd.GeoDataFrame  # source_id (= buildings.id as text), grid, community, households, residents
    services: gpd.GeoDataFrame  # source_id (= service_points.id as text), type, name, level
    seconds: float

    @property
    def input_version(self) -> str:
        return input_version(self.versions)

    def service_types(self) -> list[str]:
        return list(self.coverage.fields)


def compute_state(conn: Connection, settings: Settings) -> CoverageState:
    """Read the layers (in the caller's transaction: one snapshot) and compute coverage for every type present and
    every 完整社区 required type (a required type without points gets rows with no walk: not covered)."""
    start = time.perf_counter()
    versions = layer_versions(conn)
    nodes, edges = _read(conn, NODES_SQL), _read(conn, EDGES_SQL)
    if not len(edges):
        raise CoverageUnavailable("no walk network is stored: import an OSM file or load the sample first")
    buildings, services = _read(conn, BUILDINGS_SQL), _read(conn, SERVICES_SQL)
    if not len(buildings):
        raise CoverageUnavailable("no buildings are stored")
    graph = build_walk_graph(nodes, edges)
    types = list(dict.fromkeys([*sorted(services["type"].unique()), *REQUIRED_TYPES]))
    result = coverage(
        graph,
        buildings,
        services,
        service_types=types,
        profiles=settings.walk_profiles,
        levels=settings.coverage_levels,
        max_snap_m=settings.max_snap_m,
    )
    return CoverageState(versions, graph, result, buildings, services, time.perf_counter() - start)


def stored_run(conn: Connection) -> dict | None:
    """The run whose rows are in ``building_coverage`` (the newest), or None."""
    row = conn.execute(
        text("SELECT id, input_version, computed_at, seconds, counts, options FROM coverage_runs ORDER BY id DESC")
    ).first()
    return None if row is None else dict(row._mapping)


def is_current(run: dict | None, conn: Connection, settings: Settings) -> bool:
    return (
        run is not None
        and run["input_version"] == input_version(layer_versions(conn))
        and run["options"] == coverage_options(settings)
    )


def store_state(conn: Connection, state: CoverageState, settings: Settings) -> dict:
    """Replace the stored coverage with `state`'s (one row per building × type), in the caller's transaction."""
    start = time.perf_counter()
    frames = []
    for service_type, field in state.coverage.fields.items():
        walk, near = state.coverage.walk(service_type)
        point = np.full(len(walk), None, dtype=object)
        point[near >= 0] = field.service_ids[near[near >= 0]]
        frames.append(
            pd.DataFrame(
                {
                    "building_id": state.coverage.building_ids,
                    "service_type": service_type,
                    "service_point_id": point,
                    "walk_m": np.round(walk, 2),
                }
            )
        )
    rows = pd.concat(frames, ignore_index=True)
    counts = {
        "buildings": len(state.buildings),
        "service_points": len(state.services),
        "walk_edges": int(state.graph.n_edges),
        "rows": len(rows),
        "types": state.service_types(),
        "unreached": {t: int(f["walk_m"].isna().sum()) for t, f in rows.groupby("service_type")},
    }
    conn.execute(text("DELETE FROM building_coverage"))
    conn.execute(text("DELETE FROM coverage_runs"))
    run_id = conn.scalar(
        text(
            "INSERT INTO coverage_runs (input_version, seconds, counts, options) "
            "VALUES (:version, :seconds, CAST(:counts AS jsonb), CAST(:options AS jsonb)) RETURNING id"
        ),
        {
            "version": state.input_version,
            "seconds": state.seconds,
            "counts": json.dumps(counts),
            "options": json.dumps(coverage_options(settings)),
        },
    )
    buffer = io.StringIO()
    rows.assign(run_id=run_id).to_csv(buffer, index=False, header=False, na_rep="\\N")
    buffer.seek(0)
    cursor = conn.connection.dbapi_connection.cursor()
    cursor.copy_expert(
        "COPY building_coverage (building_id, service_type, service_point_id, walk_m, run_id) "
        "FROM STDIN WITH (FORMAT csv, NULL '\\N')",
        buffer,
    )
    counts["store_seconds"] = round(time.perf_counter() - start, 3)
    return {"id": run_id, "input_version": state.input_version, "seconds": state.seconds, "counts": counts}


def refresh(engine: Engine, settings: Settings, *, force: bool = False) -> tuple[dict, CoverageState | None]:
    """Recompute and store the coverage when an input changed (or `force`); returns the run and the new state
    (None when the stored run was current). One REPEATABLE READ transaction: the stored rows match the version."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            run = stored_run(conn)
            if not force and is_current(run, conn, settings):
                return run, None
            state = compute_state(conn, settings)
            return store_state(conn, state, settings), state
