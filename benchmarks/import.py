"""Import speed: `gridmap import-osm` against osm2pgsql on the same files in the same run; generator at scale.

Prints one line per measurement and the ratio to the peer. Uses a scratch database on the server that
`make test` set up; needs osm2pgsql (Debian package; `make bench` installs it).

    python benchmarks/import.py [--repeat 3] [--district-scale N]
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.settings import Settings  # noqa: E402
from api.storage import database  # noqa: E402

SHARED_OSM = ROOT.parent / "shared" / "data" / "osm"


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed:\n{done.stderr[-2000:]}")
    return elapsed, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--district-scale", type=float, default=None)
    args = parser.parse_args()

    osm2pgsql = shutil.which("osm2pgsql")
    if osm2pgsql is None:
        raise SystemExit("osm2pgsql is not installed (apt-get install osm2pgsql, or `make bench`)")
    files = sorted(SHARED_OSM.glob("*.osm*"))
    if not files:
        raise SystemExit(f"no OSM files in {SHARED_OSM}")

    url = make_url(Settings().database_url).set(database="gridmap_bench")
    url_text = url.render_as_string(hide_password=False)
    database.drop_database(url_text)
    database.init_database(url_text)
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url_text, "PGPASSWORD": url.password or ""}
    gridmap = str(ROOT / ".venv" / "bin" / "gridmap")
    peer = [
        osm2pgsql,
        "--create",
        "--output=pgsql",
        "-d",
        "gridmap_bench_o2p",
        "-H",
        url.host or "127.0.0.1",
        "-P",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
    ]
    peer_url = url.set(database="gridmap_bench_o2p").render_as_string(hide_password=False)
    database.drop_database(peer_url)
    database.create_database(peer_url)
    database.create_extensions(peer_url)
    try:
        print(f"{'file':32} {'gridmap s':>10} {'osm2pgsql s':>12} {'ratio':>6}  gridmap's counts")
        for path in files:
            ours, peers = [], []
            counts = ""
            for _ in range(args.repeat):
                elapsed, out = timed([gridmap, "import-osm", str(path)], env)
                ours.append(elapsed)
                counts = out.strip().splitlines()[-1]
                peers.append(timed([*peer, str(path)], env)[0])
            mine, theirs = statistics.median(ours), statistics.median(peers)
            print(f"{path.name:32} {mine:10.2f} {theirs:12.2f} {mine / theirs:6.2f}  {counts}")
    finally:
        database.drop_database(url_text)
        database.drop_database(peer_url)

    from gis.sample import DISTRICT_SCALE, generate_sample

    scale = args.district_scale or DISTRICT_SCALE
    start = time.perf_counter()
    area = generate_sample(scale=scale)
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"generator scale={scale:g}: {elapsed:.1f} s, peak RSS {peak_mb:.0f} MB; "
        f"residents={int(area.households['size'].sum())} households={len(area.households)} "
        f"buildings={len(area.buildings)} walk_nodes={len(area.walk_nodes)} walk_edges={len(area.walk_edges)} "
        f"service_points={len(area.service_points)}"
    )


if __name__ == "__main__":
    main()
