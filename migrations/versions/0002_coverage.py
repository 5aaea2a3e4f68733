"""Walking coverage stored per building × service type, and the layer versions it was computed from.

`layer_versions` holds a counter per layer that a statement-level trigger bumps on every INSERT, UPDATE, DELETE
or TRUNCATE, so the stored coverage knows whether the network, the buildings or the service points have changed
since it was computed (recompute only when an input changes). Households, grids and communities are
counted too: they do not change walking distances, only how results are weighed and grouped (summed at query
time), but an in-memory copy of the inputs must notice them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONED_LAYERS = ("walk_nodes", "walk_edges", "buildings", "service_points", "households", "grids", "communities")


def upgrade() -> None:
    op.create_table(
        "layer_versions",
        sa.Column("layer", sa.Text, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.execute("INSERT INTO layer_versions (layer) VALUES " + ", ".join(f"('{layer}')" for layer in VERSIONED_LAYERS))
    op.execute(
        """
        CREATE FUNCTION gridmap_bump_layer_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE layer_versions SET version = version + 1, changed_at = now() WHERE layer = TG_TABLE_NAME;
            RETURN NULL;
        END $$
        """
    )
    for layer in VERSIONED_LAYERS:
        op.execute(
            f"CREATE TRIGGER {layer}_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {layer} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gridmap_bump_layer_version()"
        )
    op.create_table(
        "coverage_runs",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("input_version", sa.Text, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("counts", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("options", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    # Derived rows, replaced whole by each run: no foreign keys (their per-row checks took ~40 % of the time of
    # storing the rows, measured on the sample street). A deleted building or point bumps layer_versions, so the
    # run is stale and replaced; until then every query joins buildings, which drops rows of buildings now gone.
    op.create_table(
        "building_coverage",
        sa.Column("building_id", sa.BigInteger, nullable=False),
        sa.Column("service_type", sa.Text, nullable=False),
        sa.Column("service_point_id", sa.BigInteger),
        sa.Column("walk_m", sa.Float, sa.CheckConstraint("walk_m >= 0")),
        sa.Column("run_id", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("building_id", "service_type"),
    )
    op.create_index("building_coverage_type_walk_idx", "building_coverage", ["service_type", "walk_m"])


def downgrade() -> None:
    op.drop_table("building_coverage")
    op.drop_table("coverage_runs")
    for layer in VERSIONED_LAYERS:
        op.execute(f"DROP TRIGGER IF EXISTS {layer}_version ON {layer}")
    op.execute("DROP FUNCTION IF EXISTS gridmap_bump_layer_version()")
    op.drop_table("layer_versions")
