"""The API under load on the sample street: concurrent clients mixing coverage statistics and map pages, over
loopback only (127.0.0.1), for a bounded time, against a server started here (uvicorn, one process, a free port)
and a scratch PostGIS database (``gridmap_bench_load``, dropped at the end unless ``--keep-db``).

Each client loops until the time is up, by default without pause (a closed loop, as the review measured: latency =
clients / throughput; ``--think-ms`` adds a random pause), picking at random (seeded) ``/coverage/stats?by=grid``,
``/maps/overview`` or ``/maps/coverage?service_type=elderly_care&profile=elderly`` (50 / 40 / 10 % by default).
Map requests behave like browsers: a client that holds a page's ETag revalidates with If-None-Match on
``--revalidate`` of its map requests and loads the page afresh otherwise. Printed per endpoint and status: count,
p50/p95/p99/max, errors; in all: requests per second, CPU time of the server and of the clients (they share the
machine), and the server's resident memory before, at its peak (VmHWM) and after each round.

Peer: the same load on another checkout (``--app-dir DIR``, repeatable; e.g. a git worktree of the previous
commit), each started in turn on the same database, machine and settings; the table at the end sets them side by
side. The server imports the code of its own directory (checked: it prints ``api.__file__``), not the editable
install of this one.

    python benchmarks/load.py [--seconds 30] [--clients 20] [--app-dir /tmp/gridmap-before --app-dir .]
"""

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.engine import make_url  # noqa: E402

from api.coverage_state import refresh  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.storage import database  # noqa: E402
from api.storage.imports import load_sample  # noqa: E402
from gis.sample import generate_sample  # noqa: E402

ID_HASH_KEY = b"the benchmark's own key: its residents are fictional"  # a scratch database; no file kept

HOST = "127.0.0.1"  # loopback only, never a flag
DATABASE = "gridmap_bench_load"
STATS = "/coverage/stats?by=grid"
OVERVIEW = "/maps/overview"
COVERAGE = "/maps/coverage?service_type=elderly_care&profile=elderly"
ENDPOINTS = (STATS, OVERVIEW, COVERAGE)
# The server runs the code of its own directory: that directory first on sys.path, checked before serving.
SERVER_CODE = """
import os, sys
app_dir = os.path.abspath(sys.argv[1])
sys.path.insert(0, app_dir)
import api
where = os.path.dirname(os.path.dirname(os.path.abspath(api.__file__)))
assert where == app_dir, f"api imported from {where}, not {app_dir}"
print("server code:", api.__file__, flush=True)
import uvicorn
uvicorn.run("api.main:create_app", factory=True, host=sys.argv[2], port=int(sys.argv[3]), log_level="warning",
            access_log=False)
"""


@dataclass
class Round:
    label: str
    seconds: float = 0.0
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rss_start_mb: float = float("nan")
    rss_end_mb: float = float("nan")
    peak_mb: float = float("nan")
    server_cpu_s: float = float("nan")
    client_cpu_s: float = float("nan")

    @property
    def requests(self) -> int:
        return sum(len(t) for t in self.times.values()) + sum(self.errors.values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def proc_mb(pid: int, key: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/PID/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def prepare_database(url: str) -> None:
    database.drop_database(url)
    database.init_database(url)
    engine = database.make_engine(url)
    try:
        area = generate_sample()
        load_sample(engine, area, id_hash_key=ID_HASH_KEY)
        run, _ = refresh(engine, Settings(database_url=url))
        print(
            f"sample street: {len(area.buildings)} buildings, {len(area.households)} households, "
            f"{len(area.service_points)} service points; coverage stored ({run['counts']['rows']} rows)"
        )
    finally:
        engine.dispose()


def start_server(app_dir: Path, url: str, tiles: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url, "GRIDMAP_TILES": tiles, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_CODE, str(app_dir), HOST, str(port)],
        cwd=app_dir,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("server code:"):
        proc.kill()
        raise SystemExit(f"the server in {app_dir} did not start: {line!r}")
    print(f"  {line}")
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=5).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"the server in {app_dir} exited with {proc.returncode}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server in {app_dir} did not answer /health within 60 s")


def client_loop(base: str, number: int, args, deadline: float, result: Round, lock: threading.Lock) -> None:
    rng = random.Random(number)
    etags: dict[str, str] = {}
    weights = (args.stats_share, 1 - args.stats_share - args.coverage_share, args.coverage_share)
    with httpx.Client(base_url=base, timeout=120) as client:
        while time.monotonic() < deadline:
            path = rng.choices(ENDPOINTS, weights)[0]
            headers = {}
            if path != STATS and path in etags and rng.random() < args.revalidate:
                headers["If-None-Match"] = etags[path]
            start = time.perf_counter()
            try:
                response = client.get(path, headers=headers)
                elapsed = time.perf_counter() - start
            except httpx.HTTPError as exc:
                with lock:
                    result.errors[f"{path} {type(exc).__name__}"] += 1
                continue
            if response.status_code not in (200, 304):
                with lock:
                    result.errors[f"{path} {response.status_code}"] += 1
                continue
            if "etag" in response.headers:
                etags[path] = response.headers["etag"]
            with lock:
                result.times[f"{path} {response.status_code}"].append(elapsed)
            if args.think_ms:  # a person reading the page: uniform, mean --think-ms
                time.sleep(rng.uniform(0, 2 * args.think_ms) / 1000)


