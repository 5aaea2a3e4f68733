"""KPIs and ledgers on the generator's district, in a scratch PostGIS database (``gridmap_bench_ledgers``, dropped at
the end), through the API in process (signed in; no network).

The sample brings its commitments; when it has no field work of its own, a year of it is added here, crudely (not
a realistic history, a realistic volume): every tagged household visited about monthly by a role its tags call for,
about one hazard per 10 households and one request per 5, states and ratings drawn at random.

Timed, p50 / p95 over --repeat calls: GET /kpis for every community of the district (admin), every grid of a street
(street leader) and one community (secretary); each ledger of a community (secretary) and of a street (leader).

    python benchmarks/ledgers.py [--scale 34] [--repeat 10] [--keep]
"""

import argparse
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api.accounts.roles import parse_scope  # noqa: E402
from api.accounts.users import put_user  # noqa: E402
from api.ledgers import LEDGER_NAMES, china_today  # noqa: E402
from api.main import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.storage import SYSTEM, connect, database, transaction  # noqa: E402
from api.storage.imports import load_sample  # noqa: E402
from gis.sample import DISTRICT_SCALE, generate_sample  # noqa: E402

PASSWORD = "a password for the benchmark only"
KEY = b"the benchmark's key for ID-number hashes, 32+ bytes"

# A year of field work up to today, in bulk (only when the sample brings none).
FIELD_WORK_SQL = [
    """INSERT INTO visits (client_id, household_id, grid_id, role, kind, visited_at, notes, payload_sha256)
       SELECT gen_random_uuid(), h.id, h.grid_id,
              (ARRAY['grid_worker', 'grid_worker', 'party_member', 'community_secretary'])[1 + (random() * 3)::int],
              (ARRAY['routine', 'routine', 'care', 'help'])[1 + (random() * 3)::int],
              now() - random() * interval '365 days', '走访', 'bench'
       FROM households h, generate_series(1, 12) WHERE h.tags <> '{}'""",
    """INSERT INTO hazards (category, grid_id, household_id, location, description, state, reported_at, deadline,
                           closed_at)
       SELECT 'gas', h.grid_id, h.id, h.geom, '隐患', s.state, s.at, s.at + interval '3 days',
              CASE WHEN s.state = 'closed' THEN s.at + random() * interval '6 days' END
       FROM households h
       CROSS JOIN LATERAL (SELECT (ARRAY['closed', 'closed', 'closed', 'reported', 'rectifying', 'rejected'])
                                  [1 + (random() * 5)::int + (h.id * 0)] AS state,
                                  now() - random() * interval '365 days' AS at) s
       WHERE random() < 0.1""",
    """INSERT INTO requests (service_code, grid_id, household_id, building_id, location, description, source, state,
                            requested_at, deadline, completed_at, rating)
       SELECT 'livelihood', h.grid_id, h.id, h.building_id, h.geom, '诉求', 'bench', s.state, s.at,
              s.at + interval '5 days',
              CASE WHEN s.state IN ('completed', 'closed') THEN s.at + random() * interval '8 days' END,
              CASE WHEN s.state = 'closed' THEN 1 + (random() * 4)::int END
       FROM households h
       CROSS JOIN LATERAL (SELECT (ARRAY['closed', 'closed', 'completed', 'accepted', 'submitted', 'rejected'])
                                  [1 + (random() * 5)::int + (h.id * 0)] AS state,
                                  now() - random() * interval '365 days' AS at) s
       WHERE random() < 0.2""",
]


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[max(0, int(round(0.95 * len(ordered))) - 1)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=DISTRICT_SCALE)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database (and reuse a kept one)")
    args = parser.parse_args()

    base = Settings()
    url = make_url(base.database_url).set(database="gridmap_bench_ledgers").render_as_string(hide_password=False)
    if not args.keep:
        database.drop_database(url)
    fresh = database.create_database(url)
    database.init_database(url)
    owner = database.make_engine(url)
    try:
        if fresh:
            started = time.perf_counter()
            load_sample(owner, generate_sample(scale=args.scale), id_hash_key=KEY)
            print(f"sample scale {args.scale:g} loaded in {time.perf_counter() - started:.0f} s")
        with transaction(owner, scope=SYSTEM) as conn:
            if not conn.scalar(text("SELECT EXISTS (SELECT 1 FROM visits)")):
                started = time.perf_counter()
                for sql in FIELD_WORK_SQL:
                    conn.execute(text(sql))
                conn.execute(text("ANALYZE visits; ANALYZE hazards; ANALYZE requests"))
                print(f"a year of field work added in {time.perf_counter() - started:.0f} s")
        with connect(owner, scope=SYSTEM) as conn:
            tables = ("households", "grids", "communities", "commitments", "visits", "hazards", "requests")
            sizes = {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in tables}
            street, community = conn.execute(
                text(
                    "SELECT st.code, st.code || c.code FROM communities c JOIN streets st ON st.id = c.street_id "
                    "ORDER BY (SELECT count(*) FROM grids g WHERE g.community_id = c.id) DESC LIMIT 1"
                )
            ).one()
        print(", ".join(f"{k} {v}" for k, v in sizes.items()))
        logins = {
            "admin": ("admin", []),
            "leader": ("street_leader", [f"street:{street}"]),
            "secretary": ("community_secretary", [f"community:{community}"]),
        }
        for login, (role, scopes) in logins.items():
            put_user(owner, f"bench-{login}", role=role, scopes=[parse_scope(s) for s in scopes], password=PASSWORD)
        today = china_today()
        period = {"from": (today - timedelta(days=364)).isoformat(), "to": today.isoformat()}
        year = {"from": date(today.year, 1, 1).isoformat(), "to": today.isoformat()}
        cases = [
            ("kpis: every community (admin)", "admin", "/kpis", {"level": "community"} | period),
            ("kpis: every street (admin)", "admin", "/kpis", {"level": "street"} | period),
            ("kpis: a street's grids (leader)", "leader", "/kpis", {"level": "grid"} | period),
            ("kpis: one community (secretary)", "secretary", "/kpis",
             {"level": "community", "code": community} | period),
        ] + [
            (f"ledger {name}: community", "secretary", f"/ledgers/{name}.xlsx", {"community_code": community} | year)
            for name in LEDGER_NAMES
        ] + [
            (f"ledger {name}: street", "leader", f"/ledgers/{name}.xlsx", {"street_code": street} | year)
            for name in LEDGER_NAMES
        ]  # fmt: skip
        settings = base.model_copy(update={"database_url": url})
        with TestClient(create_app(settings)) as client:
            headers = {}
            for login in logins:
                form = {"username": f"bench-{login}", "password": PASSWORD}
                token = client.post("/auth/token", data=form).json()["access_token"]
                headers[login] = {"Authorization": f"Bearer {token}"}
            print(f"\n{'case':40} {'p50 ms':>9} {'p95 ms':>9}  size")
            for name, login, path, params in cases:
                times, size = [], ""
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    response = client.get(path, params=params, headers=headers[login])
                    times.append(time.perf_counter() - start)
                    assert response.status_code == 200, response.text
                    if path == "/kpis":
                        size = f"{len(response.json()['places'])} places"
                    else:
                        size = f"{response.headers['x-ledger-rows']} rows, {len(response.content) // 1024} KiB"
                p50, p95 = percentiles(times)
                print(f"{name:40} {p50:9.1f} {p95:9.1f}  {size}")
    finally:
        owner.dispose()
        if not args.keep:
            database.drop_database(url)


if __name__ == "__main__":
    main()
