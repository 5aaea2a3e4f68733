"""Residents, the audit log, and row-level security on every table that holds residents' personal data.

The server connects as `gridmap_app` (docs/design.md §6): no owner, no superuser, no BYPASSRLS. Each transaction
carries its scope in two settings that api/storage/session.py sets with SET LOCAL, so that they end with the
transaction: `gridmap.user_id` (the signed-in user) and `gridmap.system` ('on' for gridmap's own jobs: imports,
the coverage refresh, the operator's CLI). With neither set, the policies let no personal row through.

The policies ask three helper functions who may see what. They are written in the form the planner runs once per
statement (``grid_id = ANY (ARRAY(SELECT …))``: an InitPlan, then an index condition) rather than once per row.
The helpers are SECURITY DEFINER with ``gridmap.system`` on while they run: they read users, places and the
中心户 run, and a policy that reads a table whose policy calls the helper again would otherwise recurse.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "gridmap_app"
PERSONAL_TABLES = ("households", "residents", "center_households", "center_assignments")

HELPERS = """
CREATE FUNCTION gridmap_user_id() RETURNS bigint LANGUAGE sql STABLE AS
$$ SELECT nullif(current_setting('gridmap.user_id', true), '')::bigint $$;

-- PL/pgSQL below, not SQL: its plans are kept for the session, where a SQL function that cannot be inlined
-- (SECURITY DEFINER, SET) is planned again at every call; a policy calls these once per statement.

-- gridmap's own jobs, or a signed-in admin: every row.
CREATE FUNCTION gridmap_is_admin(who bigint) RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp SET gridmap.system = 'on' AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM users u WHERE u.id = who AND u.role = 'admin' AND NOT u.disabled);
END $$;
CREATE FUNCTION gridmap_sees_all() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('gridmap.system', true), '') = 'on' OR gridmap_is_admin(gridmap_user_id())
$$;

-- The grids whose households a street leader, community secretary or grid worker may see: the grids inside the
-- places of their scopes (a community by its 12-digit code: street code + community code).
CREATE FUNCTION gridmap_user_grids(who bigint) RETURNS SETOF bigint LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp SET gridmap.system = 'on' AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM users u
        WHERE u.id = who AND NOT u.disabled AND u.role IN ('street_leader', 'community_secretary', 'grid_worker')
    ) THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT g.id FROM user_scopes s JOIN grids g ON g.code = s.code WHERE s.user_id = who AND s.level = 'grid'
        UNION
        SELECT g.id
        FROM user_scopes s
        JOIN streets st ON s.code LIKE st.code || '%'
        JOIN communities c ON c.street_id = st.id
        JOIN grids g ON g.community_id = c.id
        WHERE s.user_id = who
          AND ((s.level = 'community' AND s.code = st.code || c.code) OR (s.level = 'street' AND s.code = st.code));
END $$;
CREATE FUNCTION gridmap_scope_grids() RETURNS SETOF bigint LANGUAGE sql STABLE AS
$$ SELECT gridmap_user_grids(gridmap_user_id()) $$;

-- A party member's own 中心户 household and the households the latest run assigned to it.
CREATE FUNCTION gridmap_user_households(who bigint) RETURNS SETOF bigint LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = public, pg_temp SET gridmap.system = 'on' AS $$
DECLARE
    center bigint;
BEGIN
    SELECT ch.household_id INTO center
    FROM users u JOIN center_households ch ON ch.id = u.center_household_id
    WHERE u.id = who AND NOT u.disabled AND u.role = 'party_member';
    IF center IS NULL THEN
        RETURN;
    END IF;
    RETURN NEXT center;
    RETURN QUERY
        SELECT a.household_id FROM center_assignments a
        WHERE a.center_id = center AND a.household_id <> center AND a.run_id = (SELECT max(id) FROM center_runs);
