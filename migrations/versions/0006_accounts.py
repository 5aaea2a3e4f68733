"""Accounts: users with one role and their places (scopes), sign-in sessions, and failed sign-ins.

Passwords are stored only as argon2 hashes and session tokens only as SHA-256 hashes, so a copy of the database
signs nobody in. `sign_in_failures` is in the database rather than in memory so that the sign-in limits hold
across every server process. A community scope's code is the full 12-digit code (street code + community code):
community codes alone repeat from street to street.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = ("admin", "street_leader", "community_secretary", "grid_worker", "party_member", "planner")
LEVELS = ("street", "community", "grid")
SESSION_KINDS = ("refresh", "browser")


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("login", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        _now("created_at"),
        _now("password_changed_at"),
        sa.Column(
            "center_household_id",
            sa.BigInteger,
            sa.ForeignKey("center_households.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.CheckConstraint(_in("role", ROLES), name="users_known_role"),
        sa.CheckConstraint("length(login) BETWEEN 1 AND 64", name="users_login_length"),
        sa.CheckConstraint(
            "center_household_id IS NULL OR role = 'party_member'", name="users_center_household_party_member"
        ),
    )
    op.create_index("users_login_key", "users", [sa.text("lower(login)")], unique=True)
    op.create_table(
        "user_scopes",
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "level", "code"),
        sa.CheckConstraint(_in("level", LEVELS), name="user_scopes_known_level"),
    )
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        # one sign-in: every refresh token rotated from it shares the family, and so does its access token (sid)
        sa.Column("family_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("token_hash", sa.LargeBinary, nullable=False, unique=True),  # SHA-256 of the token, never it
        _now("created_at"),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("user_agent", sa.Text),
        sa.Column("address", sa.Text),
        sa.CheckConstraint(_in("kind", SESSION_KINDS), name="auth_sessions_known_kind"),
        sa.CheckConstraint("length(token_hash) = 32", name="auth_sessions_sha256"),
    )
    op.create_index("auth_sessions_family_idx", "auth_sessions", ["family_id"])
    op.create_index("auth_sessions_user_idx", "auth_sessions", ["user_id"])
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("login", sa.Text, nullable=False),  # lower-cased, as typed: also logins that do not exist
        sa.Column("address", sa.Text, nullable=False),
        _now("at"),
    )
    op.create_index("sign_in_failures_login_idx", "sign_in_failures", ["login", "at"])
    op.create_index("sign_in_failures_address_idx", "sign_in_failures", ["address", "at"])
    op.create_index("sign_in_failures_at_idx", "sign_in_failures", ["at"])


def downgrade() -> None:
    for table in ("sign_in_failures", "auth_sessions", "user_scopes", "users"):
        op.drop_table(table)
