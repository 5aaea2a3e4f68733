"""The API under load, over loopback only (127.0.0.1), for a bounded time, against a server started here (uvicorn,
one process, a free port) and a scratch PostGIS database (``gridmap_bench_load``, dropped at the end unless
``--keep-db``). Two scenarios:

``--scenario field`` (default): grid workers' daily mix on the district sample (gis.sample.DISTRICT_SCALE, with
its year of field work). ``--clients`` workers (default 50), each signed in with their own account scoped to one
grid, loop: their due list (``GET /visits/due`` from a point of their grid), a visit to the first household due
(``POST /visits``; with ``--retry-share`` the same request is sent again, as a phone does when the answer was lost:
it must come back 200 with the original), now and then a hazard (``POST /hazards``) and the open requests of the
grid (``GET /requests``). After each round the database is asked: every acknowledged visit and hazard is stored
exactly once, and nothing unacknowledged is (rows stored = rows acknowledged).

``--scenario planners``: the planners' mix on the sample street: ``/coverage/stats?by=grid``, ``/maps/overview``
and ``/maps/coverage`` (50 / 40 / 10 % by default), signed in as a planner; map requests revalidate with
If-None-Match on ``--revalidate`` of them.

Each client loops until the time is up without pause (a closed loop: latency = clients / throughput; ``--think-ms``
adds a random pause, and then each client also starts after a random part of one pause, so that 50 phones do not
all ask at the same instant). ``--workers N ...`` runs the server with N uvicorn processes (each value in turn,
like a peer; ``gridmap serve --workers``): every process keeps its own caches (walk graph, tile and map caches)
and all share one secret key. Printed per endpoint and status: count, p50/p95/p99/max, errors; in all: requests
per second, CPU time of the server (all its processes) and of the clients (they share the machine), and the
server's resident memory (the sum of its processes' peaks).

Peer: the same load on another checkout (``--app-dir DIR``, repeatable; e.g. a git worktree of the previous
commit), each started in turn on the same database, machine and settings; the table at the end sets them side by
side. The server imports the code of its own directory (checked: it prints ``api.__file__``). The shared
machine's speed drifts by up to ~1.7× between minutes (the same code's CPU per request, in one run): ``--cycles N``
runs the whole sequence N times, interleaved, and the table gives medians over the cycles and the p95's range.

    python benchmarks/load.py [--scenario field] [--seconds 60] [--clients 50] [--app-dir DIR ...] [--workers 1 2]
        [--cycles 3]
"""

import argparse
import os
import random
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api.accounts.roles import parse_scope  # noqa: E402
from api.accounts.users import put_user  # noqa: E402
from api.coverage_state import refresh  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.storage import SYSTEM, connect, database  # noqa: E402
from api.storage.imports import load_sample  # noqa: E402
from benchmarks._harness import Round, load_round, print_round, quantile, start_server, stop_server  # noqa: E402
from gis.sample import DISTRICT_SCALE, generate_sample  # noqa: E402

ID_HASH_KEY = b"the benchmark's own key: its residents are fictional"  # a scratch database; no file kept
PASSWORD = "the load benchmark's password"  # accounts of a scratch database
DATABASE = "gridmap_bench_load"
STATS = "/coverage/stats?by=grid"
OVERVIEW = "/maps/overview"
COVERAGE = "/maps/coverage?service_type=elderly_care&profile=elderly"
HAZARD_CATEGORIES = ("fire_lane", "sanitation", "electric", "falling_objects", "public_facility")


# A client drops an idle connection after 3 s, before uvicorn's 5 s keep-alive closes it: reusing a connection at
# the instant the server closes it ends in a disconnect (httpx's default expiry is also 5 s), which a browser
# retries by itself and httpx does not, and which says nothing about the API.
CONNECTIONS = httpx.Limits(keepalive_expiry=3.0)


