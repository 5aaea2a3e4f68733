"""The counts behind the KPIs, per place (grid, community or street) over a period: one grouped query per KPI family
(visits done vs due, hazards, requests with their ratings). Counts only: read under gridmap's own scope for roles
that see aggregates (planners see no field-work row), cut to the caller's grids by `grid_ids`.

Definitions (docs/fieldwork.md, "Ledgers and KPIs"):
- visits: for each household of the place now and each visit rule that applies to it (one of its tags; the
  community's own rule replaces the default of the same tag, role and kind; inactive rules do not count),
  ⌈period days / interval⌉ visits are due from the rule's role; done are the visits to the household by that role
  in the period of a kind the rule counts (api.visits.rules: any kind for a routine rule, care or help for a care
  rule, the same kind for help and attend), counted up to the number due (a visit serves every rule it counts for);
- hazards: those reported in the period (not rejected); closed = state closed; overdue = the rectification still
  owed past the deadline at `as_of` (api.workflows.hazards: not when suspended or rectified), or reported done
  (its first move to rectified, else its closing) after the deadline;
- requests: those received in the period; closure = completed or closed over all but rejected and duplicate;
  satisfaction over those rated: the mean rating and the number rated 4 or 5.
"""

from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, text

from api.visits.rules import COUNTING_KINDS, VISIT_KINDS
from api.workflows.hazards import OVERDUE_STATES

Level = Literal["grid", "community", "street"]

# The place a grid counts towards at each level (whitelisted SQL, chosen by level).
PLACE_KEY = {"grid": "g.id", "community": "g.community_id", "street": "c.street_id"}
PLACE_GRIDS = """
pg AS MATERIALIZED (
    SELECT g.id AS grid_id, {key} AS place_id, g.community_id
    FROM grids g LEFT JOIN communities c ON c.id = g.community_id
    WHERE g.id = ANY (CAST(:grid_ids AS bigint[])) AND {key} IS NOT NULL
)"""

PLACES_SQL = {
    "grid": """SELECT g.id, g.code, coalesce(g.name, g.code) AS name
        FROM grids g WHERE g.id = ANY (:ids) ORDER BY g.code""",
    "community": """SELECT c.id, st.code || c.code AS code, coalesce(c.name, c.code) AS name
        FROM communities c JOIN streets st ON st.id = c.street_id WHERE c.id = ANY (:ids) ORDER BY 2""",
    "street": """SELECT st.id, st.code, coalesce(st.name, st.code) AS name
        FROM streets st WHERE st.id = ANY (:ids) ORDER BY 2""",
}

VISITS_SQL = """
WITH {place_grids},
rules AS MATERIALIZED (
    SELECT coalesce(cm.community_id, 0) AS community, r.tag, r.role, r.kind, r.interval_days
    FROM (SELECT DISTINCT community_id FROM pg) cm
    JOIN visit_rules r ON r.active AND (
        r.community_id = cm.community_id
        OR (r.community_id IS NULL AND NOT EXISTS (
            SELECT 1 FROM visit_rules o
            WHERE o.community_id = cm.community_id AND o.tag = r.tag AND o.role = r.role AND o.kind = r.kind)))
),
tagged AS MATERIALIZED (
    SELECT pg.place_id, coalesce(pg.community_id, 0) AS community, h.id AS household_id, t.tag
    FROM households h
    JOIN pg ON pg.grid_id = h.grid_id
    CROSS JOIN LATERAL unnest(h.tags) AS t(tag)
    WHERE h.tags <> '{{}}'
),
due AS MATERIALIZED (
    SELECT tg.place_id, tg.household_id, r.role, r.kind,
           CAST(ceil(:days / CAST(r.interval_days AS numeric)) AS int) AS n
    FROM tagged tg JOIN rules r ON r.community = tg.community AND r.tag = tg.tag
),
done AS (
    SELECT v.household_id, v.role, {kind_counts}
    FROM visits v
    JOIN households h ON h.id = v.household_id
    JOIN pg ON pg.grid_id = h.grid_id
    WHERE h.tags <> '{{}}' AND v.visited_at >= :start AND v.visited_at < :end
    GROUP BY v.household_id, v.role
)
SELECT due.place_id, sum(due.n) AS due, sum(least({counting}, due.n)) AS done,
       count(DISTINCT due.household_id) AS households
FROM due LEFT JOIN done ON done.household_id = due.household_id AND done.role = due.role
GROUP BY due.place_id
"""

HAZARDS_SQL = """
WITH {place_grids}
SELECT pg.place_id, count(*) AS reported,
       count(*) FILTER (WHERE h.state = 'closed') AS closed,
       count(*) FILTER (WHERE (h.state IN ({owed}) AND h.deadline < :as_of)
                          OR (h.state IN ('rectified', 'verified', 'closed') AND coalesce(
                              (SELECT min(x.at) FROM hazard_history x
                               WHERE x.case_id = h.id AND x.to_state = 'rectified'),
                              h.closed_at) > h.deadline)) AS overdue
FROM hazards h JOIN pg ON pg.grid_id = h.grid_id
WHERE h.reported_at >= :start AND h.reported_at < :end AND h.state <> 'rejected'
GROUP BY pg.place_id
"""

