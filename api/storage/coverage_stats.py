"""Read the stored coverage: gap statistics per group, uncovered buildings as GeoJSON, the 完整社区 check.

Levels and profiles are applied here as thresholds on the stored walking metres (budget = minutes × 60 × speed),
so changing GRIDMAP_COVERAGE_LEVELS or GRIDMAP_WALK_PROFILES needs no recomputation. Households and residents are
summed from the household layer at query time (a building's own ``households`` figure wins when it is set). The
statistics are kept in process per input state (layer counters, stored run), as one pass over every building × type
takes seconds at district scale.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, text

from api.storage.filters import optional
from gis.coverage import COMPLETE_SHARE, REQUIRED_TYPES

# Group key → (SQL expression of the group id, label table joined as l, label column); a whitelist, never user text.
GROUPS = {
    "grid": ("g.id", "grids", "code"),
    "community": ("m.id", "communities", "name"),
    "street": ("s.id", "streets", "name"),
    "all": ("NULL::bigint", None, None),
}

# Each building's weights and group are worked out first (103k rows at district scale; OFFSET 0 keeps the subquery
# whole, so the 930k coverage rows pass through one hash join instead of three, and unlike a MATERIALIZED CTE the
# planner still knows ``id`` is unique and hashes this side); labels are joined to the aggregated rows only. Weights
# are int so that sums accumulate in int8, not numeric. ``state`` (same snapshot) keys the in-process cache below.
STATS_SQL = (
    """
WITH people AS (
    SELECT building_id, count(*)::int AS households, sum(size)::int AS residents FROM households GROUP BY building_id
), weights AS (
    SELECT b.id, {group_id} AS group_id,
           coalesce(b.households, p.households, 0) AS households, coalesce(p.residents, 0) AS residents
    FROM buildings b
    LEFT JOIN people p ON p.building_id = b.id
    LEFT JOIN grids g ON g.id = b.grid_id
    LEFT JOIN communities m ON m.id = g.community_id
    LEFT JOIN streets s ON s.id = m.street_id
    WHERE """
    + optional("{group_id}", "group_filter")
    + """
    OFFSET 0
), sums AS (
    SELECT w.group_id, c.service_type,
           count(*) AS buildings, sum(w.households) AS households, sum(w.residents) AS residents,
           {covered}
    FROM building_coverage c
    JOIN weights w ON w.id = c.building_id
    WHERE """
    + optional("c.service_type", "service_type", "text")
    + """
    GROUP BY w.group_id, c.service_type
)
SELECT x.*, {group_label} AS group_name, ({state}) AS state
FROM sums x {label_join}
ORDER BY group_name NULLS LAST, x.group_id, x.service_type
"""
)
# One set of covered sums per (profile, level) budget :budget_<i>, in the same pass over the rows.
COVERED_SQL = """count(*) FILTER (WHERE c.walk_m <= :budget_{i}) AS buildings_covered_{i},
           coalesce(sum(w.households) FILTER (WHERE c.walk_m <= :budget_{i}), 0) AS households_covered_{i},
           coalesce(sum(w.residents) FILTER (WHERE c.walk_m <= :budget_{i}), 0) AS residents_covered_{i}"""
# What the statistics are computed from: the writing transaction (xmin) of every layer_versions counter (a
# statement trigger bumps them on any change of buildings, households, grids, communities, ...), the stored run,
# and the street names (streets have no counter). xmin, unlike the counter, is never reused by a rolled-back change.
STATE_SQL = """
SELECT concat_ws('|',
    (SELECT string_agg(layer || '=' || version || '@' || xmin::text, ';' ORDER BY layer) FROM layer_versions),
    (SELECT max(id) FROM coverage_runs),
    (SELECT md5(string_agg(id || ':' || name, ',' ORDER BY id)) FROM streets))
"""
STATS_CACHE_SIZE = 16
MEASURES = ("buildings", "households", "residents")
# For the statistics query only (a savepoint undoes them): JIT compiling its ~60 expressions cost more than it saved,
# and 4 MB of work_mem spilled the households sum to disk. A page of uncovered buildings never gains from JIT either
# (it compiled for 0.4 s when a blind estimate put 2,000 households in each building).
STATS_SETTINGS = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")
UNCOVERED_SETTINGS = ("SET LOCAL jit = off",)


@contextmanager
def _local_settings(conn: Connection, settings: Sequence[str]) -> Iterator[None]:
    """Run the block with `settings` (SET LOCAL statements) in a savepoint rolled back after, so the caller's
    transaction keeps its own settings (a read-only block loses nothing by the rollback)."""
    savepoint = conn.begin_nested()
    try:
        for setting in settings:
            conn.execute(text(setting))
        yield
    finally:
        savepoint.rollback()


class _StatsCache:
    """gap_stats results per (state, query), so that repeated statistics (the planner's map, the 完整社区 check,
    every grid's page) cost a lookup instead of a pass over every building × type until something changes."""

    def __init__(self, size: int = STATS_CACHE_SIZE) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, _Stats] = OrderedDict()
        self._size = size

    def get(self, key: tuple) -> _Stats | None:
        with self._lock:
            items = self._items.get(key)
            if items is not None:
                self._items.move_to_end(key)
            return items

    def put(self, key: tuple, items: _Stats) -> None:
        with self._lock:
            self._items[key] = items
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


