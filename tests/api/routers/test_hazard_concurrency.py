"""Two or more clients acting on one hazard at once, against a live server on loopback: exactly one change wins
each version, the others get 409 stale_version, and the history stays 1 … n without gaps or doubles. And the
version guard itself, with two connections interleaved by hand."""

import threading
import uuid
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from api.storage import connect, transaction, user_scope
from api.storage import hazards as hazards_db
from api.storage.database import app_database_url, make_engine
from tests.api.routers.hazard_world import World, hazard_world
from tests.conftest import ServerThread


@pytest.fixture(scope="module")
def world(engine, database_url):
    with hazard_world(engine, database_url) as built:
        yield built


@pytest.fixture(scope="module")
def server(world):
    with ServerThread(world.settings) as running:
        yield running


def _at_once(calls: list) -> list:
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _history(world: World, hazard_id: int) -> list[int]:
    return [v for (v,) in world.sql("SELECT version FROM hazard_history WHERE case_id = :id ORDER BY id", id=hazard_id)]


def test_two_managers_accepting_at_once_one_wins(world, server):
    ids = world.make(["reported"] * 20)
    outcomes = Counter()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for hid in ids:

            def accept(who: str, hid: int = hid):
                body = {"action": "accept", "version": 1, "note": f"by {who}"}
                return client.post(f"/hazards/{hid}/transitions", json=body, headers=world.headers[who])

            first, second = _at_once([lambda: accept("secretary"), lambda: accept("leader")])
            statuses = sorted([first.status_code, second.status_code])
            assert statuses == [200, 409], (first.text, second.text)
            loser = first if first.status_code == 409 else second
            assert loser.json()["code"] == "stale_version" and loser.json()["current_version"] == 2
            outcomes["secretary" if first.status_code == 200 else "leader"] += 1
            # refused by the UPDATE's version guard (both read version 1) or by the check before it
            outcomes["lost at the UPDATE" if "meanwhile" in loser.json()["detail"] else "lost at the read"] += 1
            assert _history(world, hid) == [1, 2]
    versions = world.sql("SELECT DISTINCT state, version FROM hazards WHERE id = ANY(:ids)", ids=ids)
    assert versions == [("accepted", 2)]
    print(f"\nwinners: {dict(outcomes)}")


def test_many_writers_on_one_hazard_keep_the_history_whole(world, server):
    (hid,) = world.make(["reported"])
    writers, notes_each = 4, 6
    refused = Counter()

    def writer(who: str) -> int:
        written = 0
        with httpx.Client(base_url=server.url, timeout=30, headers=world.headers[who]) as client:
            for attempt in range(200):
                if written == notes_each:
                    break
                version = client.get(f"/hazards/{hid}").json()["properties"]["version"]
                body = {"action": "note", "version": version, "note": f"{who} #{written} (attempt {attempt})"}
                response = client.post(f"/hazards/{hid}/transitions", json=body)
                if response.status_code == 200:
                    written += 1
                else:
                    assert response.status_code == 409 and response.json()["code"] == "stale_version", response.text
                    refused[who] += 1
        return written

    who = ["secretary", "leader", "worker", "worker2"][:writers]
    written = _at_once([lambda w=w: writer(w) for w in who])
    assert written == [notes_each] * writers
    total = writers * notes_each
    assert world.sql("SELECT version FROM hazards WHERE id = :id", id=hid) == [(1 + total,)]
    assert _history(world, hid) == list(range(1, total + 2))
    print(f"\n{total} notes written, {sum(refused.values())} stale attempts refused")


def test_the_same_offline_entry_sent_twice_at_once_is_stored_once(world, server):
    with httpx.Client(base_url=server.url, timeout=30, headers=world.headers["worker"]) as client:
        for _ in range(10):
            client_id = str(uuid.uuid4())
            body = {
                "category": "electric",
                "location": {"type": "Point", "coordinates": world.points["g1"]},
                "description": "楼道飞线充电",
                "client_id": client_id,
            }
            first, second = _at_once([lambda body=body: client.post("/hazards", json=body)] * 2)
            assert sorted([first.status_code, second.status_code]) == [200, 201], (first.text, second.text)
            assert first.json()["id"] == second.json()["id"]
            stored = world.sql("SELECT count(*) FROM hazards WHERE client_id = :c", c=client_id)
            assert stored == [(1,)]


def test_the_version_guard_waits_for_the_first_change_and_then_refuses(world):
    """Connection A changes the hazard and holds its transaction; B's change on the same version waits for the
    row, and once A commits finds the version moved: no row changed, nothing written over."""
    (hid,) = world.make(["reported"])
    app = make_engine(app_database_url(world.engine.url.render_as_string(hide_password=False)))
    secretary, leader = user_scope(world.users["secretary"]), user_scope(world.users["leader"])
    fields = dict.fromkeys(
        (
            "deadline",
            "extensions",
            "assigned_unit",
            "assigned_user_id",
            "resume_state",
            "suspended_at",
            "closed_at",
        )
    )
    fields |= {"extensions": 0}
    try:
        with transaction(app, scope=secretary) as a:
            row = hazards_db.hazard(a, hid)
            assert row is not None
            fields["deadline"] = row["deadline"]
            assert hazards_db.update_hazard(a, hid, 1, fields | {"state": "accepted"})
            b_result: list = []
            b = threading.Thread(
                target=lambda: b_result.append(_second_change(app, leader, hid, fields | {"state": "rejected"}))
            )
            b.start()
            b.join(timeout=1.0)
            assert b.is_alive(), "B must wait for A's row lock"
        b.join(timeout=10)
        assert b_result == [False]
        with connect(app, scope=secretary) as conn:
            assert conn.execute(text("SELECT state, version FROM hazards WHERE id = :id"), {"id": hid}).one() == (
                "accepted",
                2,
            )
    finally:
        app.dispose()


def _second_change(app, scope, hid: int, fields: dict) -> bool:
    with transaction(app, scope=scope) as conn:
        return hazards_db.update_hazard(conn, hid, 1, fields)
