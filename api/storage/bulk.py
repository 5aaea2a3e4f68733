"""Bulk writes into tables with foreign keys and indexes, as the PostgreSQL manual advises (14.4, "Populating a
Database"): the tables' foreign keys, unique constraints and secondary indexes are dropped for the write and made
again after it, in the same transaction. Each key is then checked by one join and each index built by one sort,
instead of a key check (a query) and an index entry per row: the sample's three million visits took minutes the
other way.

The constraints and indexes are read from the catalog and made again from their own definitions
(pg_get_constraintdef, pg_get_indexdef), so nothing here repeats a migration; a row that breaks one fails the
transaction as it would have failed the insert. It takes the tables' owner (gridmap's own jobs: the sample's
load) and locks them until the transaction ends. api.storage.coverage does the same for its one table.

`copy_records` stages plain numeric columns by a binary COPY.
"""

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from sqlalchemy import Connection, text

from api.storage.frames import copy_in

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


COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension length
COPY_TRAILER = b"\xff\xff"
# numpy kind and size → (big-endian layout, PostgreSQL type); uuids are 16 raw bytes
BINARY = {
    ("i", 2): (">i2", "smallint"),
    ("i", 4): (">i4", "integer"),
    ("i", 8): (">i8", "bigint"),
    ("f", 8): (">f8", "double precision"),
    ("b", 1): ("u1", "boolean"),
    ("V", 16): ("V16", "uuid"),
}


def copy_records(conn: Connection, staging: str, columns: dict[str, np.ndarray]) -> None:
    """A new temporary table (dropped at commit) of `columns` — numpy arrays of one length without NULLs: int16,
    int32, int64, float64, bool or 16-byte uuids (dtype V16) — filled by one binary COPY built as numpy records:
    no text to format or parse, which for millions of rows took most of the time of a CSV COPY."""
    n = len(next(iter(columns.values())))
    fields: list[tuple[str, str]] = [("fields", ">i2")]
    declared = []
    for name, values in columns.items():
        layout, pg_type = BINARY[(values.dtype.kind, values.dtype.itemsize)]
        fields += [(f"{name}.size", ">i4"), (name, layout)]
        declared.append(f"{name} {pg_type}")
    records = np.empty(n, dtype=np.dtype(fields))
    records["fields"] = len(columns)
    for name, values in columns.items():
        records[f"{name}.size"] = values.dtype.itemsize
        records[name] = values.view(np.uint8) if values.dtype.kind == "b" else values
    conn.execute(text(f"DROP TABLE IF EXISTS {staging}"))
    conn.execute(text(f"CREATE TEMP TABLE {staging} ({', '.join(declared)}) ON COMMIT DROP"))
    data = io.BytesIO(b"".join([COPY_HEADER, records.tobytes(), COPY_TRAILER]))
    copy_in(conn, f"COPY {staging} FROM STDIN WITH (FORMAT binary)", data)
