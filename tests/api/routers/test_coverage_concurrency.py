"""Concurrent coverage refreshes: they wait for each other instead of failing with a 500.

Two forced refreshes used to race in REPEATABLE READ: the second one's DELETE of the run the first had just
replaced raised SerializationFailure, a 500. Now each refresh locks building_coverage before taking its snapshot.
"""

import threading

import httpx
import pytest
from sqlalchemy import text

from api.coverage_state import CoverageCache
from api.settings import Settings
from tests.conftest import ServerThread, sample_loaded
from tests.signing import bearer_headers


@pytest.fixture(scope="module")
def area(engine):
    with sample_loaded(engine) as area:
        yield area


def test_concurrent_forced_refreshes_wait_for_each_other(area, engine, database_url):
    settings = Settings(database_url=database_url, tiles="none")
    results: list[httpx.Response | BaseException] = []
    start = threading.Barrier(3)

    def refresh(base_url: str, headers: dict) -> None:
        try:
            with httpx.Client(base_url=base_url, headers=headers, timeout=120) as client:
                start.wait()
                results.append(client.post("/coverage/refresh", params={"force": "true"}))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            results.append(exc)

    with ServerThread(settings) as server:
        headers = bearer_headers(server.url, engine)
        workers = [threading.Thread(target=refresh, args=(server.url, headers)) for _ in range(2)]
        for worker in workers:
            worker.start()
        start.wait()
        for worker in workers:
            worker.join(timeout=180)
    assert all(isinstance(r, httpx.Response) for r in results), results
    assert sorted(r.status_code for r in results) == [200, 200], [r.text for r in results]
    assert all(r.json()["recomputed"] for r in results)
    with engine.connect() as conn:
        runs = conn.execute(text("SELECT id, input_version FROM coverage_runs")).all()
        per_run = conn.execute(text("SELECT run_id, count(*) FROM building_coverage GROUP BY run_id")).all()
    # one run stored, every row belonging to it, one row per building × type
    assert len(runs) == 1
    assert per_run == [(runs[0].id, results[0].json()["counts"]["rows"])]
    assert runs[0].input_version == results[0].json()["input_version"]


def test_a_current_state_is_served_while_a_rebuild_holds_the_lock(area, engine, database_url):
    """Only a rebuild takes the cache's lock: statistics and planner maps of a current state wait for nobody (they
    used to queue behind one lock held across a database round trip, the bottleneck of the load benchmark)."""
    settings = Settings(database_url=database_url, tiles="none")
    cache = CoverageCache()
    first, rebuilt = cache.get(engine, settings)
    assert rebuilt
    served: list = []
    with cache._lock:  # as a rebuild in another thread would hold it
        with engine.connect() as conn:
            reader = threading.Thread(target=lambda: served.append(cache.get(engine, settings, conn)))
            reader.start()
            reader.join(timeout=30)
            assert not reader.is_alive(), "a current state waited for the rebuild lock"
            assert not conn.in_transaction()  # the request's connection is left as it was
    assert served == [(first, False)]
    with engine.begin() as conn:  # a layer moved: the next request rebuilds, once
        conn.execute(
            text("UPDATE service_points SET name = name || ' ' WHERE id = (SELECT min(id) FROM service_points)")
        )
    second, rebuilt = cache.get(engine, settings)
    assert rebuilt and second is not first and cache.get(engine, settings) == (second, False)
