"""Migrations run down to nothing and back up on a real PostGIS."""

from sqlalchemy import inspect, text

from api.storage import layers, migrate


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


COVERAGE_TABLES = {"layer_versions", "coverage_runs", "building_coverage"}
ACCOUNT_TABLES = {"users", "user_scopes", "auth_sessions", "sign_in_failures"}


def test_migrations_down_and_up(engine, database_url):
    assert set(layers.LAYERS) | COVERAGE_TABLES | ACCOUNT_TABLES <= _tables(engine)
    migrate.downgrade(database_url, "0005")
    engine.dispose()
    assert not (ACCOUNT_TABLES & _tables(engine)) and COVERAGE_TABLES <= _tables(engine)
    migrate.upgrade(database_url, "0006")
    engine.dispose()
    assert ACCOUNT_TABLES <= _tables(engine)
    migrate.downgrade(database_url, "0001")
    engine.dispose()
    assert not (COVERAGE_TABLES & _tables(engine)) and set(layers.LAYERS) <= _tables(engine)
    migrate.downgrade(database_url, "base")
    engine.dispose()
    assert _tables(engine) <= {"alembic_version", "spatial_ref_sys"}
    migrate.upgrade(database_url)
    engine.dispose()
    assert set(layers.LAYERS) | COVERAGE_TABLES | ACCOUNT_TABLES <= _tables(engine)


def test_account_tables_refuse_what_they_must(engine, clean_db):
    """The constraints behind the CLI's checks: known roles and levels, one login in any case, no token stored
    twice, a 中心户 only for a party member."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    def insert(sql: str, **params) -> None:
        with engine.begin() as conn:
            conn.execute(text(sql), params)

    user = "INSERT INTO users (login, password_hash, role) VALUES (:login, 'h', :role)"
    insert(user, login="Wang", role="admin")
    for login, role in [("wang", "planner"), ("WANG", "admin"), ("li", "root"), ("", "admin"), ("x" * 65, "admin")]:
        with pytest.raises(IntegrityError):
            insert(user, login=login, role=role)
    with pytest.raises(IntegrityError, match="users_center_household_party_member"):
        insert("INSERT INTO users (login, password_hash, role, center_household_id) VALUES ('z', 'h', 'admin', 1)")
    with pytest.raises(IntegrityError, match="user_scopes_known_level"):
        insert("INSERT INTO user_scopes (user_id, level, code) SELECT id, 'district', '110105' FROM users")


def test_every_write_bumps_the_layer_version(engine, clean_db):
    def version() -> int:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT version FROM layer_versions WHERE layer = 'service_points'"))

    before = version()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO service_points (type, name, source, source_id, geom) "
                "VALUES ('clinic', 'x', 'test', '1', ST_SetSRID(ST_MakePoint(116.4, 39.9), 4326))"
            )
        )
    assert version() == before + 1
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM service_points"))
    assert version() == before + 2


def test_every_geometry_column_is_4326_with_gist_index(engine):
    with engine.connect() as conn:
        columns = conn.execute(
            text("SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema = 'public'")
        ).all()
        indexed = set(
            conn.scalars(
                text("SELECT tablename FROM pg_indexes WHERE schemaname = 'public' AND indexdef ILIKE '%USING gist%'")
            )
        )
    tables = {table for table, _ in columns}
    field_work = {"visits", "hazards", "requests"}  # migration 0009: where visits, hazards, requests were logged
    assert tables == {t for t, spec in layers.LAYERS.items() if spec.geometry} | field_work
    assert {srid for _, srid in columns} == {4326}
    assert tables <= indexed


def test_extensions_present(engine):
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT extname FROM pg_extension")))
    assert {"postgis", "pgrouting"} <= names
