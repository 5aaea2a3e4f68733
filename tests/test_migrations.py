"""Migrations run down to nothing and back up on a real PostGIS."""

from sqlalchemy import inspect, text

from api import migrate, store


def _tables(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_migrations_down_and_up(engine, database_url):
    assert set(store.LAYERS) <= _tables(engine)
    migrate.downgrade(database_url, "base")
    engine.dispose()
    assert not (set(store.LAYERS) & _tables(engine))
    migrate.upgrade(database_url)
    engine.dispose()
    assert set(store.LAYERS) <= _tables(engine)


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
    assert tables == {t for t, spec in store.LAYERS.items() if spec.geometry}
    assert {srid for _, srid in columns} == {4326}
    assert tables <= indexed


def test_extensions_present(engine):
    with engine.connect() as conn:
        names = set(conn.scalars(text("SELECT extname FROM pg_extension")))
    assert {"postgis", "pgrouting"} <= names
