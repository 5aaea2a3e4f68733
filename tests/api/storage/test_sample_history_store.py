"""The sample's year of field work as load_sample stores it (api.storage.sample_history): every row linked to its
places, case histories that add up (versions 1..n, the state the last row's, closed_at exactly when closed,
deadlines from the categories and services), nothing at or after `until`; a reload replaces the sample's rows and
keeps what users logged; a bare sample stores none."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from api.storage.imports import load_sample
from gis.sample import CHINA, SampleArea, generate_history, generate_sample
from tests.conftest import ID_HASH_KEY, empty_tables
from tests.field_work import default_rules, hazard_categories, services
from tests.signing import account

UNTIL = date(2026, 3, 10)
SEED = 7
END = datetime(UNTIL.year, UNTIL.month, UNTIL.day, tzinfo=CHINA)


@pytest.fixture(scope="module")
def loaded(engine: Engine) -> Iterator[tuple[SampleArea, dict[str, int]]]:
    empty_tables(engine)
    area = generate_sample()
    counts = load_sample(engine, area, id_hash_key=ID_HASH_KEY, until=UNTIL, seed=SEED)
    try:
        yield area, counts
    finally:
        empty_tables(engine)


def rows(engine: Engine, sql: str, **params) -> list:
    with engine.connect() as conn:
        return list(conn.execute(text(sql), params).all())


def scalar(engine: Engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.scalar(text(sql), params)


def test_the_stored_year_is_the_generated_one(engine, loaded):
    area, counts = loaded
    history = generate_history(
        area, until=UNTIL, seed=SEED, rules=default_rules(), hazard_categories=hazard_categories(), services=services()
    )
    for table, frame in history.counts().items():
        assert counts[table] == frame == scalar(engine, f"SELECT count(*) FROM {table}"), table
    stored = set(scalar(engine, "SELECT array_agg(client_id::text) FROM requests"))
    assert stored == set(history.requests["client_id"])


def test_rows_are_linked_to_their_places(engine, loaded):
    unlinked = scalar(
        engine,
        "SELECT count(*) FROM visits v JOIN households h ON h.id = v.household_id "
        "WHERE v.grid_id IS DISTINCT FROM h.grid_id OR v.user_id IS NOT NULL",
    )
    assert unlinked == 0 and scalar(engine, "SELECT count(*) FROM visits WHERE household_id IS NULL") == 0
    assert scalar(engine, "SELECT count(*) FROM hazards WHERE grid_id IS NULL") == 0
    homes = rows(
        engine,
        "SELECT count(*), count(resident_id), count(building_id), count(*) FILTER (WHERE source <> 'sample') "
        "FROM requests WHERE household_id IS NOT NULL",
    )[0]
    assert homes[0] > 0 and homes[0] == homes[1] == homes[2] and homes[3] == 0
    # the resident named is one of the household's
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM requests q JOIN residents r ON r.id = q.resident_id "
            "WHERE r.household_id <> q.household_id",
        )
        == 0
    )
    assert (
        scalar(engine, "SELECT count(*) FROM requests WHERE requester_name IS NOT NULL OR requester_phone IS NOT NULL")
        == 0
    )


def test_visit_distances_are_the_ones_postgis_measures(engine, loaded):
    worst = scalar(
        engine,
        "SELECT max(abs(v.distance_m - ST_Distance(b.geom::geography, v.location::geography))) FROM visits v "
        "JOIN households h ON h.id = v.household_id JOIN buildings b ON b.id = h.building_id "
        "WHERE v.far OR v.id % 50 = 0",
    )
    assert worst < 2.0
    assert scalar(engine, "SELECT bool_and(far = (distance_m > 200)) FROM visits")


@pytest.mark.parametrize(
    ("cases", "history", "final"),
    [
        ("hazards", "hazard_history", ["closed", "rejected"]),
        ("requests", "request_history", ["closed", "rejected", "duplicate"]),
    ],
)
def test_case_histories_add_up(engine, loaded, cases, history, final):
    gaps = scalar(
        engine,
        f"SELECT count(*) FROM (SELECT case_id FROM {history} GROUP BY case_id "
        "HAVING min(version) <> 1 OR max(version) <> count(*)) g",
    )
    assert gaps == 0
    mismatched = scalar(
        engine,
        f"SELECT count(*) FROM {cases} c JOIN LATERAL (SELECT * FROM {history} h WHERE h.case_id = c.id "
        "ORDER BY version DESC LIMIT 1) last ON true "
        "WHERE last.to_state <> c.state OR last.version <> c.version OR last.at <> c.updated_at",
    )
    assert mismatched == 0
    assert scalar(engine, f"SELECT count(*) FROM {cases} c WHERE NOT EXISTS "
                          f"(SELECT 1 FROM {history} h WHERE h.case_id = c.id)") == 0  # fmt: skip
    chained = scalar(
        engine,
        f"SELECT count(*) FROM {history} h JOIN {history} p ON p.case_id = h.case_id AND p.version = h.version - 1 "
        "WHERE h.from_state IS DISTINCT FROM p.to_state OR h.at < p.at",
    )
    assert chained == 0
    closed = f"SELECT count(*) FROM {cases} WHERE (closed_at IS NOT NULL) <> (state = ANY (:final))"
    assert scalar(engine, closed, final=final) == 0
    assert scalar(engine, f"SELECT count(DISTINCT state) FROM {cases}") >= 5


def test_deadlines_follow_categories_and_services(engine, loaded):
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM hazards h JOIN hazard_categories c ON c.code = h.category "
            "WHERE h.deadline <> h.reported_at + make_interval(hours => c.deadline_hours * (1 + h.extensions))",
        )
        == 0
    )
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM hazards h WHERE h.extensions <> "
            "(SELECT count(*) FROM hazard_history x WHERE x.case_id = h.id AND x.action = 'extend')",
        )
        == 0
    )
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM requests r JOIN services s ON s.code = r.service_code "
            "WHERE r.deadline <> r.requested_at + make_interval(hours => s.deadline_hours)",
        )
        == 0
    )
    open_late = "SELECT count(*) FROM hazards WHERE state NOT IN ('closed', 'rejected') AND deadline < :end"
    overdue = scalar(engine, open_late, end=END)
    assert overdue > 0


def test_nothing_at_or_after_until(engine, loaded):
    latest = rows(
        engine,
        "SELECT (SELECT max(greatest(visited_at, received_at)) FROM visits), "
        "(SELECT max(greatest(reported_at, updated_at, closed_at)) FROM hazards), "
        "(SELECT max(at) FROM hazard_history), "
        "(SELECT max(greatest(requested_at, dispatched_at, accepted_at, completed_at, closed_at, updated_at)) "
        " FROM requests), (SELECT max(at) FROM request_history)",
    )[0]
    assert all(END - timedelta(days=2) < t < END for t in latest)
    due = scalar(
        engine,
        "SELECT count(*) FROM (SELECT household_id FROM visits WHERE role = 'grid_worker' AND kind = 'routine' "
        "GROUP BY household_id HAVING max(visited_at) < CAST(:end AS timestamptz) - interval '7 days') d "
        "JOIN households h ON h.id = d.household_id WHERE 'elderly_alone' = ANY (h.tags)",
        end=END,
    )
    assert due > 0  # weekly visits overdue on the morning of `until`


def test_duplicates_point_at_their_original(engine, loaded):
    bad = scalar(
        engine,
        "SELECT count(*) FROM requests d JOIN requests o ON o.id = d.duplicate_of "
        "WHERE d.state <> 'duplicate' OR o.service_code <> d.service_code OR o.requested_at >= d.requested_at "
        "OR ST_Distance(o.location::geography, d.location::geography) > 60",
    )
    assert bad == 0
    assert scalar(engine, "SELECT count(*) FROM requests WHERE state = 'duplicate' AND duplicate_of IS NULL") == 0
    named = (
        "SELECT count(*) FROM requests r JOIN request_history h ON h.case_id = r.id AND h.action = 'duplicate' "
        "WHERE r.status_notes <> '重复诉求，已并入 #' || r.duplicate_of "
        "OR (h.detail ->> 'duplicate_of')::bigint IS DISTINCT FROM r.duplicate_of"
    )
    assert scalar(engine, named) == 0


def test_the_load_is_audited_with_counts_only(engine, loaded):
    detail = scalar(
        engine, "SELECT detail FROM audit_log WHERE object_table = 'visits' AND action = 'import' ORDER BY id DESC"
    )
    assert detail["visits"] == loaded[1]["visits"] and detail["source"] == "sample"


def test_a_reload_replaces_the_samples_field_work_and_keeps_what_users_logged(engine, loaded):
    area, _ = loaded
    account(engine, "grid_worker", ["grid:" + area.grids["code"].iloc[0]], login="history-worker")
    user = scalar(engine, "SELECT id FROM users WHERE login = 'history-worker'")
    with engine.begin() as conn:
        household, grid = conn.execute(text("SELECT id, grid_id FROM households ORDER BY id LIMIT 1")).one()
        conn.execute(
            text(
                "INSERT INTO visits (client_id, household_id, grid_id, user_id, role, visited_at, payload_sha256) "
                "VALUES (gen_random_uuid(), :h, :g, :u, 'grid_worker', now(), repeat('0', 64))"
            ),
            {"h": household, "g": grid, "u": user},
        )
        conn.execute(
            text(
                "INSERT INTO hazards (category, grid_id, location, description, reported_by, deadline) "
                "VALUES ('gas', :g, ST_SetSRID(ST_MakePoint(116.47, 39.93), 4326), '用户上报', :u, now())"
            ),
            {"g": grid, "u": user},
        )
        conn.execute(
            text(
                "INSERT INTO requests (service_code, location, description, source, deadline) "
                "VALUES ('facility', ST_SetSRID(ST_MakePoint(116.47, 39.93), 4326), '路灯坏了', 'worker', now())"
            )
        )
    old = {
        "visits": scalar(engine, "SELECT array_agg(client_id) FROM visits WHERE user_id IS NULL"),
        "hazards": scalar(engine, "SELECT array_agg(client_id) FROM hazards WHERE reported_by IS NULL"),
        "requests": scalar(engine, "SELECT array_agg(client_id) FROM requests WHERE source = 'sample'"),
    }
    counts = load_sample(engine, area, id_hash_key=ID_HASH_KEY, until=UNTIL + timedelta(days=1), seed=SEED)
    for table, ids in old.items():
        assert ids and scalar(engine, f"SELECT count(*) FROM {table} WHERE client_id = ANY (:ids)", ids=ids) == 0
    assert scalar(engine, "SELECT count(*) FROM visits WHERE user_id = :u", u=user) == 1
    assert scalar(engine, "SELECT count(*) FROM hazards WHERE reported_by = :u", u=user) == 1
    assert scalar(engine, "SELECT count(*) FROM requests WHERE source = 'worker'") == 1
    assert scalar(engine, "SELECT count(*) FROM visits WHERE user_id IS NULL") == counts["visits"]
    assert scalar(engine, "SELECT count(*) FROM hazards WHERE reported_by IS NULL") == counts["hazards"]


def test_a_bare_sample_has_no_field_work(engine, loaded):
    area, _ = loaded
    empty_tables(engine)
    counts = load_sample(engine, area, id_hash_key=ID_HASH_KEY, history=False)
    assert "visits" not in counts and counts["households"] == len(area.households)
    for table in ("visits", "hazards", "hazard_history", "requests", "request_history"):
        assert scalar(engine, f"SELECT count(*) FROM {table}") == 0
