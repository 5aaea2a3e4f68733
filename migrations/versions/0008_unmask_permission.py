"""The permission to read residents' personal data unmasked: a user's own flag, off by default, set by an admin.

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


def downgrade() -> None:
    op.drop_constraint("users_unmask_not_planner", "users")
    op.drop_column("users", "can_unmask")
