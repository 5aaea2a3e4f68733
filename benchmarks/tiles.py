"""Vector tile latency of the buildings layer at z14–z17 on the generator's district, gridmap next to tipg serving the
same table in the same run, in a scratch PostGIS database (``gridmap_bench_tiles``, dropped at the end).

Servers, each a uvicorn process on loopback against the same database:

- gridmap **uncached** (``GRIDMAP_TILE_CACHE_MB=0``): every tile made by PostGIS (the cold case, cache cleared);
- gridmap **cached**: a first pass makes and keeps the tiles (its times printed as "first visit"), then warm passes;
- **tipg** (``pip install -e '.[bench]'``; ``uvicorn tipg.main:app``, env ``DATABASE_URL``/``TIPG_DB_TABLES``) with
  the same attributes (``properties=``), the same buffer (64 of 4096) and the same table. tipg leaves PostgreSQL's
  JIT on (it compiles a large tile's statement for 20-36 ms); gridmap turns it off for its tile statement.

gridmap is asked as a signed-in planner (bearer token: each request also checks the token and the account); tipg has
no sign-in. One client, requests one after another over a kept-alive connection, each tile of a fixed random choice
(seed 13) of the tiles holding buildings, up to ``--per-zoom`` per zoom level; one untimed pass through each server
first so that PostgreSQL's buffers are as warm for both. Printed: p50 / p95 per server and zoom, and the ratio
tipg / gridmap (above 1: gridmap is faster). Aim: p95 < 30 ms and ahead of tipg.

    python benchmarks/tiles.py [--scale 34] [--per-zoom 50] [--rounds 3]
"""

import argparse
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from api.accounts.roles import parse_scope  # noqa: E402
from api.accounts.users import put_user  # noqa: E402
from api.settings import Settings  # noqa: E402
from api.storage import SYSTEM, connect, database  # noqa: E402
from api.storage.imports import load_sample  # noqa: E402
from benchmarks._harness import HOST, free_port, quantile, start_server, stop_server  # noqa: E402
from gis.sample import DISTRICT_SCALE, generate_sample  # noqa: E402

PASSWORD = "a password for the benchmark only"
ID_HASH_KEY = b"the benchmark's own key: its residents are fictional"  # a scratch database; no file kept
ZOOMS = (14, 15, 16, 17)
PROPERTIES = "kind,name,floors,households,grid_id,compound_id,source"  # what gridmap's buildings tiles carry


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def pick_tiles(centroids: list[tuple[float, float]], per_zoom: int) -> list[tuple[int, int, int]]:
    """Up to `per_zoom` tiles per zoom level among those holding a building's centroid (seeded, sorted)."""
    rng = random.Random(13)
    tiles = []
    for z in ZOOMS:
        holding = sorted({tile_of(lon, lat, z) for lon, lat in centroids})
        tiles += [(z, x, y) for x, y in sorted(rng.sample(holding, min(per_zoom, len(holding))))]
    return tiles


