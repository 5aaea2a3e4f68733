"""Row-level security alone, as raw SQL through the server's role (gridmap_app), without the API: each user reads
and writes exactly the personal rows of their place; with no scope nothing personal is readable."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from api.storage import NOBODY, SYSTEM, Scope, connect, transaction, user_scope
from api.storage.database import app_database_url, make_engine
from api.stored_centers import assign_and_store
from tests.conftest import sample_loaded

PERSONAL = ("households", "residents", "center_households", "center_assignments")


def _user(conn, login: str, role: str, scopes: list[tuple[str, str]], center: int | None = None) -> int:
    user_id = conn.scalar(
        text(
            "INSERT INTO users (login, password_hash, role, center_household_id) "
            "VALUES (:login, 'not a hash: nobody signs in here', :role, :center) RETURNING id"
        ),
        {"login": login, "role": role, "center": center},
    )
    for level, code in scopes:
        conn.execute(
            text("INSERT INTO user_scopes (user_id, level, code) VALUES (:u, :l, :c)"),
            {"u": user_id, "l": level, "c": code},
        )
    return user_id


@pytest.fixture(scope="module")
def world(engine: Engine) -> Iterator[dict]:
    """The sample street with a 中心户 run, two residents per household of four grids, and one user per role."""
    with sample_loaded(engine):
        assign_and_store(engine)
        with engine.begin() as conn:
            street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
            communities = conn.execute(
                text(
                    "SELECT c.id, st.code || c.code FROM communities c JOIN streets st ON st.id = c.street_id "
                    "ORDER BY c.id LIMIT 2"
                )
            ).all()
            grid_of = {
                c: conn.execute(
                    text("SELECT id, code FROM grids WHERE community_id = :c ORDER BY id LIMIT 2"), {"c": c}
                ).all()
                for c, _ in communities
            }
            (c1, c1_code), (c2, _) = communities
            (g1, g1_code), (g1b, _) = grid_of[c1]
            (g2, g2_code), _ = grid_of[c2]
            conn.execute(text("DELETE FROM residents"))  # the sample's own: this world counts its own residents
            conn.execute(
                text(
                    "INSERT INTO residents (household_id, name, gender, birth_year, source, source_id) "
                    "SELECT h.id, '居民' || h.id || '-' || k, '女', 1960, 'test', h.id || '-' || k "
                    "FROM households h, generate_series(1, 2) k WHERE h.grid_id IN (:a, :b, :c)"
                ),
                {"a": g1, "b": g1b, "c": g2},
            )
            center = conn.execute(
                text(
                    "SELECT ch.id, ch.household_id FROM center_households ch JOIN households h "
                    "ON h.id = ch.household_id WHERE h.grid_id = :g AND EXISTS (SELECT 1 FROM center_assignments a "
                    "WHERE a.center_id = ch.household_id AND a.household_id <> ch.household_id) ORDER BY ch.id LIMIT 1"
                ),
                {"g": g1},
            ).one()
            users = {
                "admin": _user(conn, "admin", "admin", []),
                "street_leader": _user(conn, "leader", "street_leader", [("street", street)]),
                "secretary": _user(conn, "secretary", "community_secretary", [("community", c1_code)]),
                "worker_1": _user(conn, "worker1", "grid_worker", [("grid", g1_code)]),
                "worker_2": _user(conn, "worker2", "grid_worker", [("grid", g2_code)]),
                "party_member": _user(conn, "member", "party_member", [("grid", g1_code)], center=center.id),
                "planner": _user(conn, "planner", "planner", [("street", street)]),
                "disabled": _user(conn, "gone", "grid_worker", [("grid", g1_code)]),
            }
            conn.execute(text("UPDATE users SET disabled = true WHERE id = :id"), {"id": users["disabled"]})
            households = {
                "admin": "SELECT id FROM households",
                "street_leader": "SELECT id FROM households WHERE grid_id IS NOT NULL",
                "secretary": f"SELECT h.id FROM households h JOIN grids g ON g.id = grid_id WHERE community_id = {c1}",
                "worker_1": f"SELECT id FROM households WHERE grid_id = {g1}",
                "worker_2": f"SELECT id FROM households WHERE grid_id = {g2}",
                "party_member": (
                    f"SELECT {center.household_id} UNION SELECT household_id FROM center_assignments "
                    f"WHERE center_id = {center.household_id}"
                ),
                "planner": "SELECT id FROM households WHERE false",
                "disabled": "SELECT id FROM households WHERE false",
            }
            expected = {who: set(conn.scalars(text(sql))) for who, sql in households.items()}
        app = make_engine(app_database_url(str(engine.url.render_as_string(hide_password=False))))
        try:
            yield {"app": app, "users": users, "households": expected, "grids": (g1, g2)}
        finally:
            app.dispose()
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE users, residents, audit_log RESTART IDENTITY CASCADE"))


def _ids(app: Engine, scope: Scope, sql: str) -> set[int]:
    with connect(app, scope=scope) as conn:
        return set(conn.scalars(text(sql)))


USERS = ("admin", "street_leader", "secretary", "worker_1", "worker_2", "party_member", "planner", "disabled")


@pytest.mark.parametrize("who", USERS)
def test_each_user_reads_exactly_the_households_of_their_place(world, who):
    seen = _ids(world["app"], user_scope(world["users"][who]), "SELECT id FROM households")
    assert seen == world["households"][who]
    if who in ("planner", "disabled"):
        assert not seen
    else:
        assert seen


@pytest.mark.parametrize("who", USERS)
def test_rows_about_a_household_follow_it(world, who):
    scope, visible = user_scope(world["users"][who]), world["households"][who]
    for table in ("residents", "center_households", "center_assignments"):
        households = _ids(world["app"], scope, f"SELECT household_id FROM {table}")
        assert households <= visible, table
        with connect(world["app"], scope=SYSTEM) as conn:
            everywhere = set(conn.scalars(text(f"SELECT household_id FROM {table}")))
        assert households == everywhere & visible, table


def test_no_scope_reads_nothing_personal_but_the_places(world):
    with connect(world["app"], scope=NOBODY) as conn:
        for table in PERSONAL:
            assert conn.scalar(text(f"SELECT count(*) FROM {table}")) == 0, table
        assert conn.scalar(text("SELECT count(*) FROM grids")) > 0
        assert conn.scalar(text("SELECT count(*) FROM buildings")) > 0


def test_a_forgotten_where_clause_still_stays_in_the_grid(world):
    """The aggregate a careless query would leak is the worker's own grid's."""
    g1, _ = world["grids"]
    with connect(world["app"], scope=user_scope(world["users"]["worker_1"])) as conn:
        grids = set(conn.scalars(text("SELECT DISTINCT grid_id FROM households")))
        residents = conn.scalar(text("SELECT count(*) FROM residents"))
    assert grids == {g1}
    assert residents == 2 * len(world["households"]["worker_1"])


def test_writes_outside_the_scope_change_nothing(world):
    app, users = world["app"], world["users"]
    g1, g2 = world["grids"]
    theirs = min(world["households"]["worker_2"])
    mine = min(world["households"]["worker_1"])
    with transaction(app, scope=user_scope(users["worker_1"])) as conn:
        assert conn.execute(text("UPDATE households SET size = size WHERE grid_id = :g"), {"g": g2}).rowcount == 0
        assert conn.execute(text("DELETE FROM residents WHERE household_id = :h"), {"h": theirs}).rowcount == 0
        assert conn.execute(text("UPDATE households SET size = size WHERE id = :h"), {"h": mine}).rowcount == 1
        conn.rollback()
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction(app, scope=user_scope(users["worker_1"])) as conn,
    ):
        conn.execute(
            text("INSERT INTO residents (household_id, name, source, source_id) VALUES (:h, '张三', 'test', 'x')"),
            {"h": theirs},
        )
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction(app, scope=user_scope(users["worker_1"])) as conn,
    ):
        conn.execute(text("UPDATE households SET grid_id = :g WHERE id = :h"), {"g": g2, "h": mine})
    with transaction(app, scope=user_scope(users["party_member"])) as conn:
        assert conn.execute(text("UPDATE households SET size = size")).rowcount == 0  # reads, writes nothing
        conn.rollback()
    with connect(app, scope=SYSTEM) as conn:
        assert conn.scalar(text("SELECT grid_id FROM households WHERE id = :h"), {"h": mine}) == g1
        assert conn.scalar(text("SELECT count(*) FROM residents WHERE household_id = :h"), {"h": theirs}) == 2


HAZARD_SQL = (
    "INSERT INTO hazards (category, grid_id, location, description, reported_by, deadline) "
    "VALUES ('fire_lane', :g, ST_SetSRID(ST_MakePoint(116.47, 39.93), 4326), 'x', :me, now()) RETURNING id"
)
REQUEST_SQL = (
    "INSERT INTO requests (service_code, grid_id, location, description, source, reported_by, deadline) "
    "VALUES ('livelihood', :g, ST_SetSRID(ST_MakePoint(116.47, 39.93), 4326), 'x', 'worker', :me, now()) "
    "RETURNING id"
)
VISIT_SQL = (
    "INSERT INTO visits (client_id, household_id, grid_id, user_id, role, visited_at, payload_sha256) "
    "VALUES (gen_random_uuid(), :h, :g, :me, 'grid_worker', now(), 'x') RETURNING id"
)


@pytest.mark.parametrize("sql", [HAZARD_SQL, REQUEST_SQL], ids=["hazard", "request"])
def test_field_work_is_written_only_in_ones_grids(world, sql):
    """Naming oneself the reporter is not enough (migration 0014): a grid worker inserts a hazard or request in
    their own grid only; they still read what they reported, and update it (its workflow says how)."""
    app, users = world["app"], world["users"]
    g1, g2 = world["grids"]
    me = users["worker_1"]
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction(app, scope=user_scope(me)) as conn,
    ):
        conn.execute(text(sql), {"g": g2, "me": me})
    with transaction(app, scope=user_scope(me)) as conn:
        case = conn.scalar(text(sql), {"g": g1, "me": me})
        table = "hazards" if "hazards" in sql else "requests"
        assert conn.execute(text(f"UPDATE {table} SET version = version + 1 WHERE id = :id"), {"id": case}).rowcount
        conn.rollback()
    # a party member reports in the grid of their 中心户's households, not elsewhere
    member = users["party_member"]
    with connect(app, scope=SYSTEM) as conn:
        member_grid = conn.scalar(
            text(
                "SELECT h.grid_id FROM users u JOIN center_households c ON c.id = u.center_household_id "
                "JOIN households h ON h.id = c.household_id WHERE u.id = :u"
            ),
            {"u": member},
        )
    with transaction(app, scope=user_scope(member)) as conn:
        assert conn.scalar(text(sql), {"g": member_grid, "me": member})
        conn.rollback()
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction(app, scope=user_scope(member)) as conn,
    ):
        conn.execute(text(sql), {"g": g2, "me": member})


def test_visits_are_written_only_to_ones_households(world):
    app, users = world["app"], world["users"]
    g1, g2 = world["grids"]
    me = users["worker_1"]
    theirs = min(world["households"]["worker_2"])
    mine = min(world["households"]["worker_1"])
    with (
        pytest.raises(ProgrammingError, match="row-level security"),
        transaction(app, scope=user_scope(me)) as conn,
    ):
        conn.execute(text(VISIT_SQL), {"h": theirs, "g": g2, "me": me})
    with transaction(app, scope=user_scope(me)) as conn:
        assert conn.scalar(text(VISIT_SQL), {"h": mine, "g": g1, "me": me})
        conn.rollback()
    with connect(app, scope=SYSTEM) as conn:
        assert (
            conn.scalar(
                text("SELECT count(*) FROM visits WHERE household_id = :h AND user_id = :me"), {"h": theirs, "me": me}
            )
            == 0
        )


def test_two_workers_interleaved_on_one_pooled_connection_never_see_each_others_rows(world, engine):
    app = make_engine(app_database_url(engine.url.render_as_string(hide_password=False)), pool_size=1, max_overflow=0)
    users, expected = world["users"], world["households"]
    backends = set()
    try:
        for turn in range(6):
            who = ("worker_1", "worker_2")[turn % 2]
            with connect(app, scope=user_scope(users[who])) as conn:
                backends.add(conn.scalar(text("SELECT pg_backend_pid()")))
                assert set(conn.scalars(text("SELECT id FROM households"))) == expected[who]
                conn.commit()  # a second transaction on the same checkout sets the scope again
                assert set(conn.scalars(text("SELECT id FROM households"))) == expected[who]
        assert len(backends) == 1  # one PostgreSQL session served both users in turn
    finally:
        app.dispose()


def test_the_server_role_cannot_lift_row_level_security(world):
    with connect(world["app"], scope=NOBODY) as conn:
        role = conn.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")).one()
        assert tuple(role) == (False, False)
        owner = conn.scalar(text("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'households'"))
        assert owner != conn.scalar(text("SELECT current_user"))
    for statement in (
        "ALTER TABLE households DISABLE ROW LEVEL SECURITY",
        "ALTER TABLE households NO FORCE ROW LEVEL SECURITY",
        "DROP POLICY households_read ON households",
        "SET ROLE postgres",
        "TRUNCATE households",
    ):
        with pytest.raises(DBAPIError), connect(world["app"], scope=NOBODY) as conn:
            conn.execute(text(statement))


def test_the_audit_log_is_append_only_and_read_by_admins(world):
    app, users = world["app"], world["users"]
    with transaction(app, scope=user_scope(users["worker_1"])) as conn:
        conn.execute(
            text("INSERT INTO audit_log (user_id, action, object_table, reason) VALUES (:u, 'read', 'residents', 'x')"),
            {"u": users["worker_1"]},
        )
    for statement in ("UPDATE audit_log SET reason = 'changed'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(ProgrammingError, match="permission denied"), transaction(app, scope=SYSTEM) as conn:
            conn.execute(text(statement))
    assert _ids(app, user_scope(users["worker_1"]), "SELECT id FROM audit_log") == set()
    assert len(_ids(app, user_scope(users["admin"]), "SELECT id FROM audit_log")) >= 1


def test_the_policies_use_the_grid_index(world):
    """A grid worker's page is an index scan on the grid, not a filter over every household."""
    g1, _ = world["grids"]
    with connect(world["app"], scope=user_scope(world["users"]["worker_1"])) as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            conn.scalars(text(f"EXPLAIN SELECT id FROM households WHERE grid_id = {g1} ORDER BY id LIMIT 50"))
        )
    assert "Scan using households_grid_id_id_idx" in plan and f"Index Cond: (grid_id = {g1})" in plan
    assert "InitPlan" in plan  # the scope is computed once per statement