STATS_CACHE = _StatsCache()


# Uncovered buildings, farthest first: the page is picked from building_coverage alone (a backward scan of the
# (service_type, walk_m) index: unreached first, then by walk descending), and only its rows are joined to the
# households (per building, by index) and grids; summing every household of the district for each page took 0.7 s.
UNCOVERED_FILTER_SQL = """
FROM building_coverage c
JOIN buildings b ON b.id = c.building_id
LEFT JOIN grids g ON g.id = b.grid_id
WHERE c.service_type = :service_type
  AND (c.walk_m IS NULL OR c.walk_m > :budget_m)
  AND {grid}
  AND {community}
""".format(grid=optional("b.grid_id", "grid_id"), community=optional("g.community_id", "community_id"))
UNCOVERED_SQL = (
    """
WITH page AS (
    SELECT c.building_id, c.service_type, c.service_point_id, c.walk_m
    """
    + UNCOVERED_FILTER_SQL
    + """
    ORDER BY c.walk_m DESC NULLS FIRST, c.building_id
    LIMIT :limit OFFSET :offset
)
SELECT json_build_object(
    'type', 'Feature',
    'id', b.id,
    'geometry', ST_AsGeoJSON(b.geom, 7)::json,
    'properties', json_build_object(
        'building_id', b.id, 'name', b.name, 'grid', g.code, 'community', m.name,
        'households', coalesce(b.households, p.households, 0), 'residents', coalesce(p.residents, 0),
        'service_type', c.service_type, 'nearest_service_point_id', c.service_point_id,
        'walk_m', c.walk_m, 'walk_min', round((c.walk_m / :speed / 60.0)::numeric, 1)
    )
)
FROM page c
JOIN buildings b ON b.id = c.building_id
LEFT JOIN grids g ON g.id = b.grid_id
LEFT JOIN communities m ON m.id = g.community_id
LEFT JOIN LATERAL (
    SELECT count(*) AS households, sum(h.size) AS residents FROM households h WHERE h.building_id = b.id
) p ON true
ORDER BY c.walk_m DESC NULLS FIRST, c.building_id
"""
)
UNCOVERED_COUNT_SQL = "SELECT count(*)" + UNCOVERED_FILTER_SQL


def budgets(profiles: dict[str, float], levels: Sequence[float]) -> list[tuple[str, float, float]]:
    """(profile, level minutes, budget metres) for every profile and level."""
    return [(p, float(lv), float(lv) * 60.0 * speed) for p, speed in profiles.items() for lv in levels]


@dataclass
class _Stats:
    """gap_stats rows of one state and query, and the same rows as a JSON array once asked for (gap_stats_json)."""

    rows: list[dict]
    encoded: bytes | None = None


def gap_stats(
    conn: Connection,
    *,
    by: str,
    profiles: dict[str, float],
    levels: Sequence[float],
    service_type: str | None = None,
    group_id: int | None = None,
) -> list[dict]:
    """Covered / not covered buildings, households and residents per group, service type, profile and level."""
    stats = _gap_stats(conn, by=by, profiles=profiles, levels=levels, service_type=service_type, group_id=group_id)
    return [dict(item) for item in stats.rows]


