"""What the load benchmarks share: a gridmap server started from a checkout on a free loopback port, rounds of
concurrent clients with their latencies, and the server's CPU time and memory read from /proc."""

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HOST = "127.0.0.1"  # loopback only, never a flag

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
            access_log=False, workers=int(sys.argv[4]))
"""
# Every server process signs with this key, so a token from one is good in another (several --workers); a
# benchmark's own scratch key, never a deployment's.
BENCH_SECRET_KEY = "the benchmarks' signing key, for scratch databases only"


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


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (uvicorn's worker processes when there are several)."""
    children: dict[int, list[int]] = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        children[int(fields[1])].append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        here = todo.pop()
        tree.append(here)
        todo.extend(children.get(here, []))
    return tree


def proc_mb(pid: int, key: str) -> float:
    """VmRSS (now) or VmHWM (peak) of a process and its descendants together, in MB."""
    total = 0.0
    for member in process_tree(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total += sum(int(line.split()[1]) / 1024 for line in lines if line.startswith(key + ":"))
    return total or float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and its living descendants (/proc/PID/stat, fields 14, 15)."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def quantile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def start_server(app_dir: Path, url: str, tiles: str, workers: int = 1) -> tuple[subprocess.Popen, str]:
    """The server of `app_dir` on a free port with `workers` processes (uvicorn's), answering /health."""
    port = free_port()
    env = {
        **os.environ,
        "GRIDMAP_DATABASE_URL": url,
        "GRIDMAP_TILES": tiles,
        "GRIDMAP_SECRET_KEY": BENCH_SECRET_KEY,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_CODE, str(app_dir), HOST, str(port), str(workers)],
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


def load_round(
    pid: int, clients: int, seconds: float, label: str, loop: Callable[[int, float, "Round", threading.Lock], None]
) -> "Round":
    """`clients` threads running `loop(number, deadline, result, lock)` until the deadline, with the server's CPU
    time and memory around them."""
    result, lock = Round(label), threading.Lock()
    result.rss_start_mb = proc_mb(pid, "VmRSS")
    server_cpu, client_cpu = cpu_seconds(pid), time.process_time()
    start = time.monotonic()
    deadline = start + seconds
    threads = [threading.Thread(target=loop, args=(i, deadline, result, lock), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 180)  # bounded: a request in flight at the deadline may finish
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


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
