"""Coverage speed and memory (docs/design.md §5.3) with peers measured in the same run on the same data.

On the generator's district scale: walk-graph build; full coverage of every building × service type × 2 walking
profiles × 3 levels; a scenario (add / move / remove one point) with updated grid statistics (patched from the
kept report by `gis.coverage.scenario.updated_report`; the from-scratch table + gap_report is printed beside it);
one service-circle polygon; greedy top-10 siting; an exact MILP on a modest candidate set; peak RSS. Peers:

(a) the per-origin method most 15-minute-city scripts use: networkx ``single_source_dijkstra_path_length`` with a
    cutoff from every service point (snapped to the nearest *node* by KD-tree, as those scripts do), each building
    (also node-snapped) assigned to the nearest reached point;
(b) pgRouting ``pgr_drivingDistance`` (equicost: nearest-start catchment) on the same edges in a scratch PostGIS
    database (``gridmap_bench_cov``, dropped at the end).

Ratios are peer time / ours. Agreement (covered shares) between the peers and ours is printed too.

    python benchmarks/service_circles.py [--scale 34] [--quick] [--nx-max-points 500] [--repeat 3] [--no-peers]
"""

import argparse
import io
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DESIGN_TYPES = ("party_center", "clinic", "elderly_care", "kindergarten", "market", "school")  # design.md §5: 6 types
BUDGET_M = 15 * 60 * 1.2  # the largest level: 15 min at the standard 1.2 m/s = 1080 m


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best(fn, n):
    """Result of the last call, best and median time over `n` calls."""
    times, out = [], None
    for _ in range(max(1, n)):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return out, min(times), float(np.median(times))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=None, help="generator scale (default DISTRICT_SCALE)")
    parser.add_argument("--quick", action="store_true", help="one repeat, smaller MILP and networkx subset")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--nx-max-points",
        type=int,
        default=None,
        help="networkx peer: at most this many service points per type (the rest extrapolated); default all "
        "(--quick: 100)",
    )
    parser.add_argument("--milp-candidates", type=int, default=None, help="default 1000 (--quick: 300)")
    parser.add_argument("--no-pgrouting", action="store_true")
    parser.add_argument("--no-peers", action="store_true", help="skip both peers (networkx and pgRouting): ours only")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    nx_max = args.nx_max_points if args.nx_max_points is not None else (100 if args.quick else 10**9)
    milp_n = args.milp_candidates or (300 if args.quick else 1000)

    import pandas as pd
    import shapely
    from scipy.spatial import cKDTree

    from gis.coverage import (
        LEVELS,
        PROFILES,
        add_service,
        coverage,
        drawn_edges,
        exact_sites,
        gap_report,
        greedy_sites,
        move_service,
        population,
        reach_matrix,
        remove_service,
        service_circle,
        suggest_sites,
        updated_report,
    )
    from gis.coverage import run as coverage_run
    from gis.network import access_points, snap_points
    from gis.sample import DISTRICT_SCALE, generate_sample

    scale = args.scale or DISTRICT_SCALE
    start = time.perf_counter()
    a = generate_sample(scale=scale)
    print(
        f"inputs (generate_sample scale={scale:g}, {time.perf_counter() - start:.1f} s): "
        f"{len(a.walk_nodes)} walk nodes, "
        f"{len(a.walk_edges)} walk edges, {len(a.buildings)} buildings, {len(a.households)} households, "
        f"{len(a.service_points)} service points; RSS {rss_mb():.0f} MB"
    )
    input_rss = rss_mb()

    # ---------------------------------------------------------------- ours
    sp = a.service_points
    types = list(sp["type"].value_counts().sort_index().index)
    counts = sp["type"].value_counts().to_dict()
    print("service points per type:", {t: counts[t] for t in types})
    step_times: dict[str, list[float]] = {}

    def timed(name, fn, *args, **kwargs):
        """gis.coverage.run's step hook: each named step's time."""
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        step_times.setdefault(name, []).append(time.perf_counter() - t0)
        return out

    # the pipeline every caller runs (file CLI, stored refresh): walk graph, then coverage with snapping
    cov, tb, tm = best(
        lambda: coverage_run(a.walk_nodes, a.walk_edges, a.buildings, sp, service_types=types, step=timed), repeat
    )
    g = cov.graph
    t_graph, ours_incl_snap = min(step_times["build_walk_graph"]), min(step_times["coverage (snapping included)"])
    print(f"gis.coverage.run: {tb:.3f} s (median {tm:.3f}), of which")
    print(f"  graph build: {t_graph:.3f} s; {g.n_nodes} nodes, csr nnz {g.csr.nnz}")
    print(f"  coverage incl. snapping {len(a.buildings)} buildings + {len(sp)} points: {ours_incl_snap:.3f} s")
    acc = cov.access

    def full():
        c = coverage(g, a.buildings, sp, service_types=types, access=acc)
        return c, c.table()

    (cov, table), tb, tm = best(full, repeat)
    ours_full = tb
    print(
        f"FULL COVERAGE ({len(a.buildings)} buildings x {len(types)} types x {len(PROFILES)} profiles x "
        f"{len(LEVELS)} levels, building access cached -> table {table.shape}): {tb:.3f} s (median {tm:.3f})  "
        f"[target < 1 s]"
    )
    _, tb, tm = best(lambda: coverage(g, a.buildings, sp, service_types=types, access=acc), repeat)
    print(
        f"  of which the {len(types)} multi-source passes: {tb:.3f} s (median {tm:.3f}); the table: "
        f"{best(lambda: cov.table(), repeat)[1]:.3f} s"
    )
    six = [t for t in DESIGN_TYPES if t in types]
    if len(six) < len(types):

        def full6():
            c = coverage(g, a.buildings, sp, service_types=six, access=acc)
            return c.table()

        t6, tb, tm = best(full6, repeat)
        print(
            f"  the {len(six)} types of design.md ({', '.join(six)}; {int(sp['type'].isin(six).sum())} points) -> "
            f"table {t6.shape}: {tb:.3f} s (median {tm:.3f})  [target < 1 s]"
        )
    b = population(a.buildings, a.households)

    # scenario: add / move / remove one clinic, then the type's statistics per grid
    kind = "clinic" if "clinic" in cov.fields else types[0]
    rng = np.random.default_rng(0)
    n_sc = 20
    pick = rng.choice(len(a.buildings), n_sc, replace=False)
    pts = list(a.buildings.geometry.iloc[pick].representative_point())
    ids = cov.fields[kind].service_ids
    report = gap_report(cov.table([kind]), b, by="grid_ref")  # the current statistics, kept like the coverage

    def scenario(action: str, base, i: int, p):
        if action == "add":
            return add_service(base, service_id=f"bench-new-{i}", service_type=kind, point=p)
        if action == "remove":
            return remove_service(base, service_id=ids[(i + 7) % len(ids)])
        return move_service(base, service_id=ids[i % len(ids)], point=p)

    sc_times = {k: [] for k in ("add", "move", "remove", "fresh", "cold")}
    for i, p in enumerate(pts):
        for action in ("add", "move", "remove"):
            t0 = time.perf_counter()
            updated_report(report, cov, scenario(action, cov, i, p), b, service_types=[kind], by="grid_ref")
            sc_times[action].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        gap_report(scenario("move", cov, i, p).table([kind]), b, by="grid_ref")
        sc_times["fresh"].append(time.perf_counter() - t0)
        cold = replace(cov)  # keeps no walks: the type's walk is computed afresh, before and after
        t0 = time.perf_counter()
        updated_report(report, cold, scenario("move", cold, i, p), b, service_types=[kind], by="grid_ref")
        sc_times["cold"].append(time.perf_counter() - t0)

    def summary(key: str) -> str:
        return f"median {ms(np.median(sc_times[key]))} (p95 {ms(np.percentile(sc_times[key], 95))})"

    print(
        f"scenario + updated grid statistics for '{kind}' ({n_sc} points; incremental: the removed point's cell, a "
        f"bounded search from the new place, the changed buildings' rows of the gap report): add {summary('add')}, "
        f"move {summary('move')}, remove {summary('remove')}  [target < 100 ms]"
    )
    print(
        f"  move with the statistics redone from scratch (table + gap_report over all buildings): {summary('fresh')}; "
        f"move on a coverage that kept no walks: {summary('cold')}"
    )

    # one service-circle polygon
    sub = sp[sp["type"] == kind].iloc[:20]
    snapped = snap_points(g, sub)
    origins = g.to_metric(sub)
    t0 = time.perf_counter()
    drawn_edges(g)
    first = time.perf_counter() - t0
    times = []
    for i in range(len(sub)):
        t0 = time.perf_counter()
        service_circle(g, snapped=snapped.iloc[i], origin=origins[i], budget_m=BUDGET_M)
        times.append(time.perf_counter() - t0)
    print(
        f"one service-circle polygon ({BUDGET_M:.0f} m, {len(sub)} points): median {ms(np.median(times))}, "
        f"p95 {ms(np.percentile(times, 95))}  [target <= 50 ms; one-off drawn-edge mask {ms(first)}]"
    )

    # siting
    n_cand = min(5000, len(a.walk_nodes))
    cand_nodes = a.walk_nodes.iloc[rng.choice(len(a.walk_nodes), n_cand, replace=False)]
    res, tb, tm = best(
        lambda: suggest_sites(cov, cand_nodes, service_type=kind, buildings=b, profile="elderly", level=10, k=10),
        repeat,
    )
    print(
        f"greedy top-10 siting '{kind}', elderly 10 min, {n_cand} road-node candidates (snap + reach matrix + greedy): "
        f"{tb:.3f} s (median {tm:.3f}), gain {res['gain'].sum():.0f} residents  [target < 2 s]"
    )
    walk, _ = cov.walk(kind)
    max_m = 10 * 60 * PROFILES["elderly"]
    unc = ~(walk <= max_m)
    cand = snap_points(g, cand_nodes)
    acc_unc = cov.access[unc[cov.access["building"].to_numpy()]]
    M = reach_matrix(
        g, cand, acc_unc.assign(unit=acc_unc["building"].to_numpy()), max_m=max_m, n_units=len(cov.building_ids)
    )
    w = np.where(unc, b.set_index("source_id").loc[cov.building_ids, "residents"].to_numpy(float), 0)
    milp_n = min(milp_n, M.shape[0])
    subm = M[:milp_n]
    t0 = time.perf_counter()
    ex = exact_sites(subm, w, k=10, time_limit=120)
    t_milp = time.perf_counter() - t0
    print(
        f"exact MILP (HiGHS) k=10 over {milp_n} candidates: {t_milp:.2f} s, status {ex.attrs['status']}, objective "
        f"{ex.attrs['objective']:.0f} vs greedy {greedy_sites(subm, w, k=10)['gain'].sum():.0f}"
    )
    ours_peak = peak_mb()
    print(f"peak RSS after our part: {ours_peak:.0f} MB (inputs alone {input_rss:.0f} MB)  [target < 2 GB]")

    if args.no_peers:
        return

    # ---------------------------------------------------------------- shared inputs of the peers: node snapping
    t0 = time.perf_counter()
    tree = cKDTree(g.node_xy)
    bxy = shapely.get_coordinates(g.to_metric(access_points(a.buildings)))
    _, b_node = tree.query(bxy)
    svc_node = {}
    for t in types:
        _, svc_node[t] = tree.query(shapely.get_coordinates(g.to_metric(sp[sp["type"] == t])))
    t_nodesnap = time.perf_counter() - t0
    print(f"\npeers: KD-tree nearest-node snapping of buildings and points: {t_nodesnap:.3f} s")
    ours_walk = {t: cov.walk(t)[0] for t in types}

    def agreement(label: str, node_d: dict) -> None:
        """Covered share of buildings (building node's distance, no snap added) vs ours, per profile × level."""
        parts, flips = [], []
        for profile, speed in PROFILES.items():
            for level in LEVELS:
                lim = level * 60 * speed
                if lim > BUDGET_M + 1e-9:
                    continue
                mine = np.mean([np.mean(ours_walk[t] <= lim) for t in node_d])
                theirs = np.mean([np.mean(node_d[t][b_node] <= lim) for t in node_d])
                flip = np.mean([np.mean((ours_walk[t] <= lim) != (node_d[t][b_node] <= lim)) for t in node_d])
                parts.append(f"{profile[:3]}{level:g} {mine:.3f}/{theirs:.3f}")
                flips.append(flip)
        print(
            f"  agreement {label} ({len(node_d)} types; covered share of buildings ours/peer): "
            + ", ".join(parts)
            + f"; buildings whose covered flag differs: mean {np.mean(flips):.2%}, max {np.max(flips):.2%} "
            "(peer snaps to the nearest node and adds no snap distance; ours snaps onto the segment)"
        )

    # ---------------------------------------------------------------- peer (a): networkx per origin
    import networkx as nx
    from scipy.sparse import triu

    t0 = time.perf_counter()
    up = triu(g.csr).tocoo()
    G = nx.Graph()
    G.add_nodes_from(range(g.n_nodes))
    G.add_weighted_edges_from(zip(up.row.tolist(), up.col.tolist(), up.data.tolist(), strict=True), weight="length")
    t_nxbuild = time.perf_counter() - t0
    print(f"(a) networkx graph build: {t_nxbuild:.2f} s ({G.number_of_nodes()} nodes, {G.number_of_edges()} edges)")
    nx_total, nx_measured, nx_points_run, nx_points_all = 0.0, 0.0, 0, 0
    nx_dist, subset_types = {}, []
    for t in types:
        srcs = svc_node[t]
        run = srcs[:nx_max]
        dist = np.full(g.n_nodes, np.inf)
        t0 = time.perf_counter()
        for s in run:  # bounded: one search per listed point
            reached = nx.single_source_dijkstra_path_length(G, int(s), cutoff=BUDGET_M, weight="length")
            nodes = np.fromiter(reached.keys(), dtype=np.int64, count=len(reached))
            d = np.fromiter(reached.values(), dtype=float, count=len(reached))
            np.minimum.at(dist, nodes, d)
        covered_b = dist[b_node] <= BUDGET_M  # assignment of each building to its nearest reached point
        elapsed = time.perf_counter() - t0
        nx_measured += elapsed
        nx_total += elapsed * len(srcs) / max(1, len(run))
        nx_points_run += len(run)
        nx_points_all += len(srcs)
        if len(run) < len(srcs):
            subset_types.append(t)
        else:
            nx_dist[t] = dist
        _ = covered_b
    sub_note = (
        f"SUBSET: {nx_points_run} of {nx_points_all} points run (types {', '.join(subset_types)} at "
        f"{nx_max} points each), time for all points EXTRAPOLATED linearly from {nx_measured:.1f} s measured"
        if subset_types
        else f"all {nx_points_all} points run"
    )
    print(
        f"(a) networkx single_source_dijkstra_path_length(cutoff={BUDGET_M:.0f} m) per point + nearest-point "
        f"assignment, {len(types)} types: {nx_total:.2f} s ({sub_note}); "
        f"{nx_total / max(1, nx_points_all) * 1000:.1f} ms per point"
    )
    print(
        f"    ratio networkx / ours (full coverage, access cached): {nx_total / ours_full:.0f}x; "
        f"incl. their graph build and KD-tree snapping vs ours incl. graph build and segment snapping: "
        f"{(nx_total + t_nxbuild + t_nodesnap) / (ours_incl_snap + t_graph):.0f}x"
    )
    if nx_dist:
        agreement("networkx (types run in full)", nx_dist)
    del G

    # ---------------------------------------------------------------- peer (b): pgRouting
    if args.no_pgrouting:
        print(f"\npeak RSS end: {peak_mb():.0f} MB")
        return
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from api.settings import Settings
    from api.storage import database

    url = make_url(Settings().database_url).set(database="gridmap_bench_cov")
    url_text = url.render_as_string(hide_password=False)
    database.drop_database(url_text)
    database.create_database(url_text)
    engine = None
    try:
        versions = database.create_extensions(url_text)
        engine = database.make_engine(url_text)
        t0 = time.perf_counter()
        buf = io.StringIO()
        # the raw walk edges (parallels included: pgRouting keeps the cheapest), ids 1-based
        frame = pd.DataFrame(
            {
                "id": np.arange(1, g.n_edges + 1),
                "source": g.edge_u + 1,
                "target": g.edge_v + 1,
                "cost": g.edge_length,
                "reverse_cost": g.edge_length,
            }
        )
        frame.to_csv(buf, index=False, header=False)
        buf.seek(0)
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(
                "CREATE TABLE bench_edges (id bigint PRIMARY KEY, source bigint, target bigint, "
                "cost double precision, reverse_cost double precision)"
            )
            cur.copy_expert("COPY bench_edges FROM STDIN WITH (FORMAT csv)", buf)
            cur.execute("ANALYZE bench_edges")
            raw.commit()
        finally:
            raw.close()
        print(
            f"\n(b) pgRouting {versions.get('pgrouting')} / PostGIS {versions.get('postgis')}: loaded {g.n_edges} "
            f"edges into bench_edges in {time.perf_counter() - t0:.2f} s"
        )
        sql = text(
            "SELECT node, agg_cost FROM pgr_drivingDistance("
            "'SELECT id, source, target, cost, reverse_cost FROM bench_edges', "
            "CAST(:starts AS bigint[]), :budget, directed => false, equicost => true)"
        )
        pg_total, pg_dist = 0.0, {}
        with engine.connect() as conn:
            t0 = time.perf_counter()  # untimed warm-up: table pages into shared buffers, function loaded
            conn.execute(sql, {"starts": [int(svc_node[types[0]][0]) + 1], "budget": 1.0}).all()
            print(f"    warm-up call (1 start, 1 m; not counted): {time.perf_counter() - t0:.2f} s")
            for t in types:
                starts = sorted({int(s) + 1 for s in svc_node[t]})
                t0 = time.perf_counter()
                rows = conn.execute(sql, {"starts": starts, "budget": BUDGET_M}).all()
                elapsed = time.perf_counter() - t0
                pg_total += elapsed
                dist = np.full(g.n_nodes, np.inf)
                if rows:
                    arr = np.asarray(rows, dtype=float)
                    np.minimum.at(dist, arr[:, 0].astype(np.int64) - 1, arr[:, 1])
                pg_dist[t] = dist
                print(f"    {t:14} {len(starts):4} start nodes: {elapsed:.2f} s, {len(rows)} rows")
        print(
            f"(b) pgr_drivingDistance(equicost, {BUDGET_M:.0f} m), {len(types)} types: {pg_total:.2f} s; "
            f"ratio pgRouting / ours (full coverage): {pg_total / ours_full:.0f}x"
        )
        agreement("pgRouting", pg_dist)
        # node-level: pgRouting and networkx start at the same nodes, so their reached sets should match exactly
        for t in nx_dist:
            a_in, b_in = np.isfinite(nx_dist[t]), np.isfinite(pg_dist[t])
            ours_in = cov.fields[t].node_dist <= BUDGET_M
            both = a_in & b_in
            signed = pg_dist[t][both] - nx_dist[t][both]
            diff = np.abs(signed)
            print(
                f"    nodes within {BUDGET_M:.0f} m of '{t}': networkx {a_in.sum()}, pgRouting {b_in.sum()} "
                f"(reached sets differ at {np.sum(a_in != b_in)}; "
                f"distance differs > 1 cm at {np.mean(diff > 0.01):.2%} of common nodes, "
                f"pgRouting longer at {np.sum(signed > 0.01)}, max {diff.max() if len(diff) else 0:.1f} m), "
                f"ours {ours_in.sum()} ({ours_in.sum() / max(1, a_in.sum()) - 1:+.2%}, ours counts the points' "
                "snap distance)"
            )
    finally:
        if engine is not None:
            engine.dispose()
        database.drop_database(url_text)
    print(f"\npeak RSS end of run (incl. the networkx peer): {peak_mb():.0f} MB; ours alone {ours_peak:.0f} MB")


if __name__ == "__main__":
    main()
