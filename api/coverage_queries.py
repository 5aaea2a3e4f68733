"""Read the stored coverage: gap statistics per group, uncovered buildings as GeoJSON, the 完整社区 check.

Levels and profiles are applied here as thresholds on the stored walking metres (budget = minutes × 60 × speed),
so changing GRIDMAP_COVERAGE_LEVELS or GRIDMAP_WALK_PROFILES needs no recomputation. Households and residents are
summed from the household layer at query time (a building's own ``households`` figure wins when it is set).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection, text

from gis.coverage import COMPLETE_SHARE, REQUIRED_TYPES

# Group key → (SQL expression of the group id, SQL expression of its label); a whitelist, never user text.
GROUPS = {
    "grid": ("g.id", "g.code"),
    "community": ("m.id", "m.name"),
    "street": ("s.id", "s.name"),
    "all": ("NULL::bigint", "NULL::text"),
}

STATS_SQL = """
WITH people AS (
    SELECT building_id, count(*) AS households, sum(size) AS residents FROM households GROUP BY building_id
)
SELECT {group_id} AS group_id, {group_label} AS group_name, c.service_type,
       count(*) AS buildings,
       sum(coalesce(b.households, p.households, 0)) AS households,
       sum(coalesce(p.residents, 0)) AS residents,
       {covered}
FROM building_coverage c
JOIN buildings b ON b.id = c.building_id
LEFT JOIN people p ON p.building_id = b.id
LEFT JOIN grids g ON g.id = b.grid_id
LEFT JOIN communities m ON m.id = g.community_id
LEFT JOIN streets s ON s.id = m.street_id
WHERE (CAST(:service_type AS text) IS NULL OR c.service_type = :service_type)
  AND (CAST(:group_filter AS bigint) IS NULL OR {group_id} = :group_filter)
GROUP BY 1, 2, c.service_type
ORDER BY 2 NULLS LAST, 1, c.service_type
"""
# One set of covered sums per (profile, level) budget :budget_<i>, in the same pass over the rows.
COVERED_SQL = """count(*) FILTER (WHERE c.walk_m <= :budget_{i}) AS buildings_covered_{i},
       coalesce(sum(coalesce(b.households, p.households, 0)) FILTER (WHERE c.walk_m <= :budget_{i}), 0)
           AS households_covered_{i},
       coalesce(sum(coalesce(p.residents, 0)) FILTER (WHERE c.walk_m <= :budget_{i}), 0) AS residents_covered_{i}"""

UNCOVERED_SQL = """
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
FROM building_coverage c
JOIN buildings b ON b.id = c.building_id
LEFT JOIN (SELECT building_id, count(*) AS households, sum(size) AS residents FROM households GROUP BY building_id) p
       ON p.building_id = b.id
LEFT JOIN grids g ON g.id = b.grid_id
LEFT JOIN communities m ON m.id = g.community_id
WHERE c.service_type = :service_type
  AND (c.walk_m IS NULL OR c.walk_m > :budget_m)
  AND (CAST(:grid_id AS bigint) IS NULL OR b.grid_id = :grid_id)
  AND (CAST(:community_id AS bigint) IS NULL OR g.community_id = :community_id)
ORDER BY c.walk_m DESC NULLS FIRST, b.id
LIMIT :limit OFFSET :offset
"""


def budgets(profiles: dict[str, float], levels: Sequence[float]) -> list[tuple[str, float, float]]:
    """(profile, level minutes, budget metres) for every profile and level."""
    return [(p, float(lv), float(lv) * 60.0 * speed) for p, speed in profiles.items() for lv in levels]


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
    group_id_sql, group_label_sql = GROUPS[by]
    limits = budgets(profiles, levels)
    covered = ",\n       ".join(COVERED_SQL.format(i=i) for i in range(len(limits)))
    sql = STATS_SQL.format(group_id=group_id_sql, group_label=group_label_sql, covered=covered)
    params = {"service_type": service_type, "group_filter": group_id}
    params.update({f"budget_{i}": budget for i, (_, _, budget) in enumerate(limits)})
    out = []
    for row in conn.execute(text(sql), params).mappings():
        for i, (profile, level, _) in enumerate(limits):
            item = {
                "group_id": row["group_id"],
                "group_name": row["group_name"],
                "service_type": row["service_type"],
                "profile": profile,
                "level": level,
            }
            for measure in ("buildings", "households", "residents"):
                item[measure] = int(row[measure] or 0)
                item[f"{measure}_covered"] = int(row[f"{measure}_covered_{i}"] or 0)
                item[f"{measure}_uncovered"] = item[measure] - item[f"{measure}_covered"]
            base = "residents" if item["residents"] > 0 else "buildings"
            item["share"] = round(item[f"{base}_covered"] / item[base], 4) if item[base] else None
            out.append(item)
    return out


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
    features = list(conn.scalars(text(UNCOVERED_SQL), params))
    total = conn.scalar(
        text(
            "SELECT count(*) FROM building_coverage c JOIN buildings b ON b.id = c.building_id "
            "LEFT JOIN grids g ON g.id = b.grid_id "
            "WHERE c.service_type = :service_type AND (c.walk_m IS NULL OR c.walk_m > :budget_m) "
            "AND (CAST(:grid_id AS bigint) IS NULL OR b.grid_id = :grid_id) "
            "AND (CAST(:community_id AS bigint) IS NULL OR g.community_id = :community_id)"
        ),
        params,
    )
    features = [json.loads(f) if isinstance(f, str) else f for f in features]
    return {
        "type": "FeatureCollection",
        "numberMatched": int(total),
        "numberReturned": len(features),
        "features": features,
    }
