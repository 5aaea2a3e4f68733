"""Field-work rows are written only inside the writer's places, by the database as well as the API.

Migration 0009 gave visits, hazards and requests one policy for reading and writing, so that what a user may see
(their places' rows, and also what they reported or were given) was also what they could insert: a user could
insert a hazard or request in any grid by naming themselves as its reporter. Reading stays as it was; INSERT and
DELETE now need the row's grid to be one of the user's (or, for a party member, a grid of their scopes or of their
中心户's households; for a visit, one of those households), and an UPDATE may not move a row out of what the user sees.
A partner app's own policy on requests (migration 0012) is unchanged: it posts where residents ask.

Also the indexes behind the references of hazards and requests to households, buildings, residents and other
requests: without them each household a re-import drops scans both tables (ON DELETE SET NULL).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HELPERS = """
-- Where a party member may report what they find: the grids of their scopes and of their 中心户's households.
CREATE FUNCTION gridmap_party_member_grids(who bigint) RETURNS SETOF bigint LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = public, pg_temp SET gridmap.system = 'on' AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = who AND NOT u.disabled AND u.role = 'party_member') THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT g.id FROM user_scopes s JOIN grids g ON g.code = s.code WHERE s.user_id = who AND s.level = 'grid'
        UNION
        SELECT h.grid_id FROM households h
        WHERE h.id IN (SELECT gridmap_user_households(who)) AND h.grid_id IS NOT NULL;
END $$;
CREATE FUNCTION gridmap_scope_party_member_grids() RETURNS SETOF bigint LANGUAGE sql STABLE AS
$$ SELECT gridmap_party_member_grids(gridmap_user_id()) $$;
"""

ALL = "(SELECT gridmap_sees_all())"
ME = "(SELECT gridmap_user_id())"
GRIDS = "grid_id = ANY (ARRAY(SELECT gridmap_scope_grids()))"
HOUSEHOLDS = "household_id = ANY (ARRAY(SELECT gridmap_scope_households()))"
MEMBER_GRIDS = "grid_id = ANY (ARRAY(SELECT gridmap_scope_party_member_grids()))"

# table: (who sees a row — migration 0009's policy, unchanged —, who may write one)
POLICIES = {
    "visits": (f"{ALL} OR {GRIDS} OR {HOUSEHOLDS} OR user_id = {ME}", f"{ALL} OR {GRIDS} OR {HOUSEHOLDS}"),
    "hazards": (
        f"{ALL} OR {GRIDS} OR {HOUSEHOLDS} OR reported_by = {ME} OR assigned_user_id = {ME}",
        f"{ALL} OR {GRIDS} OR {MEMBER_GRIDS}",
    ),
    "requests": (
        f"{ALL} OR {GRIDS} OR {HOUSEHOLDS} OR reported_by = {ME} OR assigned_user_id = {ME}",
        f"{ALL} OR {GRIDS} OR {MEMBER_GRIDS}",
    ),
}


REFERENCES = {
    "hazards": ("household_id", "building_id"),
    "requests": ("household_id", "building_id", "resident_id", "duplicate_of"),
}


def upgrade() -> None:
    op.execute(HELPERS)
    for table, columns in REFERENCES.items():
        for column in columns:
            op.execute(f"CREATE INDEX {table}_{column}_idx ON {table} ({column}) WHERE {column} IS NOT NULL")
    for table, (see, write) in POLICIES.items():
        op.execute(f"DROP POLICY {table}_scope ON {table}")
        op.execute(f"CREATE POLICY {table}_read ON {table} FOR SELECT USING ({see})")
        # an assignee or reporter outside the grid updates the case (its workflow checks who may do what)
        op.execute(f"CREATE POLICY {table}_update ON {table} FOR UPDATE USING ({see}) WITH CHECK ({see})")
        op.execute(f"CREATE POLICY {table}_insert ON {table} FOR INSERT WITH CHECK ({write})")
        op.execute(f"CREATE POLICY {table}_delete ON {table} FOR DELETE USING ({write})")


def downgrade() -> None:
    for table, columns in REFERENCES.items():
        for column in columns:
            op.execute(f"DROP INDEX IF EXISTS {table}_{column}_idx")
    for table, (see, _) in POLICIES.items():
        for command in ("read", "update", "insert", "delete"):
            op.execute(f"DROP POLICY IF EXISTS {table}_{command} ON {table}")
        op.execute(f"CREATE POLICY {table}_scope ON {table} USING ({see}) WITH CHECK ({see})")
    op.execute("DROP FUNCTION IF EXISTS gridmap_scope_party_member_grids()")
    op.execute("DROP FUNCTION IF EXISTS gridmap_party_member_grids(bigint)")
