"""The server path on the generator's district, in a scratch PostGIS database (``gridmap_bench_stored``, dropped at
the end): load the sample (and, timed apart, its year of field work), compute and store coverage, read statistics,
what-if scenarios, 中心户 assignment.

Peer, measured in the same run on the same stored tables: the SQL-only way a PostGIS user would get 15-minute
coverage — pgRouting ``pgr_drivingDistance`` (equicost) from each service point's nearest walk node, and each
building's nearest walk node by KNN (``<->``) — for the same service types. Ratio = peer time / ours.

    python benchmarks/stored.py [--scale 34] [--peer-types 2]
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

from api.coverage_state import (  # noqa: E402
    CoverageCache,
    apply_changes,
    compare,
    refresh,  # noqa: E402
)
from api.settings import Settings  # noqa: E402
from api.storage import SYSTEM, connect, database, transaction  # noqa: E402
from api.storage.coverage import BUILDINGS_SQL, EDGES_SQL, NODES_SQL, SERVICES_SQL  # noqa: E402
from api.storage.coverage_stats import STATS_CACHE, gap_stats, uncovered_geojson  # noqa: E402
from api.storage.frames import read_frame  # noqa: E402
from api.storage.imports import SAMPLE_SOURCE, load_sample  # noqa: E402
from api.storage.sample_history import load_sample_history  # noqa: E402
from api.stored_centers import assign_and_store  # noqa: E402
from gis.sample import DISTRICT_SCALE, generate_sample  # noqa: E402

ID_HASH_KEY = b"the benchmark's own key: its residents are fictional"  # a scratch database; no file kept

PEER_SQL = """
WITH starts AS (
    SELECT DISTINCT (SELECT n.id FROM walk_nodes n ORDER BY n.geom <-> s.geom LIMIT 1) AS node
    FROM service_points s WHERE s.type = :type
), reached AS (
    SELECT node, agg_cost FROM pgr_drivingDistance(
        'SELECT id, source_node AS source, target_node AS target, length_m AS cost, length_m AS reverse_cost
         FROM walk_edges',
        ARRAY(SELECT node FROM starts), :budget, directed => false, equicost => true)
), nearest AS (
    SELECT b.id, (SELECT n.id FROM walk_nodes n ORDER BY n.geom <-> ST_PointOnSurface(b.geom) LIMIT 1) AS node
    FROM buildings b
)
SELECT count(*) FILTER (WHERE r.node IS NOT NULL), count(*)
FROM nearest x LEFT JOIN reached r ON r.node = x.node
"""


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def repeated(n: int, fn, *args, before=None, **kwargs) -> tuple[object, list[float]]:
    """`fn` run n times (`before` first each time, untimed): the last output and every time."""
    out, times = None, []
    for _ in range(n):
        if before is not None:
            before()
        out, t = timed(fn, *args, **kwargs)
        times.append(t)
    return out, times


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=DISTRICT_SCALE)
    parser.add_argument("--peer-types", type=int, default=2, help="service types the pgRouting peer runs")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    base = Settings()
    url = make_url(base.database_url).set(database="gridmap_bench_stored").render_as_string(hide_password=False)
    database.drop_database(url)
    database.init_database(url)
    settings = base.model_copy(update={"database_url": url})
    engine = database.make_engine(url)
    try:
        area, t = timed(generate_sample, scale=args.scale)
        print(
            f"sample scale {args.scale:g}: {len(area.buildings)} buildings, {len(area.households)} households, "
            f"{len(area.walk_edges)} walk edges, {len(area.service_points)} service points ({t:.1f} s)"
        )
        _, t = timed(load_sample, engine, area, id_hash_key=ID_HASH_KEY, history=False)
        print(f"load into PostGIS (COPY + upsert):          {t:8.2f} s")
        counts, t = timed(load_sample_history, engine, area, source=SAMPLE_SOURCE)
        print(f"+ a year of field work (generate + store):  {t:8.2f} s  ({counts['visits']} visits, "
              f"{counts['hazards']} hazards, {counts['requests']} requests)")  # fmt: skip
        del area

        (run, state), t_cold = timed(refresh, engine, settings)
        counts = run["counts"]
        print(
            f"refresh coverage, cold (read + graph + compute + store): {t_cold:8.2f} s  "
            f"[compute incl. reading {state.seconds:.2f} s, store {counts['store_seconds']:.2f} s, "
            f"{counts['rows']} rows, {len(counts['types'])} types]"
        )
        _, t_warm = timed(refresh, engine, settings)
        print(f"refresh coverage, inputs unchanged:         {t_warm * 1000:8.1f} ms")
        with transaction(engine, scope=SYSTEM) as conn:
            _, t = timed(lambda: [read_frame(conn, sql) for sql in (NODES_SQL, EDGES_SQL, BUILDINGS_SQL, SERVICES_SQL)])
            print(f"  of which reading the four input layers:   {t:8.2f} s  (read again, warm cache)")

        with connect(engine, scope=SYSTEM) as conn:
            by_grid = dict(by="grid", profiles=settings.walk_profiles, levels=settings.coverage_levels)
            stats, t = timed(gap_stats, conn, **by_grid)
            print(f"GET /coverage/stats by grid (SQL):          {t * 1000:8.1f} ms  ({len(stats)} rows)")
            _, again = repeated(args.repeat, gap_stats, conn, **by_grid)
            print(f"  same again, layers unchanged (cached):    {statistics.median(again) * 1000:8.1f} ms")
            _, cold = repeated(args.repeat, gap_stats, conn, before=STATS_CACHE.clear, **by_grid)
            print(f"  SQL each time (cache cleared), median:    {statistics.median(cold) * 1000:8.1f} ms")
            body, times = repeated(
                args.repeat,
                uncovered_geojson,
                conn,
                service_type="elderly_care",
                speed=0.8,
                budget_m=5 * 60 * 0.8,
                limit=1000,
            )
            print(
                f"GET /coverage/uncovered (SQL, 1000 rows):   {times[0] * 1000:8.1f} ms  "
                f"({body['numberMatched']} uncovered, elderly 5 min; median of {args.repeat}: "
                f"{statistics.median(times) * 1000:.1f} ms)"
            )

        cache = CoverageCache()
        (state, _), t = timed(cache.get, engine, settings)
        print(f"planner state for a new process (read + compute): {t:8.2f} s")
        points = state.services[state.services["type"] == "clinic"]
        add_times, move_times = [], []
        for i in range(args.repeat):
            anchor = state.buildings.geometry.iloc[(i * 7919) % len(state.buildings)].representative_point()
            change = {"action": "add", "service_type": "clinic", "lon": anchor.x, "lat": anchor.y}
            (after, touched), t_apply = timed(apply_changes, state, [change])
            _, t_cmp = timed(compare, state, after, touched, profile="standard", level=15)
            add_times.append(t_apply + t_cmp)
            move = {
                "action": "move",
                "service_point_id": points["source_id"].iloc[i % len(points)],
                "lon": anchor.x,
                "lat": anchor.y,
            }
            (after, touched), t_apply = timed(apply_changes, state, [move])
            _, t_cmp = timed(compare, state, after, touched, profile="standard", level=15)
            move_times.append(t_apply + t_cmp)
        print(
            f"POST /coverage/scenario add one clinic (median of {args.repeat}): "
            f"{statistics.median(add_times) * 1000:.0f} ms; move one: {statistics.median(move_times) * 1000:.0f} ms "
            "(change + before/after per grid; HTTP not included)"
        )

        (run_id, centers), t = timed(assign_and_store, engine)
        c = centers.counts
        print(
            f"POST /centers/assign, first run:           {t:8.2f} s  ({c['households']} households, "
            f"{c['centers']} centers, {c['uncovered']} uncovered, total {c['total_walk_m'] / 1000:.0f} km)"
        )
        (_, again), t = timed(assign_and_store, engine)
        print(f"POST /centers/assign, again (stable):       {t:8.2f} s  (moved {again.counts['moved']})")

        types = ["clinic", "elderly_care", "kindergarten", "market", "party_center", "school"][: args.peer_types]
        budget = max(settings.coverage_levels) * 60 * settings.walk_profiles["standard"]
        ours_per_type = t_cold / len(counts["types"])
        peer_total = 0.0
        for service_type in types:
            with connect(engine, scope=SYSTEM) as conn:
                (reached, total), t = timed(
                    lambda st=service_type: conn.execute(text(PEER_SQL), {"type": st, "budget": budget}).one()
                )
            peer_total += t
            covered_ours = sum(
                r["buildings_covered"]
                for r in stats
                if r["service_type"] == service_type and r["profile"] == "standard" and r["level"] == 15
            )
            print(
                f"peer pgr_drivingDistance + KNN, {service_type}: {t:8.2f} s  (covered {reached}/{total}; "
                f"ours {covered_ours})"
            )
        print(
            f"ratio peer / ours per service type: {peer_total / len(types) / ours_per_type:.0f}x  "
            f"(ours: the cold refresh of all {len(counts['types'])} types, read and store included, per type)"
        )
        print(f"peak RSS: {peak_mb():.0f} MB")
    finally:
        engine.dispose()
        database.drop_database(url)


if __name__ == "__main__":
    main()