def prepare_database(url: str, scenario: str, clients: int, reuse: bool) -> list[dict]:
    """The sample loaded (unless `reuse` and a kept database of the scenario is there), the planner's coverage
    stored, and one account per client: the grid workers' (one grid each, with a point inside it) or the
    planner's. Visits and hazards of earlier runs' accounts are left: the check counts this run's client ids."""
    if not (reuse and _kept(url, scenario)):
        database.drop_database(url)
        database.init_database(url)
    engine = database.make_engine(url)
    try:
        if not (reuse and _kept(url, scenario)):
            start = time.perf_counter()
            area = generate_sample(scale=DISTRICT_SCALE if scenario == "field" else 1.0)
            counts = load_sample(engine, area, id_hash_key=ID_HASH_KEY)
            print(
                f"sample: {len(area.buildings)} buildings, {len(area.households)} households, "
                f"{len(area.grids)} grids; generated and stored in {time.perf_counter() - start:.0f} s "
                f"({', '.join(f'{k} {v}' for k, v in counts.items() if k in ('visits', 'hazards', 'requests'))})"
            )
            del area
        if scenario == "planners":
            run, _ = refresh(engine, Settings(database_url=url))
            print(f"coverage stored ({run['counts']['rows']} rows)")
            with connect(engine, scope=SYSTEM) as conn:
                street = conn.scalar(text("SELECT code FROM streets ORDER BY code LIMIT 1"))
            scopes = [parse_scope(f"street:{street}")]
            put_user(engine, "bench-planner", role="planner", scopes=scopes, password=PASSWORD)
            return [{"login": "bench-planner"}] * clients
        with connect(engine, scope=SYSTEM) as conn:
            grids = conn.execute(
                text(
                    "SELECT g.code, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat "
                    "FROM grids g CROSS JOIN LATERAL ST_PointOnSurface(g.geom) AS p(geom) "
                    "WHERE EXISTS (SELECT 1 FROM households h WHERE h.grid_id = g.id) ORDER BY g.code LIMIT :n"
                ),
                {"n": clients},
            ).all()
        if len(grids) < clients:
            raise SystemExit(f"the sample has {len(grids)} grids with households, fewer than {clients} clients")
        workers = []
        for number, (code, lon, lat) in enumerate(grids):
            login = f"bench-worker-{number:03d}"
            put_user(engine, login, role="grid_worker", scopes=[parse_scope(f"grid:{code}")], password=PASSWORD)
            workers.append({"login": login, "grid_code": code, "lon": lon, "lat": lat})
        return workers
    finally:
        engine.dispose()


def _kept(url: str, scenario: str) -> bool:
    """Whether the database holds the scenario's sample already (a run with --keep-db left it)."""
    try:
        engine = database.make_engine(url)
        with connect(engine, scope=SYSTEM) as conn:
            households = conn.scalar(text("SELECT count(*) FROM households"))
        engine.dispose()
    except Exception:  # no such database yet
        return False
    return households > (100_000 if scenario == "field" else 0)


def sign_in(base: str, login: str) -> dict:
    response = httpx.post(f"{base}/auth/token", data={"username": login, "password": PASSWORD}, timeout=60)
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def timed(client: httpx.Client, result: Round, lock: threading.Lock, name: str, method: str, url: str, **kw):
    """One request, its latency kept under `name` and its status; None on a transport error."""
    start = time.perf_counter()
    try:
        response = client.request(method, url, **kw)
    except httpx.HTTPError as exc:
        with lock:
            result.errors[f"{name} {type(exc).__name__}"] += 1
        return None
    elapsed = time.perf_counter() - start
    with lock:
        result.times[f"{name} {response.status_code}"].append(elapsed)
    return response


