"""Bulk writes into tables with foreign keys and indexes, as the PostgreSQL manual advises (14.4, "Populating a
Database"): the tables' foreign keys, unique constraints and secondary indexes are dropped for the write and made
again after it, in the same transaction. Each key is then checked by one join and each index built by one sort,
instead of a key check (a query) and an index entry per row: the sample's three million visits took minutes the
other way.

The constraints and indexes are read from the catalog and made again from their own definitions
(pg_get_constraintdef, pg_get_indexdef), so nothing here repeats a migration; a row that breaks one fails the
transaction as it would have failed the insert. It takes the tables' owner (gridmap's own jobs: the sample's
load) and locks them until the transaction ends.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Connection, text

# Foreign keys first (a unique constraint may not go while a key uses it), then unique constraints; made again
# in the reverse order.
CONSTRAINTS_SQL = """
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I ', c.conrelid::regclass, c.conname)
       || pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.conrelid = CAST(:table AS regclass) AND c.contype IN ('f', 'u')
ORDER BY c.contype, c.conname
"""
INDEXES_SQL = """
SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = CAST(:table AS regclass) AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY i.indexrelid
"""


@contextmanager
def keys_and_indexes_after(conn: Connection, tables: Sequence[str]) -> Iterator[None]:
    """Within the block, `tables` have no foreign keys, unique constraints or secondary indexes (primary keys
    stay); they are all made again when it ends without an error (an error leaves the transaction to roll back)."""
    remade: list[str] = []
    for table in tables:
        for sql in (CONSTRAINTS_SQL, INDEXES_SQL):
            for drop, create in conn.execute(text(sql), {"table": table}).all():
                conn.execute(text(drop))
                remade.append(create)
    yield
    for create in reversed(remade):
        conn.execute(text(create))