def start_tipg(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_DB_TABLES": '["public.buildings"]',
        "TIPG_TILE_BUFFER": "64",
        "TIPG_CATALOG_TTL": "0",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tipg.main:app",
            "--host",
            HOST,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/collections", timeout=10).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"tipg exited with {proc.returncode} (pip install -e '.[bench]')")
        time.sleep(0.3)
    proc.kill()
    raise SystemExit("tipg did not answer /collections within 120 s")


def timed(client: httpx.Client, urls: list[str], headers: dict, ok: tuple[int, ...]) -> list[float]:
    times = []
    for url in urls:
        start = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append(time.perf_counter() - start)
        if response.status_code not in ok:
            raise SystemExit(f"{url}: {response.status_code} {response.text[:200]}")
    return times


def sign_in(base: str) -> dict:
    issued = httpx.post(f"{base}/auth/token", data={"username": "bench-planner", "password": PASSWORD}, timeout=30)
    issued.raise_for_status()
    return {"Authorization": f"Bearer {issued.json()['access_token']}"}


def by_zoom(tiles: list[tuple[int, int, int]], times: list[float]) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {z: [] for z in ZOOMS}
    for (z, _, _), t in zip(tiles * (len(times) // len(tiles)), times, strict=True):
        out[z].append(t * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=DISTRICT_SCALE)
    parser.add_argument("--per-zoom", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    url = make_url(Settings().database_url).set(database="gridmap_bench_tiles").render_as_string(hide_password=False)
    database.drop_database(url)
    database.init_database(url)
    owner = database.make_engine(url)
    servers: list[subprocess.Popen] = []
    try:
        start = time.perf_counter()
        area = generate_sample(scale=args.scale)
        load_sample(owner, area, id_hash_key=ID_HASH_KEY, history=False)  # the buildings are what is drawn
        loaded = time.perf_counter() - start
        print(f"sample scale {args.scale:g}: {len(area.buildings)} buildings, loaded in {loaded:.0f} s")
        del area
        with connect(owner, scope=SYSTEM) as conn:
            street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
            centroids = [
                tuple(r)
                for r in conn.execute(
                    text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM buildings) b")
                )
            ]
        put_user(owner, "bench-planner", role="planner", scopes=[parse_scope(f"street:{street}")], password=PASSWORD)
        tiles = pick_tiles(centroids, args.per_zoom)
        print(f"{len(tiles)} tiles ({args.per_zoom} per zoom at most), {args.rounds} timed rounds each\n")
        gridmap_paths = [f"/tiles/buildings/{z}/{x}/{y}.pbf" for z, x, y in tiles]
        tipg_paths = [
            f"/collections/public.buildings/tiles/WebMercatorQuad/{z}/{x}/{y}?properties={PROPERTIES}"
            for z, x, y in tiles
        ]

        os.environ["GRIDMAP_TILE_CACHE_MB"] = "0"
        uncached, uncached_base = start_server(ROOT, url, "none")
        servers.append(uncached)
        os.environ["GRIDMAP_TILE_CACHE_MB"] = "256"
        cached, cached_base = start_server(ROOT, url, "none")
        servers.append(cached)
        tipg, tipg_base = start_tipg(url)
        servers.append(tipg)
        print("  tipg:", tipg_base)

        results: dict[str, dict[int, list[float]]] = {}
        with (
            httpx.Client(base_url=uncached_base, timeout=60) as c1,
            httpx.Client(base_url=cached_base, timeout=60) as c2,
            httpx.Client(base_url=tipg_base, timeout=60) as c3,
        ):
            h1, h2 = sign_in(uncached_base), sign_in(cached_base)
            timed(c1, gridmap_paths, h1, (200, 204))  # untimed: warms PostgreSQL and the pools
            timed(c3, tipg_paths, {}, (200, 204))
            results["gridmap first visit (cache miss)"] = by_zoom(tiles, timed(c2, gridmap_paths, h2, (200, 204)))
            cold, warm, peer = [], [], []
            for _ in range(args.rounds):  # interleaved, so that a noisy neighbour hits all alike
                cold += timed(c1, gridmap_paths, h1, (200, 204))
                warm += timed(c2, gridmap_paths, h2, (200, 204))
                peer += timed(c3, tipg_paths, {}, (200, 204))
            results["gridmap uncached (cold)"] = by_zoom(tiles, cold)
            results["gridmap cached (warm)"] = by_zoom(tiles, warm)
            results["tipg"] = by_zoom(tiles, peer)
            sizes = [len(c1.get(p, headers=h1).content) for p in gridmap_paths]
            peer_sizes = [len(c3.get(p).content) for p in tipg_paths]

        print(f"\n  {'server':<34} {'zoom':>4} {'n':>5} {'p50 ms':>8} {'p95 ms':>8}")
        for name, zooms in results.items():
            for z in ZOOMS:
                print(
                    f"  {name:<34} {z:>4} {len(zooms[z]):5d} {quantile(zooms[z], 0.5):8.1f} "
                    f"{quantile(zooms[z], 0.95):8.1f}"
                )
            every = [t for ts in zooms.values() for t in ts]
            print(f"  {name:<34} {'all':>4} {len(every):5d} {quantile(every, 0.5):8.1f} {quantile(every, 0.95):8.1f}")
        mean, peer_mean = sum(sizes) / len(sizes), sum(peer_sizes) / len(peer_sizes)
        print(
            f"\n  tile bytes: gridmap {mean:,.0f} mean, tipg {peer_mean:,.0f}"
            " mean (tipg's holds the same attributes; gridmap's feature ids are the rows' ids)"
        )
        print("\n  ratio tipg / gridmap (above 1: gridmap faster)")
        peer_all = [t for ts in results["tipg"].values() for t in ts]
        for name in ("gridmap uncached (cold)", "gridmap cached (warm)"):
            mine = [t for ts in results[name].values() for t in ts]
            print(
                f"  {name:<34} p50 {quantile(peer_all, 0.5) / quantile(mine, 0.5):5.2f}  "
                f"p95 {quantile(peer_all, 0.95) / quantile(mine, 0.95):5.2f}"
            )
    finally:
        for proc in servers:
            stop_server(proc)
        owner.dispose()
        database.drop_database(url)


if __name__ == "__main__":
    main()
