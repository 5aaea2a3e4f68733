"""Party members' commitments (党员承诺) and their fulfilment (践诺): the first two of the four ledgers (四本台账).

A commitment names its party member by their household (which must be a party member's, 党员户), the resident
among its members, and/or their party_member account; it is kept in the household's grid (or, for an account
without a household, the grid of the account's place) and that grid's community, so that row-level security scopes
it like the field-work tables of migration 0009: gridmap's jobs and admins see all, the others the grids of their
places; a party member the households of their 中心户 and their own commitments.

What ties a commitment to a party member is checked by a trigger (a CHECK cannot read other tables) when a row is
written, not when a household or resident it names is deleted: those references are SET NULL, so a re-import that
drops a household loses no commitment.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("made", "fulfilled", "cancelled")  # 已承诺 (践诺中), 已践诺, 已撤销
GRID_OR_HOUSEHOLD = (
    "(SELECT gridmap_sees_all()) OR grid_id = ANY (ARRAY(SELECT gridmap_scope_grids())) "
    "OR household_id = ANY (ARRAY(SELECT gridmap_scope_households()))"
)
ME = "(SELECT gridmap_user_id())"

# Who the commitment is of, checked on every insert and on every change of whom it names (a reference set to NULL
# by a deletion is not checked: the commitment outlives the household). The grid and community follow the
# household when not given. SECURITY DEFINER with gridmap.system on: it reads households, residents and users
# whatever the writer may see, as migration 0007's helpers do.
CHECK_FUNCTION = """
CREATE FUNCTION gridmap_commitment_member() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp SET gridmap.system = 'on' AS $$
DECLARE
    party boolean;
    household_grid bigint;
BEGIN
    IF TG_OP = 'INSERT' AND NEW.household_id IS NULL AND NEW.user_id IS NULL THEN
        RAISE EXCEPTION 'a commitment names its party member: a household or a party_member account'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'commitments_member';
    END IF;
    IF NEW.household_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.household_id IS DISTINCT FROM OLD.household_id) THEN
        SELECT h.is_party_member, h.grid_id INTO party, household_grid FROM households h WHERE h.id = NEW.household_id;
        IF NOT coalesce(party, false) THEN
            RAISE EXCEPTION 'household % is not a party member''s household', NEW.household_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'commitments_party_household';
        END IF;
        IF NEW.grid_id IS NULL THEN
            NEW.grid_id := household_grid;
        END IF;
    END IF;
    IF NEW.user_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.user_id IS DISTINCT FROM OLD.user_id)
       AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = NEW.user_id AND u.role = 'party_member') THEN
        RAISE EXCEPTION 'user % is not a party member', NEW.user_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'commitments_party_user';
    END IF;
    IF NEW.resident_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.resident_id IS DISTINCT FROM OLD.resident_id)
       AND NOT EXISTS (
           SELECT 1 FROM residents r WHERE r.id = NEW.resident_id AND r.household_id = NEW.household_id
       ) THEN
        RAISE EXCEPTION 'resident % is not of household %', NEW.resident_id, NEW.household_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'commitments_resident_household';
    END IF;
    IF NEW.community_id IS NULL AND NEW.grid_id IS NOT NULL THEN
        SELECT g.community_id INTO NEW.community_id FROM grids g WHERE g.id = NEW.grid_id;
    END IF;
    RETURN NEW;
END $$;
"""


def _ref(name: str, table: str, *, ondelete: str = "SET NULL") -> sa.Column:
    return sa.Column(name, sa.BigInteger, sa.ForeignKey(f"{table}.id", ondelete=ondelete))


def _at(name: str, *, default: bool = False, nullable: bool = True) -> sa.Column:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=sa.func.now() if default else None
    )


def upgrade() -> None:
    op.create_table(
        "commitments",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        _ref("household_id", "households"),  # the party member's household (党员户)
        _ref("resident_id", "residents"),  # the party member among its residents (the name on the board)
        _ref("user_id", "users"),  # or their party_member account
        _ref("grid_id", "grids"),  # kept in: the household's grid, else the account's
        _ref("community_id", "communities"),
        sa.Column("year", sa.SmallInteger, nullable=False),  # the year of the commitment (年度承诺)
        sa.Column("content", sa.Text, nullable=False),  # 承诺内容
        _at("made_at", default=True, nullable=False),  # 承诺时间
        sa.Column("promised_by", sa.Date, nullable=False),  # 承诺期限
        sa.Column("state", sa.Text, nullable=False, server_default="made"),
        _at("fulfilled_at"),  # 践诺时间
        sa.Column("fulfilment_note", sa.Text),  # 践诺情况
        _ref("created_by", "users"),
        _at("created_at", default=True, nullable=False),
        _at("updated_at", default=True, nullable=False),
        sa.Column("source", sa.Text, nullable=False, server_default="api"),  # 'api' or 'sample'
        sa.Column("source_id", sa.Text),
        sa.CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")", name="commitments_state"),
        sa.CheckConstraint("(state = 'fulfilled') = (fulfilled_at IS NOT NULL)", name="commitments_fulfilled_at"),
        sa.CheckConstraint("length(content) BETWEEN 1 AND 2000", name="commitments_content_length"),
        sa.CheckConstraint("fulfilment_note IS NULL OR length(fulfilment_note) <= 2000", name="commitments_note"),
        sa.CheckConstraint("year BETWEEN 2000 AND 2100", name="commitments_year"),
    )
    op.create_index("commitments_grid_made_idx", "commitments", ["grid_id", "made_at"])
    op.create_index("commitments_grid_fulfilled_idx", "commitments", ["grid_id", "fulfilled_at"])
    op.create_index("commitments_household_idx", "commitments", ["household_id"])
    op.create_index("commitments_user_idx", "commitments", ["user_id"])
    op.create_index(
        "commitments_source_key",
        "commitments",
        ["source", "source_id"],
        unique=True,
        postgresql_where=sa.text("source_id IS NOT NULL"),
    )
    op.execute(CHECK_FUNCTION)
    op.execute(
        "CREATE TRIGGER commitments_member BEFORE INSERT OR UPDATE OF household_id, user_id, resident_id, grid_id "
        "ON commitments FOR EACH ROW EXECUTE FUNCTION gridmap_commitment_member()"
    )
    op.execute("ALTER TABLE commitments ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE commitments FORCE ROW LEVEL SECURITY")
    see = f"{GRID_OR_HOUSEHOLD} OR user_id = {ME}"
    op.execute(f"CREATE POLICY commitments_scope ON commitments USING ({see}) WITH CHECK ({see})")
    # The 践诺 and 意见诉求 ledgers read a place's requests by when they were completed.
    op.create_index("requests_completed_idx", "requests", ["grid_id", "completed_at"])


def downgrade() -> None:
    op.drop_index("requests_completed_idx", "requests")
    op.drop_table("commitments")  # its trigger and policy with it
    op.execute("DROP FUNCTION IF EXISTS gridmap_commitment_member()")
