"""Photos of visits and hazards, stored once by the SHA-256 of their content (migration 0009). Row-level security
shows a photo to who uploaded it and to whoever sees a visit or hazard showing it."""

from __future__ import annotations

from sqlalchemy import Connection, text

INSERT_PHOTO_SQL = """
INSERT INTO photos (sha256, media_type, bytes, content, uploaded_by)
VALUES (:sha256, :media_type, :bytes, :content, :user_id)
ON CONFLICT (sha256) DO NOTHING
RETURNING sha256
"""
PHOTO_SQL = "SELECT sha256, media_type, bytes, content, uploaded_at FROM photos WHERE sha256 = :sha256"


def store_photo(conn: Connection, *, sha256: str, media_type: str, content: bytes, user_id: int) -> bool:
    """Whether the photo was stored now (False: the same content was stored before, by anyone)."""
    params = {"sha256": sha256, "media_type": media_type, "bytes": len(content), "content": content, "user_id": user_id}
    return conn.scalar(text(INSERT_PHOTO_SQL), params) is not None


def photo(conn: Connection, sha256: str) -> dict | None:
    """The photo if the user's scope shows it, else None."""
    row = conn.execute(text(PHOTO_SQL), {"sha256": sha256}).mappings().first()
    return None if row is None else dict(row)