def gap_stats_json(
    conn: Connection,
    *,
    by: str,
    profiles: dict[str, float],
    levels: Sequence[float],
    service_type: str | None = None,
    group_id: int | None = None,
) -> bytes:
    """`gap_stats` as a JSON array (UTF-8, as FastAPI would write it), encoded once per state and query: encoding
    the 1,890 rows of the sample street's grids took ~25 ms, more than the rest of a cached request."""
    stats = _gap_stats(conn, by=by, profiles=profiles, levels=levels, service_type=service_type, group_id=group_id)
    if stats.encoded is None:  # two requests may both encode: the same bytes
        stats.encoded = json.dumps(stats.rows, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return stats.encoded


def _gap_stats(
    conn: Connection,
    *,
    by: str,
    profiles: dict[str, float],
    levels: Sequence[float],
    service_type: str | None,
    group_id: int | None,
) -> _Stats:
    """The rows of `gap_stats`, from the cache or computed (and kept); never modify them."""
    group_id_sql, label_table, label_column = GROUPS[by]
    limits = budgets(profiles, levels)
    query = (by, service_type, group_id, tuple(limits))
    state = conn.scalar(text(STATE_SQL))
    cached = STATS_CACHE.get((state, *query))
    if cached is not None:
        return cached
    covered = ",\n           ".join(COVERED_SQL.format(i=i) for i in range(len(limits)))
    sql = STATS_SQL.format(
        group_id=group_id_sql,
        covered=covered,
        group_label=f"l.{label_column}" if label_table else "NULL::text",
        label_join=f"LEFT JOIN {label_table} l ON l.id = x.group_id" if label_table else "",
        state=STATE_SQL,
    )
    params: dict[str, object] = {"service_type": service_type, "group_filter": group_id}
    params.update({f"budget_{i}": budget for i, (_, _, budget) in enumerate(limits)})
    with _local_settings(conn, STATS_SETTINGS):
        result = conn.execute(text(sql), params)
        column = {name: i for i, name in enumerate(result.keys())}
        rows = result.all()
    # plain tuples and precomputed positions: by-name lookups in 53k output rows took ~0.5 s at district scale
    group, name, kind, state_at = (column[c] for c in ("group_id", "group_name", "service_type", "state"))
    totals = [column[m] for m in MEASURES]
    covered_at = [[column[f"{m}_covered_{i}"] for m in MEASURES] for i in range(len(limits))]
    out = []
    for row in rows:
        state = row[state_at]
        b, h, r = (int(row[c] or 0) for c in totals)
        for (profile, level, _), (bc, hc, rc) in zip(limits, covered_at, strict=True):
            b_cov, h_cov, r_cov = int(row[bc] or 0), int(row[hc] or 0), int(row[rc] or 0)
            share = round(r_cov / r, 4) if r > 0 else (round(b_cov / b, 4) if b else None)
            out.append(
                {
                    "group_id": row[group],
                    "group_name": row[name],
                    "service_type": row[kind],
                    "profile": profile,
                    "level": level,
                    "buildings": b,
                    "buildings_covered": b_cov,
                    "buildings_uncovered": b - b_cov,
                    "households": h,
                    "households_covered": h_cov,
                    "households_uncovered": h - h_cov,
                    "residents": r,
                    "residents_covered": r_cov,
                    "residents_uncovered": r - r_cov,
                    "share": share,
                }
            )
    stats = _Stats(out)
    if out:  # an empty result carries no state of its own
        STATS_CACHE.put((state, *query), stats)
    return stats


def completeness(
    stats: list[dict],
    *,
    profile: str,
    level: float,
    required: Sequence[str] = REQUIRED_TYPES,
    min_share: float = COMPLETE_SHARE,
) -> list[dict]:
    """完整社区 check from `gap_stats` rows: per group, the covered share of each required type at `profile` /
    `level`, and which types are missing (share below `min_share`; a type without rows counts as 0)."""
    groups: dict[object, dict] = {}
    for row in stats:
        if row["profile"] != profile or row["level"] != float(level):
            continue
        group = groups.setdefault(
            row["group_id"], {"group_id": row["group_id"], "group_name": row["group_name"], "shares": {}}
        )
        group["shares"][row["service_type"]] = row["share"] or 0.0
    out = []
    for group in groups.values():
        shares = {t: group["shares"].get(t, 0.0) for t in required}
        missing = [t for t, share in shares.items() if share < min_share]
        out.append({**group, "shares": shares, "missing": missing, "complete": not missing})
    return out


def uncovered_geojson(
    conn: Connection,
    *,
    service_type: str,
    speed: float,
    budget_m: float,
    grid_id: int | None = None,
    community_id: int | None = None,
    limit: int,
    offset: int = 0,
) -> dict:
    """Uncovered buildings of one type as a FeatureCollection (farthest first; unreachable ones at the top)."""
    params = {
        "service_type": service_type,
        "speed": speed,
        "budget_m": budget_m,
        "grid_id": grid_id,
        "community_id": community_id,
        "limit": limit,
        "offset": offset,
    }
    with _local_settings(conn, UNCOVERED_SETTINGS):
        features = list(conn.scalars(text(UNCOVERED_SQL), params))
        total = conn.scalar(text(UNCOVERED_COUNT_SQL), params)
    features = [json.loads(f) if isinstance(f, str) else f for f in features]
    return {
        "type": "FeatureCollection",
        "numberMatched": int(total),
        "numberReturned": len(features),
        "features": features,
    }
