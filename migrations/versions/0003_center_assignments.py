"""党员中心户 assignments: which center household looks after each household, from the newest run.

Kept so that the next run can keep existing pairs (stable re-assignment) and report who moved.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "center_runs",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("counts", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    op.create_table(
        "center_assignments",
        sa.Column("household_id", sa.BigInteger, sa.ForeignKey("households.id", ondelete="CASCADE"), primary_key=True),
        # the center household's own household id (itself for a center); NULL: uncovered
        sa.Column("center_id", sa.BigInteger, sa.ForeignKey("households.id", ondelete="SET NULL")),
        sa.Column("walk_m", sa.Float, sa.CheckConstraint("walk_m >= 0")),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey("center_runs.id", ondelete="CASCADE"), nullable=False),
    )
    op.create_index("center_assignments_center_id_idx", "center_assignments", ["center_id"])


def downgrade() -> None:
    op.drop_table("center_assignments")
    op.drop_table("center_runs")
