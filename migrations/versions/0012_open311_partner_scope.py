"""Open311 partners read and write their own requests through row-level security; a request keeps the media URL a
partner app sent with it.

A partner app (a resident mini-program) signs a call with its api_key, not as a gridmap user: its transactions carry
``gridmap.partner_id`` (set with SET LOCAL by api/storage/session.py, like ``gridmap.user_id``), and one more
permissive policy lets it see, post and rate exactly the requests it posted. Their history follows them through the
existing policy of request_history (a row whose request is visible).

Revision ID: 0012
Revises: 0011 (written on 0009; re-chained after the hazards merge)
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTNER_ID = """
CREATE FUNCTION gridmap_partner_id() RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('gridmap.partner_id', true), '')::bigint $$;
"""
OWN = "partner_id = (SELECT gridmap_partner_id())"


def upgrade() -> None:
    op.execute(PARTNER_ID)
    op.execute(f"CREATE POLICY requests_partner ON requests USING ({OWN}) WITH CHECK ({OWN})")
    # a link the partner app sent (a photo on its own server): served back to that partner only
    op.add_column("requests", sa.Column("media_url", sa.Text))
    op.create_check_constraint("requests_media_url", "requests", "media_url IS NULL OR length(media_url) <= 2000")
    op.create_index("requests_partner_idx", "requests", ["partner_id", "requested_at"])


def downgrade() -> None:
    op.drop_index("requests_partner_idx", "requests")
    op.drop_column("requests", "media_url")
    op.execute("DROP POLICY IF EXISTS requests_partner ON requests")
    op.execute("DROP FUNCTION IF EXISTS gridmap_partner_id()")
