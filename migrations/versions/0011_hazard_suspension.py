"""A suspended hazard (挂起) remembers the state to resume to and since when it waits: the clock of its deadline
stops while it is suspended, and `resume` moves the deadline by the time it waited (api.workflows.hazards).

Columns rather than the history's detail, so that the state machine reads them from the case itself and a
CHECK keeps them present exactly while the hazard is suspended.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The states a hazard may be suspended from (api.workflows.hazards.SUSPENDABLE).
SUSPENDABLE = ("accepted", "dispatched", "rectifying", "sent_back")


def upgrade() -> None:
    op.add_column("hazards", sa.Column("resume_state", sa.Text))
    op.add_column("hazards", sa.Column("suspended_at", sa.DateTime(timezone=True)))
    states = ", ".join(repr(s) for s in SUSPENDABLE)
    op.create_check_constraint("hazards_resume_state", "hazards", f"resume_state IN ({states})")
    op.create_check_constraint(
        "hazards_suspended",
        "hazards",
        "(state = 'suspended') = (resume_state IS NOT NULL) AND (resume_state IS NULL) = (suspended_at IS NULL)",
    )
    # the list's overdue filter and the KPIs read open hazards by deadline
    op.create_index("hazards_deadline_idx", "hazards", ["deadline"])


def downgrade() -> None:
    op.drop_index("hazards_deadline_idx", "hazards")
    op.drop_constraint("hazards_suspended", "hazards")
    op.drop_constraint("hazards_resume_state", "hazards")
    op.drop_column("hazards", "suspended_at")
    op.drop_column("hazards", "resume_state")
