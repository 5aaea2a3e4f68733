"""Migrations run down to nothing and back up on a real PostGIS."""

from sqlalchemy import inspect, text

from api.storage import layers, migrate


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


COVERAGE_TABLES = {"layer_versions", "coverage_runs", "building_coverage"}


def test_migrations_down_and_up(engine, database_url):
    assert set(layers.LAYERS) | COVERAGE_TABLES <= _tables(engine)
    migrate.downgrade(database_url, "0001")
    engine.dispose()
    assert not (COVERAGE_TABLES & _tables(engine)) and set(layers.LAYERS) <= _tables(engine)
    migrate.downgrade(database_url, "base")
    engine.dispose()
    assert _tables(engine) <= {"alembic_version", "spatial_ref_sys"}
    migrate.upgrade(database_url)
    engine.dispose()
    assert set(layers.LAYERS) | COVERAGE_TABLES <= _tables(engine)


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
    assert tables == {t for t, spec in layers.LAYERS.items() if spec.geometry}
    assert {srid for _, srid in columns} == {4326}
    assert tables <= indexed


def test_extensions_present(engine):
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT extname FROM pg_extension")))
    assert {"postgis", "pgrouting"} <= names