def field_loop(base: str, worker: dict, number: int, args, deadline: float, result: Round, lock, acked: dict) -> None:
    """A grid worker's day, compressed: due list, visit (sometimes sent twice), hazard, requests."""
    rng = random.Random(number)
    position = {"lon": worker["lon"], "lat": worker["lat"]}
    point = {"type": "Point", "coordinates": [worker["lon"], worker["lat"]]}
    with httpx.Client(base_url=base, timeout=120, headers=worker["headers"], limits=CONNECTIONS) as client:
        if args.think_ms:  # workers do not all open the app at the same instant: each starts within one pause
            time.sleep(rng.uniform(0, 2 * args.think_ms) / 1000)
        while time.monotonic() < deadline:
            due = timed(client, result, lock, "GET /visits/due", "GET", "/visits/due", params=position)
            if due is None or due.status_code != 200:
                _error(result, lock, "GET /visits/due", due)
                continue
            items = due.json().get("households") or due.json().get("items") or []
            if items:
                body = {
                    "client_id": str(uuid.uuid4()),  # new in every run (a kept database holds the last run's)
                    "household_id": items[0]["household_id"],
                    "kind": "routine",
                    "visited_at": datetime.now(UTC).isoformat(),
                    "location": point,
                    "notes": "入户走访，情况正常",
                }
                sends = 2 if rng.random() < args.retry_share else 1
                for attempt in range(sends):
                    name = "POST /visits" if attempt == 0 else "POST /visits (retry)"
                    response = timed(client, result, lock, name, "POST", "/visits", json=body)
                    if response is not None and response.status_code in (200, 201):
                        with lock:
                            acked["visits"].add(body["client_id"])
                    else:
                        _error(result, lock, name, response)
            if rng.random() < args.hazard_share:
                body = {
                    "client_id": str(uuid.uuid4()),  # new in every run (a kept database holds the last run's)
                    "category": rng.choice(HAZARD_CATEGORIES),
                    "severity": rng.choice(("low", "medium", "high")),
                    "location": point,
                    "description": "楼道堆放杂物，影响通行",
                }
                response = timed(client, result, lock, "POST /hazards", "POST", "/hazards", json=body)
                if response is not None and response.status_code in (200, 201):
                    with lock:
                        acked["hazards"].add(body["client_id"])
                else:
                    _error(result, lock, "POST /hazards", response)
            params = {"grid_code": worker["grid_code"], "limit": 50}
            response = timed(client, result, lock, "GET /requests", "GET", "/requests", params=params)
            if response is None or response.status_code != 200:
                _error(result, lock, "GET /requests", response)
            if args.think_ms:
                time.sleep(rng.uniform(0, 2 * args.think_ms) / 1000)


def _error(result: Round, lock: threading.Lock, name: str, response: httpx.Response | None) -> None:
    if response is not None:  # a transport error is counted by `timed`
        with lock:
            result.errors[f"{name} {response.status_code}: {response.text[:120]}"] += 1


def planners_loop(base: str, worker: dict, number: int, args, deadline: float, result: Round, lock, acked) -> None:
    rng = random.Random(number)
    etags: dict[str, str] = {}
    endpoints = (STATS, OVERVIEW, COVERAGE)
    weights = (args.stats_share, 1 - args.stats_share - args.coverage_share, args.coverage_share)
    with httpx.Client(base_url=base, timeout=120, headers=worker["headers"], limits=CONNECTIONS) as client:
        while time.monotonic() < deadline:
            path = rng.choices(endpoints, weights)[0]
            headers = {}
            if path != STATS and path in etags and rng.random() < args.revalidate:
                headers["If-None-Match"] = etags[path]
            response = timed(client, result, lock, path, "GET", path, headers=headers)
            if response is None or response.status_code not in (200, 304):
                _error(result, lock, path, response)
                continue
            if "etag" in response.headers:
                etags[path] = response.headers["etag"]
            if args.think_ms:
                time.sleep(rng.uniform(0, 2 * args.think_ms) / 1000)


OURS_SQL = {
    table: f"SELECT count(*) FROM {table} t JOIN users u ON u.id = t.{by} WHERE u.login LIKE 'bench-worker-%'"
    for table, by in (("visits", "user_id"), ("hazards", "reported_by"))
}


def count_ours(url: str) -> dict[str, int]:
    """Visits and hazards stored for the benchmark's accounts so far."""
    engine = database.make_engine(url)
    try:
        with connect(engine, scope=SYSTEM) as conn:
            return {table: conn.scalar(text(sql)) for table, sql in OURS_SQL.items()}
    finally:
        engine.dispose()


