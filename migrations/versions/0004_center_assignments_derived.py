"""党员中心户 assignments as derived rows: no foreign keys, replaced whole by each run.

With its three foreign keys, storing a district's run (393k rows) spent 12–16 s in the per-row referential checks,
each of which also locks the referenced household row (a write to every household's page). The rows are computed
from households read in the same transaction and replaced whole by the next run, as building_coverage (0002) is;
readers join them to households, so the row of a household deleted since the run is not seen, and a center
deleted since reads as no center.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEYS = {
    "center_assignments_household_id_fkey": "FOREIGN KEY (household_id) REFERENCES households(id) ON DELETE CASCADE",
    "center_assignments_center_id_fkey": "FOREIGN KEY (center_id) REFERENCES households(id) ON DELETE SET NULL",
    "center_assignments_run_id_fkey": "FOREIGN KEY (run_id) REFERENCES center_runs(id) ON DELETE CASCADE",
}


def upgrade() -> None:
    for name in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE center_assignments DROP CONSTRAINT IF EXISTS {name}")


def downgrade() -> None:
    # rows the keys would have removed or cleared
    op.execute(
        "DELETE FROM center_assignments a WHERE NOT EXISTS (SELECT 1 FROM households h WHERE h.id = a.household_id)"
    )
    op.execute("DELETE FROM center_assignments a WHERE NOT EXISTS (SELECT 1 FROM center_runs r WHERE r.id = a.run_id)")
    op.execute(
        "UPDATE center_assignments a SET center_id = NULL "
        "WHERE center_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM households h WHERE h.id = a.center_id)"
    )
    for name, definition in FOREIGN_KEYS.items():
        op.execute(f"ALTER TABLE center_assignments ADD CONSTRAINT {name} {definition}")
