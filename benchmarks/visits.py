"""What a grid worker's field-work endpoints cost, on the generator's district in a scratch PostGIS database
(``gridmap_bench_visits``, dropped at the end), through the HTTP API in process (signed in, no network).

The worker of the grid with the most households: GET /visits/due (the first call builds and caches the walk graph
around the grid: shown apart; then warm calls from the grid centre and from a moving position), POST /visits (a
new visit, and its retry), with a third of the grid's tagged households visited in the past month beforehand.
Printed: p50 / p95 per endpoint, the due list's size and its tour. Aim: p95 < 50 ms (docs/design.md §5).

    python benchmarks/visits.py [--scale 34] [--repeat 200]
"""

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api.accounts.roles import parse_scope  # noqa: E402
from api.accounts.users import put_user  # noqa: E402
from api.main import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.storage import SYSTEM, connect, database  # noqa: E402
from api.storage.imports import load_sample  # noqa: E402
from gis.sample import DISTRICT_SCALE, generate_sample  # noqa: E402

PASSWORD = "a password for the benchmark only"
CHINA = ZoneInfo("Asia/Shanghai")


def percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[max(0, int(round(0.95 * len(ordered))) - 1)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=DISTRICT_SCALE)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    base = Settings()
    url = make_url(base.database_url).set(database="gridmap_bench_visits").render_as_string(hide_password=False)
    database.drop_database(url)
    database.init_database(url)
    owner = database.make_engine(url)
    rng = random.Random(12)
    try:
        started = time.perf_counter()
        area = generate_sample(scale=args.scale)
        load_sample(owner, area, id_hash_key=b"the benchmark's key for ID-number hashes, 32+ bytes")
        print(f"sample scale {args.scale:g}: {len(area.households)} households in {len(area.grids)} grids "
              f"(made and stored in {time.perf_counter() - started:.0f} s)")  # fmt: skip
        del area
        with connect(owner, scope=SYSTEM) as conn:
            grid_id, grid_code, households = conn.execute(
                text(
                    "SELECT g.id, g.code, count(h.id) FROM grids g JOIN households h ON h.grid_id = g.id "
                    "GROUP BY g.id ORDER BY count(h.id) DESC LIMIT 1"
                )
            ).one()
            tagged = list(
                conn.scalars(
                    text(
                        "SELECT id FROM households WHERE grid_id = :g AND tags && '{elderly_alone,hardship,"
                        "hospitalized,unemployed,released}' ORDER BY id"
                    ),  # fmt: skip
                    {"g": grid_id},
                )
            )
        put_user(owner, "bench-worker", role="grid_worker", scopes=[parse_scope(f"grid:{grid_code}")],
                 password=PASSWORD)  # fmt: skip
        settings = base.model_copy(update={"database_url": url})
        with TestClient(create_app(settings)) as client:
            token = client.post("/auth/token", data={"username": "bench-worker", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            now = datetime.now(CHINA)
            history = [
                {
                    "client_id": str(uuid.uuid4()),
                    "household_id": h,
                    "visited_at": (now - timedelta(days=rng.uniform(0, 30))).isoformat(),
                }  # fmt: skip
                for h in rng.sample(tagged, len(tagged) // 3)
            ]
            for start in range(0, len(history), 100):
                answer = client.post("/visits/batch", json=history[start : start + 100], headers=headers)
                assert answer.status_code == 200 and answer.json()["refused"] == 0, answer.text
            print(f"grid {grid_code}: {households} households, {len(tagged)} under a grid worker's rule, "
                  f"{len(history)} of them visited in the past month\n")  # fmt: skip

            started = time.perf_counter()
            first = client.get("/visits/due", headers=headers)
            cold = (time.perf_counter() - started) * 1000
            assert first.status_code == 200, first.text
            body = first.json()
            walk = body["walk_order"]
            print(f"due list: {body['count']} households in {len(walk['building_ids'])} buildings; tour "
                  f"{walk['total_m']:.0f} m ({walk['method']}, network: {walk['along_network']})")  # fmt: skip
            print(f"first GET /visits/due (builds the grid's walk graph): {cold:.1f} ms\n")
            lon, lat = body["position"]["coordinates"]
            cases = {
                "GET /visits/due (grid centre)": lambda: client.get("/visits/due", headers=headers),
                "GET /visits/due (lon, lat)": lambda: client.get(
                    "/visits/due",
                    params={"lon": lon + rng.uniform(-0.003, 0.003), "lat": lat + rng.uniform(-0.003, 0.003)},
                    headers=headers,
                ),
            }
            for name, call in cases.items():
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    answer = call()
                    times.append(time.perf_counter() - started)
                    assert answer.status_code == 200
                p50, p95 = percentiles(times)
                print(f"{name:32} p50 {p50:6.2f} ms, p95 {p95:6.2f} ms  [aim p95 < 50 ms]")
            new, retry = [], []
            sent = [h["client_id"] for h in history]
            for _ in range(args.repeat):
                visit = {"client_id": str(uuid.uuid4()), "household_id": rng.choice(tagged),
                         "visited_at": datetime.now(CHINA).isoformat(), "notes": "例行走访"}  # fmt: skip
                sent.append(visit["client_id"])
                for out, expected in ((new, 201), (retry, 200)):
                    started = time.perf_counter()
                    answer = client.post("/visits", json=visit, headers=headers)
                    out.append(time.perf_counter() - started)
                    assert answer.status_code == expected, answer.text
            for name, times in (("POST /visits (new)", new), ("POST /visits (retry)", retry)):
                p50, p95 = percentiles(times)
                print(f"{name:32} p50 {p50:6.2f} ms, p95 {p95:6.2f} ms  [aim p95 < 50 ms]")
            with connect(owner, scope=SYSTEM) as conn:  # the sample's year of visits is there too: count this run's
                stored = conn.scalar(
                    text("SELECT count(*) FROM visits WHERE client_id = ANY(CAST(:ids AS uuid[]))"), {"ids": sent}
                )
            assert stored == len(history) + args.repeat, stored
            print(f"\nvisits stored: {stored} = acknowledged {len(history) + args.repeat} (no loss, no duplicate)")
    finally:
        owner.dispose()
        database.drop_database(url)


if __name__ == "__main__":
    main()
