"""What naming the user's grids on top of row-level security does for a page of hazards or requests, on the
generator's district in a scratch PostGIS database (``gridmap_bench_cases``, dropped at the end).

The district sample, then a year of cases made here by SQL (the sample's own history is another module's): by default
214,000 requests and 51,000 hazards (what gis.sample's year of field work holds at district scale), each at a
household drawn at random, ids in time order, a few requests dispatched to the benchmark's party member. Users: the
grid worker of the busiest grid, the secretary of its community, the leader of its street, a party member of that
grid. For each, the first page and one from the middle of their cases (100 a page, as GET /requests and GET /hazards
ask when no grid_code or community_code is given):

- 'RLS alone': the query without the user's grids (before this change): the policy keeps the page inside the
  user's places, but it cannot tell the planner which grids, so the page walks the cases by id testing each;
- 'own grids': with api.access.case_grids' grids (and, for requests, the user as assignee) on top of the policy:
  an index range on (grid_id, requested_at) / (grid_id, reported_at).

Each page is checked to hold the same cases either way. Printed: p50 / p95 ms per case and the plans of the grid
worker's first pages (``--explain``). Aim: p95 < 50 ms.

    python benchmarks/case_scoping.py [--scale 34] [--requests 214000] [--hazards 51000] [--repeat 50] [--explain]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api.access import case_grids  # noqa: E402
from api.accounts.roles import Principal, parse_scope  # noqa: E402
from api.accounts.users import put_user  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.storage import SYSTEM, connect, database, transaction, user_scope  # noqa: E402
from api.storage import hazards as hazards_db  # noqa: E402
from api.storage import requests as requests_db  # noqa: E402
from api.storage.imports import load_sample  # noqa: E402
from gis.sample import DISTRICT_SCALE, generate_sample  # noqa: E402

PASSWORD = "a password for the benchmark only"
PAGE = 100
ID_HASH_KEY = b"the benchmark's own key: its residents are fictional"  # a scratch database; no file kept

# A year of cases at households drawn at random (with replacement), ids in time order.
REQUESTS_SQL = """
INSERT INTO requests (service_code, grid_id, household_id, location, description, source, state, requested_at,
                      deadline)
SELECT (ARRAY(SELECT code FROM services ORDER BY code))[1 + (n % (SELECT count(*) FROM services))],
       h.grid_id, h.id, h.geom, '楼道灯坏了', 'sample',
       (ARRAY['submitted', 'dispatched', 'accepted', 'completed', 'closed'])[1 + (n % 5)], t, t + interval '72 hours'
FROM (SELECT n, now() - random() * interval '365 days' AS t, 1 + floor(random() * :households)::bigint AS k
      FROM generate_series(1, :count) n) draw
JOIN (SELECT row_number() OVER (ORDER BY id) AS k, id, grid_id, geom FROM households) h ON h.k = draw.k
ORDER BY t
"""
HAZARDS_SQL = """
INSERT INTO hazards (category, grid_id, household_id, location, description, state, reported_at, deadline)
SELECT (ARRAY(SELECT code FROM hazard_categories ORDER BY code))[1 + (n % (SELECT count(*) FROM hazard_categories))],
       h.grid_id, h.id, h.geom, '3号楼楼道堆放杂物',
       (ARRAY['reported', 'accepted', 'dispatched', 'rectifying', 'closed'])[1 + (n % 5)], t, t + interval '72 hours'
FROM (SELECT n, now() - random() * interval '365 days' AS t, 1 + floor(random() * :households)::bigint AS k
      FROM generate_series(1, :count) n) draw
