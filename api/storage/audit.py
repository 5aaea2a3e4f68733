"""The audit log (migration 0007): append-only for the server's role, read by admins. One row for every unmasked
read and every write of residents' personal data: who, when, what (table and row ids), and the reason given.
Nothing personal goes into a row itself: ids and counts, never names, phones or ID numbers."""

import json

from sqlalchemy import Connection, text

RECORD_SQL = """
INSERT INTO audit_log (user_id, login, action, object_table, object_ids, reason, detail)
VALUES (:user_id, :login, :action, :object_table, :object_ids, :reason, CAST(:detail AS jsonb))
"""
ACTIONS = ("read_unmasked", "create", "update", "delete", "import", "export")  # export: a ledger downloaded


def record(
    conn: Connection,
    *,
    user_id: int | None,
    login: str | None,
    action: str,
    object_table: str,
    object_ids: list[int],
    reason: str | None = None,
    detail: dict | None = None,
) -> None:
    """Append one entry in the caller's transaction: it is kept exactly when the change it records is."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    conn.execute(
        text(RECORD_SQL),
        {
            "user_id": user_id,
            "login": login,
            "action": action,
            "object_table": object_table,
            "object_ids": [int(i) for i in object_ids],
            "reason": reason,
            "detail": json.dumps(detail or {}, ensure_ascii=False),
        },
    )


def entries(conn: Connection, *, limit: int = 100) -> list[dict]:
    """The latest entries the connection may read (row-level security: admins and gridmap's jobs)."""
    rows = conn.execute(text("SELECT * FROM audit_log ORDER BY id DESC LIMIT :limit"), {"limit": limit}).mappings()
    return [dict(row) for row in rows]
