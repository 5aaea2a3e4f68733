"""gis.tours: the walking order is a permutation from the start, exact where it says so, and close to the optimum
(Held-Karp, itself checked against brute force) on small random cases; the measured gaps are printed (-s)."""

import itertools
import statistics
import time

import numpy as np
import pytest

from gis.tours import held_karp, local_search, nearest_neighbour, path_length, plan_tour


def _euclidean(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 1000, size=(n, 2))
    return np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))


def _manhattan(rng: np.random.Generator, n: int) -> np.ndarray:
    """Street-grid distances (blocks of 80 m): many ties, as on a real network of straight streets."""
    xy = rng.integers(0, 12, size=(n, 2)) * 80.0 + rng.uniform(0, 20, size=(n, 2))
    return np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2)


def _brute_force(dist: np.ndarray, start: int = 0) -> float:
    others = [i for i in range(len(dist)) if i != start]
    return min(path_length(dist, [start, *p]) for p in itertools.permutations(others))


@pytest.mark.parametrize("seed", range(12))
def test_held_karp_is_the_optimum(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 8))
    dist = (_euclidean if seed % 2 else _manhattan)(rng, n)
    start = int(rng.integers(0, n))
    path = held_karp(dist, start)
    assert path[0] == start and sorted(path) == list(range(n))
    assert path_length(dist, path) == pytest.approx(_brute_force(dist, start))


def test_a_tour_visits_every_stop_once_from_the_start():
    rng = np.random.default_rng(7)
    dist = _euclidean(rng, 40)
    tour = plan_tour(dist, start=3, time_limit_s=0.05)
    assert sorted([3, *tour.order]) == list(range(40)) and 3 not in tour.order
    assert tour.method == "heuristic" and len(tour.legs) == 39
    assert tour.total == pytest.approx(sum(tour.legs)) == pytest.approx(path_length(dist, [3, *tour.order]))
    assert tour.legs[0] == pytest.approx(dist[3, tour.order[0]])


def test_small_tours_are_exact():
    dist = np.array([[0, 1, 5, 2], [1, 0, 4, 3], [5, 4, 0, 6], [2, 3, 6, 0]], dtype=float)
    tour = plan_tour(dist)
    assert tour.method == "exact" and tour.order == [3, 1, 2] and tour.total == 9.0
    assert plan_tour(np.zeros((1, 1))).order == [] and plan_tour(np.zeros((1, 1))).total == 0.0


def test_a_detached_stop_is_refused_not_guessed():
    dist = np.array([[0, 1], [np.inf, 0]])
    with pytest.raises(ValueError, match="finite"):
        plan_tour(dist)


def test_local_search_mends_a_crossing():
    # four stops on a line visited out of order: 2-opt must straighten it
    xy = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    dist = np.abs(xy[:, None] - xy[None, :])
    assert local_search(dist, [0, 3, 1, 2, 4]) == [0, 1, 2, 3, 4]


def _gaps(make, cases: int, seed: int, **options) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    gaps, times = [], []
    for _ in range(cases):
        n = int(rng.integers(10, 16))  # 9-14 stops besides the start (the API solves up to 12 exactly)
        dist = make(rng, n)
        optimum = path_length(dist, held_karp(dist))
        started = time.perf_counter()
        tour = plan_tour(dist, exact_up_to=0, **options)
        times.append(time.perf_counter() - started)
        gaps.append(tour.total / optimum - 1.0 if optimum > 0 else 0.0)
    return gaps, times


@pytest.mark.parametrize("make", [_euclidean, _manhattan], ids=["euclidean", "street_grid"])
def test_the_heuristic_is_close_to_the_optimum(make):
    gaps, times = _gaps(make, 100, seed=2024, time_limit_s=5.0)  # the kicks, not the clock, bound it here
    plain, _ = _gaps(make, 100, seed=2024, max_kicks=0)
    capped, _ = _gaps(make, 100, seed=2024, time_limit_s=0.02)  # the API's default cap (GRIDMAP_TOUR_TIME_LIMIT_MS)
    print(
        f"\n{make.__name__}: with kicks mean gap {statistics.mean(gaps):.3%}, worst {max(gaps):.3%}, "
        f"p95 time {sorted(times)[94] * 1000:.1f} ms (300 kicks); "
        f"local search alone mean {statistics.mean(plain):.3%}, "
        f"worst {max(plain):.3%}; under the API's 20 ms cap mean {statistics.mean(capped):.3%}, "
        f"worst {max(capped):.3%}"
    )
    assert min(gaps) >= -1e-9  # never better than the optimum: both measured on the same matrix
    assert statistics.mean(gaps) <= 0.002 and max(gaps) <= 0.02
    assert statistics.mean(plain) <= 0.02 and max(plain) <= 0.15


def test_the_time_cap_holds_on_a_large_case():
    dist = _euclidean(np.random.default_rng(1), 150)
    started = time.perf_counter()
    tour = plan_tour(dist, time_limit_s=0.03)
    elapsed = time.perf_counter() - started
    nn = path_length(dist, nearest_neighbour(dist))
    assert tour.total <= nn and elapsed < 1.0  # the first local optimum is finished whatever the cap


def test_no_writable_cache_folder_still_compiles():
    """numba refuses ``cache=True`` when it finds nowhere to write; gis.tours then compiles in each process."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import numba.core.caching as caching\n"
        "caching.CacheImpl._locator_classes = []  # as if no folder were writable\n"
        "import numpy as np\n"
        "from gis.tours import plan_tour\n"
        "d = np.abs(np.arange(12.0)[:, None] - np.arange(12.0)[None, :])\n"
        "assert plan_tour(d).order == list(range(1, 12))\n"
        "assert plan_tour(d, exact_up_to=0).order == list(range(1, 12))\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