END $$;
CREATE FUNCTION gridmap_scope_households() RETURNS SETOF bigint LANGUAGE sql STABLE AS
$$ SELECT gridmap_user_households(gridmap_user_id()) $$;
"""

# Who may see a household: everyone for gridmap's jobs and admins, the grids of the user's scopes, a party member's
# own 中心户 households. Writes: the same, except that party members write no household.
HOUSEHOLDS_SEE = (
    "(SELECT gridmap_sees_all()) OR grid_id = ANY (ARRAY(SELECT gridmap_scope_grids())) "
    "OR id = ANY (ARRAY(SELECT gridmap_scope_households()))"
)
HOUSEHOLDS_WRITE = "(SELECT gridmap_sees_all()) OR grid_id = ANY (ARRAY(SELECT gridmap_scope_grids()))"
# Rows about a household follow the household: one primary-key probe per row, itself under the households policy
# (an array of every visible household would be built by scanning them all, per statement).
BY_HOUSEHOLD = "(SELECT gridmap_sees_all()) OR EXISTS (SELECT 1 FROM households h WHERE h.id = household_id)"


def upgrade() -> None:
    op.create_table(
        "residents",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("household_id", sa.BigInteger, sa.ForeignKey("households.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("gender", sa.Text),
        sa.Column("birth_year", sa.Integer),
        sa.Column("phone", sa.Text),
        sa.Column("id_hash", sa.Text),  # keyed hash of the ID number, for de-duplication
        sa.Column("id_masked", sa.Text),  # 110105********1234
        sa.Column("id_number", sa.Text),  # in clear only when an admin chose to keep it
        sa.Column("tags", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("relation", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_id", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.UniqueConstraint("source", "source_id", name="residents_source_key"),
        sa.CheckConstraint("gender IS NULL OR gender IN ('男', '女')", name="residents_gender"),
        sa.CheckConstraint("birth_year IS NULL OR birth_year BETWEEN 1900 AND 2100", name="residents_birth_year"),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 64", name="residents_name_length"),
    )
    op.create_index("residents_household_idx", "residents", ["household_id"])
    op.create_index(
        "residents_id_hash_key", "residents", ["id_hash"], unique=True, postgresql_where=sa.text("id_hash IS NOT NULL")
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("user_id", sa.BigInteger),  # no foreign key: the record outlives the account
        sa.Column("login", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("object_table", sa.Text, nullable=False),
        sa.Column("object_ids", postgresql.ARRAY(sa.BigInteger), nullable=False, server_default="{}"),
        sa.Column("reason", sa.Text),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("audit_log_at_idx", "audit_log", ["at"])
    op.execute(HELPERS)
    # A page of a grid's households by id is one range of this index, whichever grids the policy lets through.
    op.create_index("households_grid_id_id_idx", "households", ["grid_id", "id"])
    op.create_index("center_assignments_center_idx", "center_assignments", ["center_id"])

    for table in PERSONAL_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY households_read ON households FOR SELECT USING ({HOUSEHOLDS_SEE})")
    for command in ("INSERT", "UPDATE", "DELETE"):
        check = f"WITH CHECK ({HOUSEHOLDS_WRITE})" if command != "DELETE" else ""
        using = f"USING ({HOUSEHOLDS_WRITE})" if command != "INSERT" else ""
        op.execute(f"CREATE POLICY households_{command.lower()} ON households FOR {command} {using} {check}")
    for table in ("residents", "center_households", "center_assignments"):
        op.execute(f"CREATE POLICY {table}_scope ON {table} USING ({BY_HOUSEHOLD}) WITH CHECK ({BY_HOUSEHOLD})")
    # Append-only for everyone but the owner; read by admins (and gridmap's jobs).
    op.execute("ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE audit_log FORCE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY audit_log_append ON audit_log FOR INSERT WITH CHECK (true)")
    op.execute("CREATE POLICY audit_log_read ON audit_log FOR SELECT USING ((SELECT gridmap_sees_all()))")

    # The server's role: reads and writes rows, owns nothing, cannot bypass row-level security.
    op.execute(
        f"""DO $$ BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOINHERIT;
            END IF;
        END $$"""
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {APP_ROLE}")
    # Derived tables that gridmap's jobs replace whole (TRUNCATE takes no row-level security: only the jobs do it).
    op.execute(f"GRANT TRUNCATE ON center_assignments, center_runs TO {APP_ROLE}")
    # The stored coverage (no personal data) is rebuilt with its indexes dropped and made again, which only an owner
    # may do, in a schema where it may create (the indexes): the server's role owns it. Owning a table of derived,
    # non-personal rows and creating objects of its own lifts no policy on the tables it does not own.
    op.execute(f"ALTER TABLE building_coverage OWNER TO {APP_ROLE}")
    op.execute(f"GRANT CREATE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"REVOKE ALL ON alembic_version FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT ON alembic_version TO {APP_ROLE}")
    # Tables of later migrations: the same rights, granted by whoever runs them.
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("ALTER TABLE building_coverage OWNER TO CURRENT_USER")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"REVOKE ALL ON SCHEMA public FROM {APP_ROLE}")
    for table in ("center_households", "center_assignments"):
        op.execute(f"DROP POLICY IF EXISTS {table}_scope ON {table}")
    for command in ("read", "insert", "update", "delete"):
        op.execute(f"DROP POLICY IF EXISTS households_{command} ON households")
    for table in ("households", "center_households", "center_assignments"):
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.drop_table("audit_log")
    op.drop_table("residents")
    op.drop_index("center_assignments_center_idx", "center_assignments")
    op.drop_index("households_grid_id_id_idx", "households")
    for function in (
        "gridmap_scope_households()",
        "gridmap_user_households(bigint)",
        "gridmap_scope_grids()",
        "gridmap_user_grids(bigint)",
        "gridmap_sees_all()",
        "gridmap_is_admin(bigint)",
        "gridmap_user_id()",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
