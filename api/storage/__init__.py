"""Storage: the only place that holds SQL or opens a database connection.

`connect` and `transaction` (api.storage.session) are the one way to a connection; the queries live in one module
per concept (layers, imports, coverage, centers, grids, workload, maps, places, health), engine and database setup
in `database`, the migrations in `migrate`. Nothing here knows about HTTP or the command line.
"""

from sqlalchemy import Connection, Engine

from api.storage.session import (
    NOBODY,
    SYSTEM,
    Scope,
    connect,
    export_snapshot,
    partner_scope,
    scope_of,
    shared_snapshot,
    transaction,
    user_scope,
)

__all__ = [
    "NOBODY",
    "SYSTEM",
    "Connection",
    "Engine",
    "Scope",
    "connect",
    "export_snapshot",
    "partner_scope",
    "scope_of",
    "shared_snapshot",
    "transaction",
    "user_scope",
]
