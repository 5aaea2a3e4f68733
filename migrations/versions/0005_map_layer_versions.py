"""Version counters for compounds and center households, the two drawn layers 0002 left uncounted.

Rendered map pages are kept per version of the layers they draw (api.map_cache): the overview
draws compounds and the 中心户 map draws center households, so a change of either must move a counter as a change
of grids or buildings does. Same trigger function as 0002. The planner's in-memory coverage ignores these two
counters (api.storage.coverage.COVERAGE_STATE_LAYERS), so editing a compound does not rebuild it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LAYERS = ("compounds", "center_households")


def upgrade() -> None:
    op.execute(
        "INSERT INTO layer_versions (layer) VALUES "
        + ", ".join(f"('{layer}')" for layer in LAYERS)
        + " ON CONFLICT (layer) DO NOTHING"
    )
    for layer in LAYERS:
        op.execute(
            f"CREATE TRIGGER {layer}_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {layer} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_layer_version()"
        )


def downgrade() -> None:
    for layer in LAYERS:
        op.execute(f"DROP TRIGGER IF EXISTS {layer}_version ON {layer}")
    op.execute("DELETE FROM layer_versions WHERE layer IN (" + ", ".join(f"'{layer}'" for layer in LAYERS) + ")")