JOIN (SELECT row_number() OVER (ORDER BY id) AS k, id, grid_id, geom FROM households) h ON h.k = draw.k
ORDER BY t
"""


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[max(0, int(round(0.95 * len(ordered))) - 1)] * 1000


def timed(engine, scope, repeat: int, page, forms: list[dict]) -> tuple[list[list[int]], list[list[float]]]:
    """Each form of the page's query `repeat` times, taken in turn (so that load from elsewhere falls on all alike),
    each in its own transaction as a request runs it: the ids of each, and its timings."""
    times: list[list[float]] = [[] for _ in forms]
    ids: list[list[int]] = [[] for _ in forms]
    for _ in range(repeat):
        for n, query in enumerate(forms):
            start = time.perf_counter()
            with transaction(engine, scope=scope) as conn:
                rows = page(conn, limit=PAGE, **query)
            times[n].append(time.perf_counter() - start)
            ids[n] = [r["id"] for r in rows]
    return ids, times


def explain(engine, scope, sql: str, params: dict) -> str:
    with connect(engine, scope=scope) as conn:
        lines = conn.scalars(text("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql), params)
        return "\n".join("    " + line for line in lines)


ACCOUNTS = ("worker", "secretary", "leader", "member")
USERS_SQL = "SELECT login, id FROM users WHERE login LIKE 'bench-%'"


def build(owner, args) -> str:
    """The district, a year of cases and the users; the worker's grid code."""
    start = time.perf_counter()
    area = generate_sample(scale=args.scale)
    load_sample(owner, area, id_hash_key=ID_HASH_KEY)
    print(f"sample scale {args.scale:g}: {len(area.households)} households in {len(area.grids)} grids", end="")
    del area
    with connect(owner, scope=SYSTEM) as conn:
        households = conn.scalar(text("SELECT count(*) FROM households"))
        conn.execute(text(REQUESTS_SQL), {"count": args.requests, "households": households})
        conn.execute(text(HAZARDS_SQL), {"count": args.hazards, "households": households})
        conn.commit()
        grid_id, grid_code, community_code, street_code = conn.execute(
            text(
                "SELECT g.id, g.code, st.code || c.code, st.code FROM grids g JOIN communities c "
                "ON c.id = g.community_id JOIN streets st ON st.id = c.street_id "
                "ORDER BY (SELECT count(*) FROM requests r WHERE r.grid_id = g.id) DESC LIMIT 1"
            )
        ).one()
    print(f" ({time.perf_counter() - start:.0f} s)")
    scopes = {
        "worker": ("grid_worker", f"grid:{grid_code}"),
        "secretary": ("community_secretary", f"community:{community_code}"),
        "leader": ("street_leader", f"street:{street_code}"),
        "member": ("party_member", f"grid:{grid_code}"),
    }
    for login, (role, scope) in scopes.items():
        put_user(owner, f"bench-{login}", role=role, scopes=[parse_scope(scope)], password=PASSWORD)
    with connect(owner, scope=SYSTEM) as conn:
        member = conn.scalar(text("SELECT id FROM users WHERE login = 'bench-member'"))
        # 党员接单: some of the community's requests dispatched to the party member, in any of its grids
        conn.execute(
            text(
                "UPDATE requests SET assigned_user_id = :m, state = 'dispatched' WHERE id IN (SELECT r.id "
                "FROM requests r JOIN grids g ON g.id = r.grid_id JOIN grids mine ON mine.id = :g "
                "WHERE g.community_id = mine.community_id ORDER BY r.id DESC LIMIT 40)"
            ),
            {"m": member, "g": grid_id},
        )
        conn.commit()
        conn.execute(text("ANALYZE requests"))  # after the assignment: the planner's statistics as a server keeps
        conn.execute(text("ANALYZE hazards"))
    return grid_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=DISTRICT_SCALE)
    parser.add_argument("--requests", type=int, default=214_000)
    parser.add_argument("--hazards", type=int, default=51_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--explain", action="store_true", help="print the grid worker's first-page plans")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (dropped by the next run)")
    parser.add_argument("--reuse", action="store_true", help="time the database a --keep run left, as it is")
    args = parser.parse_args()

    base = Settings()
    url = make_url(base.database_url).set(database="gridmap_bench_cases").render_as_string(hide_password=False)
    if not args.reuse:
        database.drop_database(url)
        database.init_database(url)
    owner = database.make_engine(url)
    app_role = database.make_engine(database.app_database_url(url))
    try:
        if args.reuse:
            with connect(owner, scope=SYSTEM) as conn:
                grid_code = conn.scalar(
                    text(
                        "SELECT code FROM user_scopes s JOIN users u ON u.id = s.user_id WHERE u.login = 'bench-worker'"
                    )
                )
        else:
            grid_code = build(owner, args)
        with connect(owner, scope=SYSTEM) as conn:
            users = {login.removeprefix("bench-"): uid for login, uid in conn.execute(text(USERS_SQL))}
            totals = [conn.scalar(text(f"SELECT count(*) FROM {table}")) for table in ("requests", "hazards")]
            counts = [
                conn.scalar(
                    text(f"SELECT count(*) FROM {t} x JOIN grids g ON g.id = x.grid_id WHERE g.code = :g"),
                    {"g": grid_code},
                )
                for t in ("requests", "hazards")
            ]
        print(
            f"{totals[0]} requests, {totals[1]} hazards; busiest grid {grid_code}: {counts[0]} requests, {counts[1]} "
            f"hazards; {args.repeat} pages per case, {PAGE} per page\n"
        )

        print("p50 / p95 ms: 'RLS alone' (before: no grids named), 'own grids' (after: the user's grids named).")
        print(f"{'case':34} {'RLS alone':>17} {'own grids':>17} {'rows':>5}")
        worst = 0.0
        for login in ACCOUNTS:
            uid = users[login]
            scope = user_scope(uid)
            with connect(owner, scope=SYSTEM) as conn:
                role = conn.scalar(text("SELECT role FROM users WHERE id = :u"), {"u": uid})
                grids = case_grids(conn, Principal(user_id=uid, login=login, role=role, scopes=()))
            with connect(app_role, scope=scope) as conn:
                request_ids = list(conn.scalars(text("SELECT id FROM requests ORDER BY id DESC")))
                hazard_ids = list(conn.scalars(text("SELECT id FROM hazards ORDER BY id")))
            middle_request = request_ids[len(request_ids) // 2] if request_ids else 0
            middle_hazard = hazard_ids[len(hazard_ids) // 2] if hazard_ids else 0
            cases = [
                ("requests, first page", requests_db.page, {"before": 0}, {"or_assigned_to": uid}),
                ("requests, middle page", requests_db.page, {"before": middle_request}, {"or_assigned_to": uid}),
                ("hazards, first page", hazards_db.hazards_page, {"after": 0}, {}),
                ("hazards, middle page", hazards_db.hazards_page, {"after": middle_hazard}, {}),
            ]
            for name, page, query, extra in cases:
                (before_ids, after_ids), (before, after) = timed(
                    app_role, scope, args.repeat, page, [query, query | {"grid_ids": grids} | extra]
                )
                assert before_ids == after_ids, (login, name)
                (b50, b95), (a50, a95) = percentiles(before), percentiles(after)
                worst = max(worst, a95)
                print(f"{login + ', ' + name:34} {b50:7.2f} /{b95:8.2f} {a50:7.2f} /{a95:8.2f} {len(after_ids):5}")
            if args.explain and login in ("worker", "member"):
                requests_params = {"before": 0, "limit": PAGE, "grid_id": None, "community_id": None, "state": None}
                requests_params |= {"service_code": None, "assigned_user_id": None, "overdue": None}
                hazards_params = {"after": 0, "limit": PAGE, "grid_id": None, "community_id": None, "state": None}
                hazards_params |= {"category": None, "overdue": None, "reported_from": None, "reported_to": None}
                alone, own = {"grid_ids": None, "or_assigned_to": None}, {"grid_ids": grids, "or_assigned_to": uid}
                plans = [
                    ("requests, RLS alone", requests_db.PAGE_SQL, requests_params | alone),
                    ("requests, own grids", requests_db.PAGE_SQL, requests_params | own),
                    ("hazards, RLS alone", hazards_db.HAZARDS_PAGE_SQL, hazards_params | {"grid_ids": None}),
                    ("hazards, own grids", hazards_db.HAZARDS_PAGE_SQL, hazards_params | {"grid_ids": grids}),
                ]
                for title, sql, params in plans:
                    print(f"\n  plan, {login}'s first page of {title}:\n{explain(app_role, scope, sql, params)}\n")
        print(f"\nworst p95 with the user's grids named: {worst:.2f} ms  [aim < 50 ms]")
    finally:
        owner.dispose()
        app_role.dispose()
        if not args.keep:
            database.drop_database(url)


if __name__ == "__main__":
    main()