REQUESTS_SQL = """
WITH {place_grids}
SELECT pg.place_id,
       count(*) FILTER (WHERE q.state NOT IN ('rejected', 'duplicate')) AS counted,
       count(*) FILTER (WHERE q.state IN ('completed', 'closed')) AS closed,
       count(q.rating) AS rated,
       sum(q.rating) AS rating_sum,
       count(*) FILTER (WHERE q.rating >= 4) AS satisfied
FROM requests q JOIN pg ON pg.grid_id = q.grid_id
WHERE q.requested_at >= :start AND q.requested_at < :end
GROUP BY pg.place_id
"""
# A visit counts for a rule when its kind is one the rule's kind counts (api.visits.rules, as the due lists count).
KIND_COUNTS = ", ".join(f"count(*) FILTER (WHERE v.kind = '{k}') AS n_{k}" for k in VISIT_KINDS)
COUNTING = (
    "CASE due.kind "
    + " ".join(
        f"WHEN '{rule}' THEN " + " + ".join(f"coalesce(done.n_{k}, 0)" for k in kinds)
        for rule, kinds in COUNTING_KINDS.items()
    )
    + " ELSE 0 END"
)
VISITS_SQL = VISITS_SQL.replace("{kind_counts}", KIND_COUNTS).replace("{counting}", COUNTING)
HAZARDS_SQL = HAZARDS_SQL.replace("{owed}", ", ".join(f"'{s}'" for s in OVERDUE_STATES))
FAMILIES = {"visits": VISITS_SQL, "hazards": HAZARDS_SQL, "requests": REQUESTS_SQL}
# For these statements only (SET LOCAL: the transaction's). Over a district the planner's cost crosses the JIT
# thresholds and compiling took 1.6 s of 3.7 s; the visits per (household, role) spilled to disk at 4 MB (the
# district's year, 2.7M visits: 7.3 s at 32 MB, 4.3 s at 64 MB).
TUNING_SQL = "SET LOCAL jit = off; SET LOCAL work_mem = '64MB'"

# The grids a user's places hold: their grid scopes, and every grid of their street and community scopes (planners
# included, whom the row-level-security helper leaves out: they see counts, not rows). An admin's: every grid.
USER_GRIDS_SQL = """
SELECT g.id FROM user_scopes s JOIN grids g ON g.code = s.code WHERE s.user_id = :user AND s.level = 'grid'
UNION
SELECT g.id
FROM user_scopes s
JOIN streets st ON s.code LIKE st.code || '%'
JOIN communities c ON c.street_id = st.id
JOIN grids g ON g.community_id = c.id
WHERE s.user_id = :user
  AND ((s.level = 'community' AND s.code = st.code || c.code) OR (s.level = 'street' AND s.code = st.code))
"""
ALL_GRIDS_SQL = "SELECT id FROM grids"


def user_grids(conn: Connection, user_id: int, *, admin: bool) -> set[int]:
    return set(conn.scalars(text(ALL_GRIDS_SQL if admin else USER_GRIDS_SQL), {"user": user_id}))


def places(conn: Connection, level: Level, place_ids: list[int]) -> list[dict]:
    """Code and name of each place, by code."""
    return [dict(r) for r in conn.execute(text(PLACES_SQL[level]), {"ids": place_ids}).mappings()]


def place_grid_sets(conn: Connection, level: Level, grid_ids: list[int]) -> dict[int, set[int]]:
    """Every grid of each place at `level` that any of `grid_ids` counts towards (theirs or not), by place."""
    key = PLACE_KEY[level]
    sql = f"""
        WITH {PLACE_GRIDS.format(key=key)}
        SELECT {key} AS place_id, g.id AS grid_id
        FROM grids g LEFT JOIN communities c ON c.id = g.community_id
        WHERE {key} IN (SELECT place_id FROM pg)"""
    sets: dict[int, set[int]] = {}
    for row in conn.execute(text(sql), {"grid_ids": grid_ids}):
        sets.setdefault(int(row.place_id), set()).add(int(row.grid_id))
    return sets


def kpi_counts(
    conn: Connection,
    level: Level,
    grid_ids: list[int],
    start: datetime,
    end: datetime,
    days: int,
    as_of: datetime,
    families: tuple[str, ...] = tuple(FAMILIES),
) -> dict[str, dict[int, dict]]:
    """Per KPI family (of `families`), the counts of each place with any (a place absent from a family has none)."""
    place_grids = PLACE_GRIDS.format(key=PLACE_KEY[level])
    params = {"grid_ids": grid_ids, "start": start, "end": end, "days": days, "as_of": as_of}
    conn.execute(text(TUNING_SQL))
    counts: dict[str, dict[int, dict]] = {}
    for family in families:
        sql = FAMILIES[family]
        rows = conn.execute(text(sql.format(place_grids=place_grids)), params).mappings()
        counts[family] = {int(r["place_id"]): dict(r) for r in rows}
    return counts
