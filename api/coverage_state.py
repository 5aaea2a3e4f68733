"""The planner's in-memory coverage: computed from the stored layers (gis.coverage.run), kept per process, rebuilt
(and its stored twin refreshed) when a layer changes, used for what-if work.

Scenarios, siting and service circles need the walk graph and the per-node distances, which the database does not
hold; loading them takes seconds at district scale, so one copy is kept and reused while ``layer_versions`` is
unchanged. Its stored twin (``building_coverage``) is refreshed at the same time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.errors import CoverageUnavailable, ScenarioError, excerpt
from api.settings import Settings
from api.storage import SYSTEM, Connection, Engine, connect, transaction
from api.storage import coverage as coverage_db
from gis.coverage import (
    REQUIRED_TYPES,
    Coverage,
    add_service,
    move_service,
    remove_service,
    run,
    service_circles,
    suggest_sites,
)
from gis.network import WalkGraph


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
        return coverage_db.input_version(self.versions)

    def service_types(self) -> list[str]:
        return list(self.coverage.fields)


def compute_state(conn: Connection, settings: Settings) -> CoverageState:
    """Read the layers (in the caller's transaction: one snapshot) and compute coverage for every type present and
    every 完整社区 required type (a required type without points gets rows with no walk: not covered)."""
    start = time.perf_counter()
    versions = coverage_db.layer_versions(conn)
    nodes, edges, buildings, services = coverage_db.read_inputs(conn)
    if not len(edges):
        raise CoverageUnavailable("no walk network is stored: import an OSM file or load the sample first")
    # sorted here rather than in SQL: sorting the wide rows spilled to disk on the server
    buildings = buildings.sort_values("building_id", ignore_index=True)
    if not len(buildings):
        raise CoverageUnavailable("no buildings are stored")
    types = list(dict.fromkeys([*sorted(services["type"].unique()), *REQUIRED_TYPES]))
    result = run(
        nodes,
        edges,
        buildings,
        services,
        service_types=types,
        profiles=settings.walk_profiles,
        levels=settings.coverage_levels,
        max_snap_m=settings.max_snap_m,
    )
    return CoverageState(versions, result.graph, result, buildings, services, time.perf_counter() - start)


def refresh(engine: Engine, settings: Settings, *, force: bool = False) -> tuple[dict, CoverageState | None]:
    """Recompute and store the coverage when an input changed (or `force`); returns the run and the new state
    (None when the stored run was current). One REPEATABLE READ transaction: the stored rows match the version."""
    with transaction(engine, scope=SYSTEM, isolation_level="REPEATABLE READ") as conn:
        coverage_db.lock_for_refresh(conn)  # first, before the snapshot (a concurrent refresh waits: no 500)
        run = coverage_db.stored_run(conn)
        if not force and run is not None and coverage_db.is_current(run, conn, settings):
            return run, None
        state = compute_state(conn, settings)
        return coverage_db.store_state(conn, state, settings), state


# Group key → (id column, label column) of CoverageState.buildings
GROUP_COLUMNS = {"grid": ("grid_id", "grid_code"), "community": ("community_id", "community_name")}


class CoverageCache:
    """One `CoverageState` per process, rebuilt (and the stored coverage refreshed) when ``layer_versions`` moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: CoverageState | None = None

    def get(self, engine: Engine, settings: Settings, conn: Connection | None = None) -> tuple[CoverageState, bool]:
        """The current state and whether it was rebuilt by this call.

        The counters are read on `conn` (the request's connection) without the lock: a request for a current state
        waits for nobody. Only a rebuild takes the lock, and reads the counters again under it, so concurrent
        requests after a change rebuild once."""
        if conn is None:
            with connect(engine, scope=SYSTEM) as own:
                versions = coverage_db.layer_versions(own)
        else:
            opened = not conn.in_transaction()
            versions = coverage_db.layer_versions(conn)
            if opened:  # leave the request's connection as it was: no transaction held open by this read
                conn.rollback()
        state = self._state
        if state is not None and state.versions == versions:
            return state, False
        with self._lock:
            with connect(engine, scope=SYSTEM) as own:
                versions = coverage_db.layer_versions(own)
            if self._state is not None and self._state.versions == versions:
                return self._state, False
            _, state = refresh(engine, settings)
            if state is None:  # the stored rows are current; only this process lacks its copy
                with transaction(engine, scope=SYSTEM) as own:
                    state = compute_state(own, settings)
            self._state = state
            return state, True


def apply_changes(state: CoverageState, changes: Sequence[dict]) -> tuple[Coverage, list[str]]:
    """`state.coverage` with the changes applied in order (nothing stored); returns it and the types touched.

    Each change is ``{"action": "add", "service_type", "lon", "lat", "service_point_id"?}``,
    ``{"action": "move", "service_point_id", "lon", "lat"}`` or ``{"action": "remove", "service_point_id"}``.
    """
    cov, touched = state.coverage, []
    for number, change in enumerate(changes, start=1):
        action = change["action"]
        point = None
        if action in ("add", "move"):
            point = shapely.Point(change["lon"], change["lat"])
        try:
            if action == "add":
                service_type = change["service_type"]
                if service_type not in cov.fields:
                    raise ScenarioError(f"change {number}: no coverage for service type {excerpt(service_type)}")
                new_id = str(change.get("service_point_id") or f"new-{number}")
                cov = add_service(cov, service_id=new_id, service_type=service_type, point=point)
            else:
                point_id = str(change["service_point_id"])
                service_type = next((t for t, f in cov.fields.items() if point_id in set(f.service_ids)), None)
                if service_type is None:
                    raise ScenarioError(f"change {number}: no service point {excerpt(point_id)}")
                if action == "move":
                    cov = move_service(cov, service_id=point_id, service_type=service_type, point=point)
                else:
                    cov = remove_service(cov, service_id=point_id, service_type=service_type)
        except (KeyError, ValueError) as exc:
            if isinstance(exc, ScenarioError):
                raise
            raise ScenarioError(f"change {number}: {exc}") from exc
        touched.append(service_type)
    return cov, list(dict.fromkeys(touched))


def _summary(walk: np.ndarray, budget: float, weights: pd.DataFrame) -> dict:
    covered = walk <= budget
    out = {"buildings": len(walk), "buildings_covered": int(covered.sum())}
    for measure in ("households", "residents"):
        values = weights[measure].to_numpy(dtype=float)
        out[measure] = int(values.sum())
        out[f"{measure}_covered"] = int(values[covered].sum())
    return out


def compare(
    state: CoverageState,
    after: Coverage,
    service_types: Sequence[str],
    *,
    profile: str,
    level: float,
    by: str = "grid",
) -> list[dict]:
    """Before / after totals per touched type, and the groups whose covered residents or buildings changed."""
    budget = float(level) * 60.0 * state.coverage.profiles[profile]
    weights = state.buildings[["households", "residents"]]
    id_column, label_column = GROUP_COLUMNS[by]
    out = []
    for service_type in service_types:
        old, _ = state.coverage.walk(service_type)
        new, _ = after.walk(service_type)
        was, now = old <= budget, new <= budget
        frame = pd.DataFrame(
            {
                "group_id": state.buildings[id_column].to_numpy(),
                "group_name": state.buildings[label_column].to_numpy(),
                "buildings": (now.astype(int) - was.astype(int)),
                "residents": weights["residents"].to_numpy(dtype=float) * (now.astype(int) - was.astype(int)),
            }
        )
        changed = frame[frame["buildings"] != 0]
        groups = (
            changed.groupby(["group_id", "group_name"], dropna=False)[["buildings", "residents"]].sum().reset_index()
        )
        out.append(
            {
                "service_type": service_type,
                "profile": profile,
                "level": float(level),
                "before": _summary(old, budget, weights),
                "after": _summary(new, budget, weights),
                "newly_covered_buildings": int((now & ~was).sum()),
                "newly_uncovered_buildings": int((was & ~now).sum()),
                "changed_groups": [
                    {
                        "group_id": None if pd.isna(r.group_id) else int(r.group_id),
                        "group_name": None if pd.isna(r.group_name) else str(r.group_name),
                        "buildings_covered_change": int(r.buildings),
                        "residents_covered_change": int(r.residents),
                    }
                    for r in groups.itertuples()
                ],
            }
        )
    return out


def candidates(state: CoverageState, kind: str) -> gpd.GeoDataFrame:
    """Candidate sites: every building (a point inside it) or every walk-network node."""
    if kind == "buildings":
        points = state.buildings.geometry.representative_point()
        return gpd.GeoDataFrame({"source_id": "building/" + state.buildings["source_id"]}, geometry=points.values)
    graph = state.graph
    nodes = graph.from_metric(shapely.points(graph.node_xy))
    return gpd.GeoDataFrame({"source_id": [f"node/{i}" for i in range(graph.n_nodes)]}, geometry=nodes.values)


def siting(
    state: CoverageState, *, service_type: str, profile: str, level: float, k: int, kind: str, method: str
) -> gpd.GeoDataFrame:
    """`gis.coverage.siting.suggest_sites` on the current coverage, weighed by residents."""
    sites = suggest_sites(
        state.coverage,
        candidates(state, kind).set_crs("EPSG:4326"),
        service_type=service_type,
        buildings=state.buildings,
        weight="residents",
        profile=profile,
        level=level,
        k=k,
        method=method,
    )
    sites.attrs["weight"] = "residents"
    return sites


def circles(
    state: CoverageState, service_points: gpd.GeoDataFrame, *, profile: str, levels: Sequence[float]
) -> gpd.GeoDataFrame:
    """Network service circles (and Euclidean reference rings) of the given points."""
    speed = state.coverage.profiles[profile]
    return service_circles(
        state.graph, service_points, profiles={profile: speed}, levels=levels, max_snap_m=state.coverage.max_snap_m
    )