def check_stored(url: str, acked: dict, before: dict[str, int]) -> str:
    """Rows stored = rows acknowledged: each acknowledged client id stored once, and the accounts' rows grew by
    exactly that many during the round (nothing stored that was not acknowledged, nothing twice)."""
    after = count_ours(url)
    engine = database.make_engine(url)
    try:
        with connect(engine, scope=SYSTEM) as conn:
            lines = []
            for table in OURS_SQL:
                ids = sorted(acked[table])
                stored = conn.scalar(
                    text(f"SELECT count(*) FROM {table} WHERE client_id = ANY (CAST(:ids AS uuid[]))"), {"ids": ids}
                )
                new = after[table] - before[table]
                verdict = "ok" if stored == new == len(ids) else "MISMATCH"
                lines.append(f"{table}: {len(ids)} acknowledged, {stored} of them stored, {new} new rows: {verdict}")
            return "; ".join(lines)
    finally:
        engine.dispose()


def run_app(app_dir: Path, workers: int, url: str, args, accounts: list[dict]) -> list[Round]:
    print(f"{app_dir}, {workers} server process{'es' if workers > 1 else ''}:")
    proc, base = start_server(app_dir, url, args.tiles, workers)
    loop = field_loop if args.scenario == "field" else planners_loop
    try:
        for account in accounts:  # signing in is not timed (argon2 is slow on purpose)
            account["headers"] = sign_in(base, account["login"])
        # In-memory state is built on first use, as after any restart: the planner's coverage, each grid's walk
        # network for its due lists. Warmed before the rounds, each worker's first due list timed on its own.
        if args.scenario == "planners":
            httpx.get(base + STATS, headers=accounts[0]["headers"], timeout=600).raise_for_status()
        else:
            cold = []
            for account in accounts:
                params = {"lon": account["lon"], "lat": account["lat"]}
                for attempt in range(2 * workers):  # each process keeps its own walk networks: likely all warmed
                    start = time.perf_counter()
                    httpx.get(base + "/visits/due", params=params, headers=account["headers"], timeout=600)
                    if attempt == 0:
                        cold.append((time.perf_counter() - start) * 1000)
            print(
                f"  first due list of each worker's grid (its walk network built; one at a time): "
                f"p50 {quantile(cold, 0.5):.0f} ms, max {max(cold):.0f} ms"
            )
        rounds = []
        for i in range(args.rounds):
            acked: dict[str, set[str]] = {"visits": set(), "hazards": set()}
            before = count_ours(url) if args.scenario == "field" else {}

            def client(number: int, deadline: float, result: Round, lock: threading.Lock) -> None:
                loop(base, accounts[number], number, args, deadline, result, lock, acked)  # noqa: B023

            rounds.append(load_round(proc.pid, args.clients, args.seconds, f"round {i + 1}", client))
            print_round(rounds[-1])
            if args.scenario == "field":
                print(f"    {check_stored(url, acked, before)}")
        return rounds
    finally:
        stop_server(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("field", "planners"), default="field")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of one round (bounded)")
    parser.add_argument("--clients", type=int, default=None, help="default: 50 (field), 20 (planners)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds against the same server (memory over time)")
    parser.add_argument("--retry-share", type=float, default=0.2, help="field: share of visits sent twice")
    parser.add_argument("--hazard-share", type=float, default=0.2, help="field: share of loops reporting a hazard")
    parser.add_argument("--stats-share", type=float, default=0.5, help="planners: share of statistics requests")
    parser.add_argument("--coverage-share", type=float, default=0.1, help="planners: share of planner map requests")
    parser.add_argument("--revalidate", type=float, default=0.5, help="planners: map requests with If-None-Match")
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean pause between a client's requests")
    parser.add_argument("--tiles", default="openstreetmap", help="GRIDMAP_TILES of the server")
    parser.add_argument("--app-dir", type=Path, action="append", help="checkout to serve (repeatable; default: this)")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=[1], help="server processes (uvicorn --workers); each value in turn"
    )
    parser.add_argument(
        "--cycles",
        type=int,
        default=1,
        help="run the whole sequence of checkouts and --workers this many times, interleaved (A B A B ...): the "
        "side-by-side table then gives each figure's median over the cycles and the range of the p95",
    )
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reuse-db", action="store_true", help="use the sample a --keep-db run left (minutes saved)")
    args = parser.parse_args()
    args.clients = args.clients or (50 if args.scenario == "field" else 20)
    if not 0 < args.seconds <= 120 or not 0 < args.clients <= 200:
        raise SystemExit("--seconds must be in (0, 120] and --clients in (0, 200]")
    if not 1 <= args.cycles <= 10:
        raise SystemExit("--cycles: from 1 to 10")
    if not all(1 <= w <= 8 for w in args.workers):
        raise SystemExit("--workers: each from 1 to 8")
    if not (0 <= args.stats_share and 0 <= args.coverage_share and args.stats_share + args.coverage_share <= 1):
        raise SystemExit("--stats-share and --coverage-share must be shares that add up to at most 1")
    app_dirs = [d.resolve() for d in (args.app_dir or [ROOT])]

    url = make_url(Settings().database_url).set(database=DATABASE).render_as_string(hide_password=False)
    accounts = prepare_database(url, args.scenario, args.clients, args.reuse_db)
    print(f"{args.scenario}: {args.clients} clients for {args.seconds:g} s per round; {os.cpu_count()} CPUs")
    results: dict[str, list[Round]] = {}  # label → the last round of each cycle
    try:
        for cycle in range(args.cycles):
            if args.cycles > 1:
                print(f"\ncycle {cycle + 1} of {args.cycles}")
            for workers in args.workers:
                for app_dir in app_dirs:
                    rounds = run_app(app_dir, workers, url, args, [dict(a) for a in accounts])
                    results.setdefault(f"{str(app_dir)[-24:]} ×{workers}", []).append(rounds[-1])
    finally:
        if not args.keep_db:
            database.drop_database(url)
    if len(results) < 2 and args.cycles < 2:
        return
    over = f"median of {args.cycles} cycles; p50 / p95 / p99 ms, then the p95's range" if args.cycles > 1 else ""
    print(f"\nside by side ({over or 'last round; p50 / p95 / p99 ms'}):")
    names = sorted({name for cycles in results.values() for r in cycles for name in r.times})
    print(f"  {'endpoint':<66}" + "".join(f" {label:>28}" for label in results))
    for name in names:
        cells = []
        for cycles in results.values():
            per = [[x * 1000 for x in r.times.get(name, [])] for r in cycles]
            per = [t for t in per if t]
            if not per:
                cells.append("-")
                continue
            p50, p95, p99 = (statistics.median(quantile(t, q) for t in per) for q in (0.5, 0.95, 0.99))
            spread = f" ({min(quantile(t, 0.95) for t in per):.0f}–{max(quantile(t, 0.95) for t in per):.0f})"
            cells.append(f"{p50:.0f} / {p95:.0f} / {p99:.0f}" + (spread if len(per) > 1 else ""))
        print(f"  {name:<66}" + "".join(f" {c:>28}" for c in cells))
    rows = {
        "req/s": lambda r: r.requests / r.seconds,
        "errors": lambda r: sum(r.errors.values()),
        "peak RSS MB": lambda r: r.peak_mb,
        "server CPU ms per request": lambda r: r.server_cpu_s / max(r.requests, 1) * 1000,
    }
    for label, value in rows.items():
        cells = []
        for cycles in results.values():
            values = [value(r) for r in cycles]
            shown = max(values) if label == "errors" else statistics.median(values)  # errors: the worst cycle
            cells.append(f"{shown:.0f}" if label in ("errors", "peak RSS MB") else f"{shown:.1f}")
        print(f"  {label:<66}" + "".join(f" {c:>28}" for c in cells))


if __name__ == "__main__":
    main()
