"""中心户 assignment speed and quality: the exact min-cost flow against a greedy nearest-center-with-capacity baseline
on the same candidate pairs, in the same run, on the generator's district.

Pipeline: `gis.centers.run`, the one `POST /centers/assign` and `gridmap centers` use, each step timed: walk graph →
each household's door (its building's access point) → snapping (each door once) → `Access.from_snap` → `walk_pairs`
(each household's nearest centers of its grid) → `assign_centers` (exact, with all pairs for grids where the nearest
are not enough). The greedy baseline runs on the same pairs (and asks all pairs of a grid, timed, when its listed
centers are full). Prints the time of every step, the assignment total (target < 10 s) and peak RSS (target
< 2 GB, now including the walk graph, built inside the pipeline), totals, counts, and greedy/optimal ratios.
Checks (printed, not asserted): no center over capacity, no pair across grids.

    python benchmarks/centers.py [--scale 34] [--k 15] [--listed 25] [--solver auto] [--household-points]

--household-points snaps every household's own point instead (points spread over the footprint: no two households
share a walk, so nothing merges in the flow): the pipeline as it was before doors.
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gis.centers import DEFAULT_K, DEFAULT_LISTED, households_from_layers, run, walk_pairs  # noqa: E402
from gis.sample import DISTRICT_SCALE, generate_sample  # noqa: E402


def peak_mb() -> float:
    """Peak RSS since the last `reset_peak` (VmHWM), else since the process started."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (Linux ≥ 4.0), so the assignment's own peak can be read."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class Steps:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name, fn, *args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        self.seconds[name] = time.perf_counter() - start
        print(f"  {name:34} {self.seconds[name]:8.2f} s   RSS {rss_mb():6.0f} MB", flush=True)
        return out


def greedy(is_center, capacity, grid, h, c, w, all_pairs):
    """Greedy nearest-center-with-capacity, in vectorised rounds: every free household asks its nearest center of
    the pairs that still has room; each center takes its nearest askers up to its room; repeat until nobody can be
    placed. Households left while their grid still has room then ask over all pairs of their grid (`all_pairs`).

    h, c : household / center row positions of the pairs; returns (center row per row or -1, walk per row)."""
    n = len(is_center)
    room = np.where(is_center, capacity, 0).astype(np.int64)
    done = is_center.copy()
    center_of = np.where(is_center, np.arange(n), -1)
    walk = np.where(is_center, 0.0, np.nan)
    rounds: list[int] = []

    def run(h, c, w):
        grouped = len(h) < 2 or bool(((h[1:] > h[:-1]) | ((h[1:] == h[:-1]) & (w[1:] >= w[:-1]))).all())
        if not grouped:  # walk_pairs lists each household's pairs nearest first, in household order per grid
            order = np.lexsort((w, h))
            h, c, w = h[order], c[order], w[order]
        while True:
            rounds.append(len(h))
            live = ~done[h] & (room[c] > 0)
            if not live.any():
                return
            hl, cl, wl = h[live], c[live], w[live]
            first = np.r_[True, hl[1:] != hl[:-1]]  # each household's nearest center with room
            hl, cl, wl = hl[first], cl[first], wl[first]
            o = np.lexsort((wl, cl))  # each center takes its nearest askers
            hl, cl, wl = hl[o], cl[o], wl[o]
            start = np.r_[True, cl[1:] != cl[:-1]]
            rank = np.arange(len(cl)) - np.maximum.accumulate(np.where(start, np.arange(len(cl)), 0))
            take = rank < room[cl]
            done[hl[take]] = True
            center_of[hl[take]] = cl[take]
            walk[hl[take]] = wl[take]
            np.subtract.at(room, cl[take], 1)
            keep = ~done[h] & (room[c] > 0)  # drop placed households and full centers
            h, c, w = h[keep], c[keep], w[keep]

    run(h, c, w)
    spare = pd.Series(room).groupby(grid).sum()
    left = ~done & pd.notna(grid)
    redo = [g for g in pd.unique(grid[left]) if spare.get(g, 0) > 0]
    if redo:
        h2, c2, w2 = all_pairs(redo)
        run(h2, c2, w2)
    return center_of, walk, len(rounds)


