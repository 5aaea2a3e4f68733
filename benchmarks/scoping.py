"""What row-level security costs a household page, on the generator's district in a scratch PostGIS database
(``gridmap_bench_scoping``, dropped at the end).

A grid worker's page (their grid) and a community secretary's (their community), first page and one from the middle,
100 households each: the API's own query (api.storage.households.households_page)

- RLS on: through the server's role `gridmap_app` under the user's scope, with the place filter the API adds, and
  with none (the database alone keeps the page inside the user's places);
- RLS off, the peer: the same query and filter through the table owner (a superuser: policies do not apply), which is
  what an application that scopes by WHERE clauses alone runs.

Each page is checked to hold the same households either way. Printed: p50 / p95 per case and the ratio on / off;
then the same pages through the HTTP API (signed in, in process) as a user meets them. Aim: p95 < 50 ms, ratio < 1.5.

    python benchmarks/scoping.py [--scale 34] [--repeat 200]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api.accounts.roles import parse_scope  # noqa: E402
from api.accounts.users import put_user  # noqa: E402
from api.main import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.storage import SYSTEM, connect, database, transaction, user_scope  # noqa: E402
from api.storage.households import households_page  # noqa: E402
from api.storage.imports import load_sample  # noqa: E402
from gis.sample import DISTRICT_SCALE, generate_sample  # noqa: E402

PASSWORD = "a password for the benchmark only"
PAGE = 100


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[max(0, int(round(0.95 * len(ordered))) - 1)] * 1000


def timed_pages(engine, scope, repeat: int, **query) -> tuple[list[int], list[float]]:
    """The page's ids and `repeat` timings of it, each in its own transaction (as a request runs it)."""
    times, ids = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        with transaction(engine, scope=scope) as conn:
            rows = households_page(conn, limit=PAGE, **query)
        times.append(time.perf_counter() - start)
        ids = [r["id"] for r in rows]
    return ids, times