def load_round(base: str, pid: int, args, label: str) -> Round:
    result, lock = Round(label), threading.Lock()
    result.rss_start_mb = proc_mb(pid, "VmRSS")
    server_cpu, client_cpu = cpu_seconds(pid), time.process_time()
    start = time.monotonic()
    deadline = start + args.seconds
    threads = [
        threading.Thread(target=client_loop, args=(base, i, args, deadline, result, lock), daemon=True)
        for i in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=args.seconds + 180)  # bounded: a request in flight at the deadline may finish
    result.seconds = time.monotonic() - start
    result.server_cpu_s, result.client_cpu_s = cpu_seconds(pid) - server_cpu, time.process_time() - client_cpu
    result.rss_end_mb = proc_mb(pid, "VmRSS")
    result.peak_mb = proc_mb(pid, "VmHWM")
    return result


def print_round(r: Round) -> None:
    print(
        f"  {r.label}: {r.requests} requests in {r.seconds:.1f} s = {r.requests / r.seconds:.1f} req/s; "
        f"server RSS {r.rss_start_mb:.0f} MB before, peak {r.peak_mb:.0f} MB, {r.rss_end_mb:.0f} MB after"
    )
    print(
        f"    CPU: server {r.server_cpu_s:.1f} s ({r.server_cpu_s / max(r.requests, 1) * 1000:.1f} ms per request), "
        f"these clients {r.client_cpu_s:.1f} s, of {r.seconds * (os.cpu_count() or 1):.0f} CPU-s"
    )
    print(f"    {'endpoint':<66} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name in sorted(r.times):
        t = [x * 1000 for x in r.times[name]]
        print(
            f"    {name:<66} {len(t):5d} {quantile(t, 0.5):8.1f} {quantile(t, 0.95):8.1f} "
            f"{quantile(t, 0.99):8.1f} {max(t):8.1f}"
        )
    for name, n in sorted(r.errors.items()):
        print(f"    error {name}: {n}")
    if not r.errors:
        print("    errors: 0")


def run_app(app_dir: Path, url: str, args) -> list[Round]:
    print(f"{app_dir}:")
    proc, base = start_server(app_dir, url, args.tiles)
    try:
        # The planner's in-memory coverage is built on first use (as after any restart); not timed.
        httpx.get(base + STATS, timeout=300).raise_for_status()
        rounds = []
        for i in range(args.rounds):
            rounds.append(load_round(base, proc.pid, args, f"round {i + 1}"))
            print_round(rounds[-1])
        return rounds
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="length of one round (bounded)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1, help="rounds against the same server (memory over time)")
    parser.add_argument("--stats-share", type=float, default=0.5, help="share of statistics requests")
    parser.add_argument("--coverage-share", type=float, default=0.1, help="share of planner map requests")
    parser.add_argument("--revalidate", type=float, default=0.5, help="share of map requests with If-None-Match")
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean pause between a client's requests")
    parser.add_argument("--tiles", default="openstreetmap", help="GRIDMAP_TILES of the server")
    parser.add_argument("--app-dir", type=Path, action="append", help="checkout to serve (repeatable; default: this)")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if not 0 < args.seconds <= 600 or not 0 < args.clients <= 200:
        raise SystemExit("--seconds must be in (0, 600] and --clients in (0, 200]")
    if not (0 <= args.stats_share and 0 <= args.coverage_share and args.stats_share + args.coverage_share <= 1):
        raise SystemExit("--stats-share and --coverage-share must be shares that add up to at most 1")
    app_dirs = [d.resolve() for d in (args.app_dir or [ROOT])]

    url = make_url(Settings().database_url).set(database=DATABASE).render_as_string(hide_password=False)
    prepare_database(url)
    print(
        f"{args.clients} clients for {args.seconds:g} s per round; of requests {args.stats_share:.0%} statistics, "
        f"{1 - args.stats_share - args.coverage_share:.0%} overview map, {args.coverage_share:.0%} planner map; "
        f"If-None-Match on {args.revalidate:.0%} of map requests that hold an ETag; pause {args.think_ms:g} ms; "
        f"{os.cpu_count()} CPUs"
    )
    try:
        results = {app_dir: run_app(app_dir, url, args) for app_dir in app_dirs}
    finally:
        if not args.keep_db:
            database.drop_database(url)
    if len(results) < 2:
        return
    print("\nside by side (last round; p50 / p95 / p99 ms):")
    last = {app_dir: rounds[-1] for app_dir, rounds in results.items()}
    names = sorted({name for r in last.values() for name in r.times})
    print(f"  {'endpoint':<66}" + "".join(f" {str(d)[-28:]:>28}" for d in last))
    for name in names:
        cells = []
        for r in last.values():
            t = [x * 1000 for x in r.times.get(name, [])]
            cells.append(f"{quantile(t, 0.5):.0f} / {quantile(t, 0.95):.0f} / {quantile(t, 0.99):.0f}" if t else "-")
        print(f"  {name:<66}" + "".join(f" {c:>28}" for c in cells))
    rows = {
        "req/s": lambda r: f"{r.requests / r.seconds:.1f}",
        "errors": lambda r: str(sum(r.errors.values())),
        "peak RSS MB": lambda r: f"{r.peak_mb:.0f}",
        "server CPU ms per request": lambda r: f"{r.server_cpu_s / max(r.requests, 1) * 1000:.1f}",
    }
    for label, cell in rows.items():
        print(f"  {label:<66}" + "".join(f" {cell(r):>28}" for r in last.values()))


if __name__ == "__main__":
    main()