def check(name, is_center, capacity, grid, center_of) -> None:
    """Print (not assert) whether any center is over capacity or any household is assigned across grids."""
    others = (center_of >= 0) & ~is_center
    load = np.bincount(center_of[others], minlength=len(is_center))
    over = int((load > np.where(is_center, capacity, 0)).sum())
    to_non_center = int((~is_center[center_of[others]]).sum())
    across = int((grid[others] != grid[center_of[others]]).sum())
    ok = over == 0 and across == 0 and to_non_center == 0
    print(
        f"  check {name:8} centers over capacity {over}, households assigned across grids {across}, "
        f"assigned to a non-center {to_non_center}, max load {int(load.max()) if len(load) else 0} -> "
        f"{'OK' if ok else 'FAILED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--scale", type=float, default=DISTRICT_SCALE, help=f"generator scale (default {DISTRICT_SCALE})"
    )
    parser.add_argument("--k", type=int, default=DEFAULT_K, help="arcs per household in the flow's first stage")
    parser.add_argument("--listed", type=int, default=DEFAULT_LISTED, help="nearest centers listed per household")
    parser.add_argument("--solver", default="auto", choices=["auto", "ortools", "scipy"])
    parser.add_argument("--household-points", action="store_true", help="snap each household's own point")
    args = parser.parse_args()

    steps = Steps()
    print(
        f"scale={args.scale:g}, listed={args.listed}, k={args.k}, solver={args.solver}, "
        f"households walk from {'their own points' if args.household_points else 'their building doors'}"
    )
    area = steps.run("generate_sample (not timed below)", generate_sample, scale=args.scale)
    hh = steps.run("households_from_layers", households_from_layers, area.households, area.center_households)
    buildings = None if args.household_points else area.buildings[["source_id", "geometry"]]
    nodes, edges = area.walk_nodes, area.walk_edges
    del area
    before_mb = rss_mb()
    peak_reset = reset_peak()

    # ---- the assignment: the one pipeline (gis.centers.run), each step timed; the greedy baseline reuses its pairs
    kept: dict[str, object] = {}
    all_calls: list[tuple[int, float, int]] = []

    def step(name, fn, *args, **kwargs):
        if name.startswith("walk_pairs (all pairs"):  # inside the flow's time: counted, not printed
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            all_calls.append((len(args[0]), time.perf_counter() - start, len(out)))
            return out
        kept[name] = out = steps.run(name, fn, *args, **kwargs)
        return out

    done = run(
        hh,
        nodes,
        edges,
        buildings=buildings,
        suggest=False,
        listed=args.listed,
        k=args.k,
        solver=args.solver,
        step=step,
    )
    res, graph, access, snapped = done.assignment, done.graph, done.access, done.snapped
    table = done.households
    pairs = kept["walk_pairs (listed nearest)"]
    assign_peak = peak_mb()
    t = steps.seconds
    t_flow = t["assign_centers (exact flow)"]
    t_total = sum(
        t[name]
        for name in t
        if name.split()[0] not in ("generate_sample", "build_walk_graph", "households_from_layers", "greedy")
    )

    # ---- greedy baseline on the same pairs
    ids = table["id"].to_numpy()
    pos = pd.Index(ids)
    is_center = table["is_center"].to_numpy(bool)
    capacity = table["capacity"].to_numpy(np.int64)
    grid = table["grid_id"].to_numpy(dtype=object)
    ph, pc = pos.get_indexer(pairs["household_id"]), pos.get_indexer(pairs["center_id"])
    pw = pairs["walk_m"].to_numpy(float)
    greedy_calls: list[tuple[int, float, int]] = []

    def greedy_all_pairs(grids):
        start = time.perf_counter()
        out = walk_pairs(graph.csr, table, access, node_xy=graph.node_xy, k=None, grids=grids)
        greedy_calls.append((len(grids), time.perf_counter() - start, len(out)))
        return pos.get_indexer(out["household_id"]), pos.get_indexer(out["center_id"]), out["walk_m"].to_numpy(float)

    g_center, g_walk, g_rounds = steps.run(
        "greedy (same pairs)", greedy, is_center, capacity, grid, ph, pc, pw, greedy_all_pairs
    )
    t_greedy = t["greedy (same pairs)"]
    process_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # ---- figures
    h = res.households
    n_clients = int((~is_center & pd.notna(grid)).sum())
    opt_assigned = int((h["status"] == "assigned").sum())
    opt_uncovered = int((h["status"] == "uncovered").sum())
    opt_total = res.total_walk_m
    g_assigned = int(((g_center >= 0) & ~is_center).sum())
    g_uncovered = int(((g_center < 0) & ~is_center).sum())
    g_total = float(np.nansum(g_walk))
    grids = res.grids
    print()
    print(
        f"households {len(table)}, centers {int(is_center.sum())}, to assign {n_clients}, grids {len(grids)}, "
        f"walk nodes {graph.n_nodes}, edges {graph.n_edges}; pairs {len(pairs)}; "
        f"unsnapped {int((snapped['edge'] < 0).sum())}"
    )
    print(
        f"exact:  all_pairs calls (grids, s, pairs) {[(g, round(s, 2), p) for g, s, p in all_calls]}; "
        f"grids by arcs {grids['arcs'].value_counts().to_dict()}"
    )
    print(
        f"exact:  assign_centers {t_flow:.2f} s; assignment total (doors + snap + pairs + flow) {t_total:.2f} s "
        f"(target < 10 s: {'met' if t_total < 10 else 'NOT met'})"
    )
    peak_note = "since households were loaded" if peak_reset else "whole process, incl. generator"
    print(
        f"exact:  peak RSS {assign_peak:.0f} MB {peak_note} (RSS before {before_mb:.0f} MB; target < 2048 MB: "
        f"{'met' if assign_peak < 2048 else 'NOT met'}); whole process incl. generator and greedy {process_peak:.0f} MB"
    )
    print(
        f"exact:  total walk {opt_total:,.0f} m, assigned {opt_assigned}, uncovered {opt_uncovered}, "
        f"mean {opt_total / max(opt_assigned, 1):.1f} m"
    )
    print(
        f"greedy: {t_greedy:.2f} s ({g_rounds} rounds; "
        f"all-pairs calls {[(g, round(s, 2), p) for g, s, p in greedy_calls]}); "
        f"total walk {g_total:,.0f} m, assigned {g_assigned}, uncovered {g_uncovered}, "
        f"mean {g_total / max(g_assigned, 1):.1f} m"
    )
    print(
        f"ratios: quality greedy/optimal total {g_total / opt_total:.4f} "
        f"(greedy +{100 * (g_total / opt_total - 1):.2f} %"
        f"{', greedy covers fewer: totals not comparable' if g_assigned != opt_assigned else ''}); "
        f"time exact flow/greedy {t_flow / t_greedy:.2f}, assignment total/greedy {t_total / t_greedy:.2f}"
    )
    opt_center = np.full(len(table), -1, dtype=np.int64)
    opt_center[pos.get_indexer(h["household_id"])] = pos.get_indexer(h["center_id"].astype(object))
    check("exact", is_center, capacity, grid, opt_center)
    check("greedy", is_center, capacity, grid, g_center)


if __name__ == "__main__":
    main()
