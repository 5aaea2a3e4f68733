"""The permission to read residents' personal data unmasked: a user's own flag, off by default, set by an admin.
And whether an ID number is registered anywhere (its hash is unique over all residents, whoever may see them):
a yes or no that a write through the API needs before it stores a number, answered without showing the row.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("can_unmask", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_check_constraint("users_unmask_not_planner", "users", "NOT (can_unmask AND role = 'planner')")
    op.execute(
        """CREATE FUNCTION gridmap_id_hash_taken(hash text, except_id bigint) RETURNS boolean
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp SET gridmap.system = 'on' AS $$
        BEGIN
            RETURN EXISTS (SELECT 1 FROM residents r WHERE r.id_hash = hash AND r.id IS DISTINCT FROM except_id);
        END $$"""
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS gridmap_id_hash_taken(text, bigint)")
    op.drop_constraint("users_unmask_not_planner", "users")
    op.drop_column("users", "can_unmask")