ID_HASH_KEY = b"the benchmark's own key: its residents are fictional"  # a scratch database; no file kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=DISTRICT_SCALE)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    base = Settings()
    url = make_url(base.database_url).set(database="gridmap_bench_scoping").render_as_string(hide_password=False)
    database.drop_database(url)
    database.init_database(url)
    owner = database.make_engine(url)
    app_role = database.make_engine(database.app_database_url(url))
    try:
        area = generate_sample(scale=args.scale)
        load_sample(owner, area, id_hash_key=ID_HASH_KEY, history=False)  # households and residents are enough
        print(f"sample scale {args.scale:g}: {len(area.households)} households in {len(area.grids)} grids")
        del area
        with connect(owner, scope=SYSTEM) as conn:
            grid_id, grid_code, community_id, community_code = conn.execute(
                text(
                    "SELECT g.id, g.code, c.id, st.code || c.code FROM grids g JOIN communities c "
                    "ON c.id = g.community_id JOIN streets st ON st.id = c.street_id "
                    "ORDER BY (SELECT count(*) FROM households h WHERE h.grid_id = g.id) DESC LIMIT 1"
                )
            ).one()
            grid_households = conn.scalar(text("SELECT count(*) FROM households WHERE grid_id = :g"), {"g": grid_id})
            community_households = conn.scalar(
                text("SELECT count(*) FROM households h JOIN grids g ON g.id = h.grid_id WHERE community_id = :c"),
                {"c": community_id},
            )
            middle = {
                "worker": conn.scalar(
                    text("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY id) FROM households WHERE grid_id = :g"),
                    {"g": grid_id},
                ),
                "secretary": conn.scalar(
                    text(
                        "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY h.id) FROM households h "
                        "JOIN grids g ON g.id = h.grid_id WHERE community_id = :c"
                    ),
                    {"c": community_id},
                ),
            }
        put_user(
            owner, "bench-worker", role="grid_worker", scopes=[parse_scope(f"grid:{grid_code}")], password=PASSWORD
        )
        put_user(
            owner,
            "bench-secretary",
            role="community_secretary",
            scopes=[parse_scope(f"community:{community_code}")],
            password=PASSWORD,
        )
        with connect(owner, scope=SYSTEM) as conn:
            users = dict(conn.execute(text("SELECT login, id FROM users")).all())
        print(
            f"grid {grid_code}: {grid_households} households; community {community_code}: "
            f"{community_households} households; {args.repeat} pages per case, {PAGE} per page\n"
        )

        with connect(owner, scope=SYSTEM) as conn:
            community_grids = sorted(
                conn.scalars(text("SELECT id FROM grids WHERE community_id = :c"), {"c": community_id})
            )
        # (name, login, the page as the API asks for it with a place given, the user's own grids for none)
        cases = [
            ("grid worker, first page", "bench-worker", {"after": 0, "grid_id": grid_id}, [grid_id]),
            ("grid worker, middle page", "bench-worker", {"after": middle["worker"], "grid_id": grid_id}, [grid_id]),
            ("secretary, first page", "bench-secretary", {"after": 0, "community_id": community_id}, community_grids),
            (
                "secretary, middle page",
                "bench-secretary",
                {"after": middle["secretary"], "community_id": community_id},
                community_grids,
            ),
        ]
        print("p50 / p95 ms. 'place': the API's query given grid_code or community_code; 'own': given neither (the")
        print("API adds the user's grids); 'off': the same query as the owner, no policies (the peer); 'RLS alone':")
        print("no filter at all (a forgotten WHERE). Ratios: p95 RLS on / off, for 'place' and for 'own'.")
        columns = ("RLS on, place", "off, place", "RLS on, own", "off, own", "RLS alone")
        print(f"{'case':26} " + " ".join(f"{c:>16}" for c in columns) + f" {'ratios':>11}")
        worst = 0.0
        for name, login, query, own in cases:
            scope = user_scope(users[login])
            place_ids, place = timed_pages(app_role, scope, args.repeat, **query)
            own_ids, own_times = timed_pages(app_role, scope, args.repeat, after=query["after"], grid_ids=own)
            alone_ids, alone = timed_pages(app_role, scope, args.repeat, after=query["after"])
            off_ids, off = timed_pages(owner, SYSTEM, args.repeat, **query)
            off_own_ids, off_own = timed_pages(owner, SYSTEM, args.repeat, after=query["after"], grid_ids=own)
            assert place_ids == own_ids == alone_ids == off_ids == off_own_ids and len(off_ids) == PAGE, name
            figures = [percentiles(t) for t in (place, off, own_times, off_own, alone)]
            ratios = (figures[0][1] / figures[1][1], figures[2][1] / figures[3][1])  # p95, each form to its peer
            worst = max(worst, *ratios)
            cells = " ".join(f"{p50:7.2f} /{p95:7.2f}" for p50, p95 in figures)
            print(f"{name:26} {cells} {ratios[0]:5.2f} {ratios[1]:5.2f}")

        settings = base.model_copy(update={"database_url": url})
        print("\nthrough the API (GET /households, signed in; in process, so no network):")
        with TestClient(create_app(settings)) as client:
            for login, params in (
                ("bench-worker", {"grid_code": grid_code}),
                ("bench-secretary", {"community_code": community_code}),
            ):
                token = client.post("/auth/token", data={"username": login, "password": PASSWORD}).json()
                headers = {"Authorization": f"Bearer {token['access_token']}"}
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    response = client.get("/households", params={**params, "limit": PAGE}, headers=headers)
                    times.append(time.perf_counter() - start)
                    assert response.status_code == 200 and len(response.json()["features"]) == PAGE
                p50, p95 = percentiles(times)
                print(f"  {login:18} first page: p50 {p50:6.2f} ms, p95 {p95:6.2f} ms  [aim p95 < 50 ms]")
        print(f"\nworst ratio RLS on / off (p95): {worst:.2f}  [aim < 1.5]")
    finally:
        owner.dispose()
        app_role.dispose()
        database.drop_database(url)


if __name__ == "__main__":
    main()
