"""Layers of the five-level structure, service points and the walk network.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables in creation order; the downgrade drops them in reverse.
TABLES = [
    "streets",
    "communities",
    "grids",
    "compounds",
    "buildings",
    "households",
    "center_households",
    "service_points",
    "walk_nodes",
    "walk_edges",
    "grid_workers",
    "grid_worker_grids",
    "import_runs",
]


def _geom(kind: str) -> sa.Column:
    # GiST indexes are created explicitly below, so spatial_index is off here.
    return sa.Column("geom", Geometry(kind, srid=4326, spatial_index=False), nullable=False)


def _source() -> list[sa.Column]:
    """Every imported row remembers where it came from, so a re-import updates instead of duplicating."""
    return [
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_id", sa.Text, nullable=False),
    ]


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)


def _fk(name: str, table: str, *, nullable: bool = True, ondelete: str = "SET NULL") -> sa.Column:
    return sa.Column(name, sa.BigInteger, sa.ForeignKey(f"{table}.id", ondelete=ondelete), nullable=nullable)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "streets",
        _id(),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        *_source(),
        _geom("MULTIPOLYGON"),
        sa.CheckConstraint("code ~ '^[0-9]{9}$'", name="streets_code_9_digits"),
    )
    op.create_table(
        "communities",
        _id(),
        _fk("street_id", "streets"),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        *_source(),
        _geom("MULTIPOLYGON"),
    )
    op.create_table(
        "grids",
        _id(),
        _fk("community_id", "communities"),
        sa.Column("code", sa.Text, nullable=False, unique=True),
        sa.Column("code_profile", sa.Text, nullable=False),
        sa.Column("district_code", sa.Text, nullable=False),
        sa.Column("street_code", sa.Text, nullable=False),
        sa.Column("community_code", sa.Text, nullable=False),
        sa.Column("seq_code", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        *_source(),
        _geom("MULTIPOLYGON"),
        sa.CheckConstraint("code_profile IN ('DB11_15', 'CJT213_14')", name="grids_known_code_profile"),
        sa.CheckConstraint(
            "code = district_code || street_code || community_code || seq_code", name="grids_code_parts"
        ),
    )
    op.create_table(
        "compounds",
        _id(),
        sa.Column("name", sa.Text),
        *_source(),
        _geom("MULTIPOLYGON"),
    )
    op.create_table(
        "buildings",
        _id(),
        _fk("grid_id", "grids"),
        _fk("compound_id", "compounds"),
        sa.Column("kind", sa.Text),
        sa.Column("name", sa.Text),
        sa.Column("floors", sa.Integer, sa.CheckConstraint("floors > 0")),
        sa.Column("households", sa.Integer, sa.CheckConstraint("households >= 0")),
        *_source(),
        _geom("MULTIPOLYGON"),
    )
    op.create_table(
        "households",
        _id(),
        _fk("building_id", "buildings", nullable=False, ondelete="CASCADE"),
        _fk("grid_id", "grids"),
        sa.Column("unit", sa.Text),
        sa.Column("room", sa.Text),
        sa.Column("size", sa.Integer, sa.CheckConstraint("size > 0"), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("is_party_member", sa.Boolean, nullable=False, server_default=sa.false()),
        *_source(),
        _geom("POINT"),
    )
    op.create_table(
        "center_households",
        _id(),
        _fk("household_id", "households", nullable=False, ondelete="CASCADE"),
        sa.Column("capacity", sa.Integer, sa.CheckConstraint("capacity > 0"), nullable=False, server_default="10"),
        *_source(),
        sa.UniqueConstraint("household_id", name="center_households_one_per_household"),
    )
    op.create_table(
        "service_points",
        _id(),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("level", sa.Text),
        sa.Column("name", sa.Text),
        sa.Column("hours", sa.Text),
        *_source(),
        _geom("POINT"),
        sa.CheckConstraint(
            "type IN ('party_center', 'red_post', 'clinic', 'elderly_care', 'kindergarten', 'school', "
            "'market', 'police', 'sports')",
            name="service_points_known_type",
        ),
    )
    op.create_table("walk_nodes", _id(), *_source(), _geom("POINT"))
    op.create_table(
        "walk_edges",
        _id(),
        _fk("source_node", "walk_nodes", nullable=False, ondelete="CASCADE"),
        _fk("target_node", "walk_nodes", nullable=False, ondelete="CASCADE"),
        sa.Column("length_m", sa.Float, sa.CheckConstraint("length_m >= 0"), nullable=False),
        sa.Column("highway", sa.Text),
        sa.Column("name", sa.Text),
        *_source(),
        _geom("LINESTRING"),
    )
    op.create_table(
        "grid_workers",
        _id(),
        sa.Column("name", sa.Text, nullable=False),
        *_source(),
    )
    op.create_table(
        "grid_worker_grids",
        _fk("worker_id", "grid_workers", nullable=False, ondelete="CASCADE"),
        _fk("grid_id", "grids", nullable=False, ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("worker_id", "grid_id"),
    )
    op.create_table(
        "import_runs",
        _id(),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("file_name", sa.Text),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("counts", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("report", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    for table in TABLES:
        if table in ("grid_worker_grids", "import_runs"):
            continue
        op.create_unique_constraint(f"{table}_source_key", table, ["source", "source_id"])
        if table not in ("center_households", "grid_workers"):
            op.create_index(f"{table}_geom_gist", table, ["geom"], postgresql_using="gist")
    for table, column in [
        ("communities", "street_id"),
        ("grids", "community_id"),
        ("buildings", "grid_id"),
        ("households", "building_id"),
        ("households", "grid_id"),
        ("walk_edges", "source_node"),
        ("walk_edges", "target_node"),
    ]:
        op.create_index(f"{table}_{column}_idx", table, [column])


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
