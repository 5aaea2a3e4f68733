"""Field work: visit rules and visits (走访, 三必到五必访), photos, hazards (隐患) and residents' requests (诉求 and
微心愿, 点单 → 下单 → 接单 → 评单) with the history of every case, and the partner apps that post requests
through Open311.

Every row here is about residents or their places, so row-level security scopes it like households (migration
0007): gridmap's jobs and admins see all, the others the grids of their places; a party member the households of
their 中心户 and what they did or were given themselves. Places and households are referred to with ON DELETE
SET NULL: a re-import that drops a grid or household loses no history (such rows are then seen by admins only).

Vocabularies that users may extend (visit rules, hazard categories, request services) are tables, seeded here
with the defaults of ../shared/domain.md §2–3; states are CHECKed lists, since code follows them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELD_ROLES = ("admin", "street_leader", "community_secretary", "grid_worker", "party_member")
VISIT_KINDS = ("routine", "care", "help", "attend")  # 例行走访, 关爱走访, 帮扶, 必到 (emergency, dispute, anger)
HAZARD_STATES = (
    "reported",  # 已上报
    "accepted",  # 已受理 / 立案
    "dispatched",  # 已派遣
    "rectifying",  # 整改中
    "rectified",  # 已整改, awaiting check
    "verified",  # 已核查
    "closed",  # 已结案
    "sent_back",  # 回退
    "suspended",  # 挂起
    "rejected",  # 不予立案
)
REQUEST_STATES = (
    "submitted",  # 居民点单
    "dispatched",  # 支部下单
    "accepted",  # 党员接单
    "completed",  # 已办结, awaiting the resident's rating (群众评单)
    "closed",  # 已关闭 (rated, or closed without a rating)
    "rejected",  # 不予受理
    "duplicate",  # 重复, merged into another request
)
SEVERITIES = ("low", "medium", "high")

# 三必到五必访 as default rules (community_id NULL): tag → interval → the role whose visit counts. domain.md §2;
# the 三级包抓 split puts the very old, the disabled and families with infants with ordinary party members.
DEFAULT_VISIT_RULES = (
    # tag, role, interval days, kind, label
    ("hardship", "grid_worker", 30, "routine", "困难家庭 每月走访 (组长)"),
    ("hardship", "community_secretary", 91, "routine", "困难家庭 每季度走访 (支部书记)"),
    ("hardship", "street_leader", 365, "routine", "困难家庭 每年走访 (党委)"),
    ("hospitalized", "grid_worker", 7, "care", "住院人员 住院期间每周探望"),
    ("unemployed", "grid_worker", 30, "routine", "失业人员 经常走访 (组长)"),
    ("unemployed", "community_secretary", 30, "routine", "失业人员 每月走访 (支部书记)"),
    ("released", "grid_worker", 182, "routine", "刑满释放人员 每半年走访"),
    ("elderly_alone", "grid_worker", 7, "routine", "独居老人 每周走访"),
    ("elderly_alone", "community_secretary", 182, "care", "独居老人 每半年关爱走访"),
    ("aged_80", "party_member", 30, "routine", "高龄老人 每月走访 (党员)"),
    ("disabled", "party_member", 30, "routine", "残疾人 每月走访 (党员)"),
    ("infant", "party_member", 30, "routine", "婴幼儿家庭 每月走访 (党员)"),
)

# 隐患 categories with their deadline (整改时限, hours), after the urban-management event taxonomy (GB/T 30428.2
# lineage, domain.md §3) where it has a code.
HAZARD_CATEGORIES = (
    # code, name, deadline hours, standard code
    ("fire_lane", "占用消防通道", 24, "09012"),
    ("gas", "燃气隐患", 24, None),
    ("electric", "电气线路 / 飞线充电", 72, None),
    ("structure", "房屋结构安全", 168, None),
    ("falling_objects", "高空坠物", 72, None),
    ("flooding", "积水内涝", 48, None),
    ("sanitation", "环境卫生 / 暴露垃圾", 72, "06010"),
    ("public_facility", "公共设施损坏", 168, None),
    ("other", "其他隐患", 168, None),
)

# Request services (Open311 service_code), after the community-governance taxonomy of domain.md §3, plus 微心愿.
SERVICES = (
    # code, name, group, kind, deadline hours, description
    ("livelihood", "民生服务", "民生服务", "request", 120, "生活困难、办事咨询、邻里互助等民生诉求"),
    ("dispute", "矛盾劝解", "矛盾劝解", "request", 72, "邻里纠纷、家庭矛盾的调解"),
    ("security", "治安防控", "治安防控", "request", 48, "治安隐患、可疑情况"),
    ("special_groups", "特殊人群", "特殊人群", "request", 72, "独居老人、残疾人等特殊人群的关爱需求"),
    ("opinion", "社情民意", "社情民意", "request", 168, "对社区工作的意见建议"),
    ("environment", "环境卫生", "市容环境", "request", 72, "垃圾、绿化、楼道堆物等环境问题"),
    ("facility", "公共设施", "市容环境", "request", 168, "路灯、座椅、健身器材等设施报修"),
    ("micro_wish", "微心愿", "微心愿", "micro_wish", 336, "居民的小愿望，由党员认领实现"),
)

# Who may see a row about a place: gridmap's jobs and admins, the grids of the user's places, a party member's
# 中心户 households (migration 0007's helpers).
GRID_OR_HOUSEHOLD = (
    "(SELECT gridmap_sees_all()) OR grid_id = ANY (ARRAY(SELECT gridmap_scope_grids())) "
    "OR household_id = ANY (ARRAY(SELECT gridmap_scope_households()))"
)
ME = "(SELECT gridmap_user_id())"


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)


def _ref(name: str, table: str, *, nullable: bool = True, ondelete: str = "SET NULL") -> sa.Column:
    return sa.Column(name, sa.BigInteger, sa.ForeignKey(f"{table}.id", ondelete=ondelete), nullable=nullable)


def _at(name: str, *, default: bool = False, nullable: bool = True) -> sa.Column:
    server_default = sa.func.now() if default else None
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, server_default=server_default)


def _point(nullable: bool) -> sa.Column:
    return sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=nullable)


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _history(name: str, case_table: str, states: Sequence[str]) -> None:
    """A case's history: one row per version, written in the transaction that changes the case."""
    op.create_table(
        name,
        _id(),
        _ref("case_id", case_table, nullable=False, ondelete="CASCADE"),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("from_state", sa.Text),
        sa.Column("to_state", sa.Text, nullable=False),
        _ref("user_id", "users"),
        sa.Column("role", sa.Text),
        _at("at", default=True, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.UniqueConstraint("case_id", "version", name=f"{name}_version_key"),
        sa.CheckConstraint(_in("to_state", states), name=f"{name}_state"),
    )


def upgrade() -> None:
    op.create_table(
        "visit_rules",
        _id(),
        # NULL: the default of every community; a community's own rule replaces the default of its (tag, role, kind)
        _ref("community_id", "communities", ondelete="CASCADE"),
        sa.Column("tag", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("interval_days", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False, server_default="routine"),
        sa.Column("label", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.CheckConstraint("interval_days BETWEEN 1 AND 3660", name="visit_rules_interval"),
        sa.CheckConstraint(_in("role", FIELD_ROLES), name="visit_rules_role"),
        sa.CheckConstraint(_in("kind", VISIT_KINDS), name="visit_rules_kind"),
    )
    op.execute("CREATE UNIQUE INDEX visit_rules_key ON visit_rules (coalesce(community_id, 0), tag, role, kind)")
    rules = sa.table(
        "visit_rules",
        sa.column("tag"),
        sa.column("role"),
        sa.column("interval_days"),
        sa.column("kind"),
        sa.column("label"),
    )
    op.bulk_insert(
        rules,
        [
            {"tag": t, "role": r, "interval_days": d, "kind": k, "label": label}
            for t, r, d, k, label in DEFAULT_VISIT_RULES
        ],
    )

    op.create_table(
        "photos",
        sa.Column("sha256", sa.Text, primary_key=True),  # hex of the content: the same photo is stored once
        sa.Column("media_type", sa.Text, nullable=False),
        sa.Column("bytes", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        _ref("uploaded_by", "users"),
        _at("uploaded_at", default=True, nullable=False),
        sa.CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="photos_sha256"),
        sa.CheckConstraint("media_type IN ('image/jpeg', 'image/png', 'image/webp')", name="photos_media_type"),
        sa.CheckConstraint("bytes = octet_length(content)", name="photos_bytes"),
    )

    op.create_table(
        "visits",
        _id(),
        sa.Column("client_id", sa.Uuid, nullable=False, unique=True),  # made by the phone: a retry is the same visit
        _ref("household_id", "households"),
        _ref("grid_id", "grids"),  # the household's grid when the visit was logged
        _ref("user_id", "users"),  # who visited
        sa.Column("role", sa.Text),  # their role then: visit rules count the visits of a role
        sa.Column("kind", sa.Text, nullable=False, server_default="routine"),
        _at("visited_at", nullable=False),
        _at("received_at", default=True, nullable=False),
        _point(nullable=True),
        sa.Column("distance_m", sa.Float),  # from the household's building
        sa.Column("far", sa.Boolean, nullable=False, server_default=sa.false()),  # flagged: > 200 m away
        sa.Column("notes", sa.Text),
        sa.Column("photo_sha256", sa.Text, sa.ForeignKey("photos.sha256")),
        sa.Column("payload_sha256", sa.Text, nullable=False),  # of the request as sent: a retry must match it
        sa.CheckConstraint(_in("kind", VISIT_KINDS), name="visits_kind"),
    )
    op.create_index("visits_household_idx", "visits", ["household_id", "visited_at"])
    op.create_index("visits_grid_idx", "visits", ["grid_id", "visited_at"])
    op.execute("CREATE INDEX visits_location_idx ON visits USING gist (location)")

    op.create_table(
        "hazard_categories",
        sa.Column("code", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("deadline_hours", sa.Integer, nullable=False),
        sa.Column("standard_code", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.CheckConstraint("deadline_hours BETWEEN 1 AND 8760", name="hazard_categories_deadline"),
    )
    categories = sa.table(
        "hazard_categories",
        sa.column("code"),
        sa.column("name"),
        sa.column("deadline_hours"),
        sa.column("standard_code"),
    )
    op.bulk_insert(
        categories,
        [{"code": c, "name": n, "deadline_hours": h, "standard_code": s} for c, n, h, s in HAZARD_CATEGORIES],
    )
    op.create_table(
        "hazards",
        _id(),
        sa.Column("client_id", sa.Uuid, unique=True),  # made by the phone for an entry sent offline
        sa.Column("category", sa.Text, sa.ForeignKey("hazard_categories.code"), nullable=False),
        sa.Column("severity", sa.Text, nullable=False, server_default="medium"),
        _ref("grid_id", "grids"),
        _ref("building_id", "buildings"),
        _ref("household_id", "households"),
        _point(nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("photo_sha256", sa.Text, sa.ForeignKey("photos.sha256")),
        sa.Column("state", sa.Text, nullable=False, server_default="reported"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        _ref("reported_by", "users"),
        _at("reported_at", default=True, nullable=False),
        _at("deadline", nullable=False),  # 整改时限: reported_at + the category's hours, moved by extensions
        sa.Column("extensions", sa.Integer, nullable=False, server_default="0"),
        sa.Column("assigned_unit", sa.Text),  # the department or unit it was dispatched to
        _ref("assigned_user_id", "users"),
        _at("updated_at", default=True, nullable=False),
        _at("closed_at"),
        sa.Column("payload_sha256", sa.Text),
        sa.CheckConstraint(_in("state", HAZARD_STATES), name="hazards_state"),
        sa.CheckConstraint(_in("severity", SEVERITIES), name="hazards_severity"),
        sa.CheckConstraint("version >= 1", name="hazards_version"),
    )
    op.create_index("hazards_grid_idx", "hazards", ["grid_id", "reported_at"])
    op.execute("CREATE INDEX hazards_location_idx ON hazards USING gist (location)")
    _history("hazard_history", "hazards", HAZARD_STATES)

    op.create_table(
        "services",
        sa.Column("code", sa.Text, primary_key=True),  # Open311 service_code
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("group_name", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("deadline_hours", sa.Integer, nullable=False),  # 办结时限 → Open311 expected_datetime
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("keywords", postgresql.ARRAY(sa.Text), nullable=False, server_default="{}"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.CheckConstraint("kind IN ('request', 'micro_wish')", name="services_kind"),
        sa.CheckConstraint("deadline_hours BETWEEN 1 AND 8760", name="services_deadline"),
    )
    services = sa.table(
        "services",
        sa.column("code"),
        sa.column("name"),
        sa.column("group_name"),
        sa.column("kind"),
        sa.column("deadline_hours"),
        sa.column("description"),
    )
    op.bulk_insert(
        services,
        [
            {"code": c, "name": n, "group_name": g, "kind": k, "deadline_hours": h, "description": d}
            for c, n, g, k, h, d in SERVICES
        ],
    )
    op.create_table(
        "open311_partners",
        _id(),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("key_hash", sa.LargeBinary, nullable=False, unique=True),  # SHA-256 of the api_key, never it
        _at("created_at", default=True, nullable=False),
        _at("revoked_at"),
    )
    op.create_table(
        "requests",
        _id(),
        sa.Column("client_id", sa.Uuid, unique=True),  # from a phone or a partner app: a retry is the same request
        sa.Column("service_code", sa.Text, sa.ForeignKey("services.code"), nullable=False),
        _ref("grid_id", "grids"),
        _ref("building_id", "buildings"),
        _ref("household_id", "households"),
        _ref("resident_id", "residents"),
        _point(nullable=False),
        sa.Column("address", sa.Text),
        sa.Column("description", sa.Text, nullable=False),
        # the requester when not a stored resident (a partner app's user): personal, never in Open311 output
        sa.Column("requester_name", sa.Text),
        sa.Column("requester_phone", sa.Text),
        sa.Column("source", sa.Text, nullable=False),  # 'worker', 'open311', 'sample'
        _ref("partner_id", "open311_partners"),
        _ref("reported_by", "users"),
        sa.Column("state", sa.Text, nullable=False, server_default="submitted"),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("status_notes", sa.Text),
        _ref("assigned_user_id", "users"),  # the party member who takes it (党员接单)
        sa.Column("assigned_unit", sa.Text),  # or a co-building unit (共建单位)
        _ref("duplicate_of", "requests"),
        _at("requested_at", default=True, nullable=False),
        _at("deadline", nullable=False),  # 办结时限
        _at("dispatched_at"),
        _at("accepted_at"),
        _at("completed_at"),
        _at("closed_at"),
        _at("updated_at", default=True, nullable=False),
        sa.Column("rating", sa.SmallInteger),
        sa.Column("rating_comment", sa.Text),
        sa.Column("payload_sha256", sa.Text),
        sa.CheckConstraint(_in("state", REQUEST_STATES), name="requests_state"),
        sa.CheckConstraint("rating IS NULL OR rating BETWEEN 1 AND 5", name="requests_rating"),
        sa.CheckConstraint("version >= 1", name="requests_version"),
    )
    op.create_index("requests_grid_idx", "requests", ["grid_id", "requested_at"])
    op.create_index("requests_assigned_idx", "requests", ["assigned_user_id"])
    op.create_index("requests_service_time_idx", "requests", ["service_code", "requested_at"])
    op.execute("CREATE INDEX requests_location_idx ON requests USING gist (location)")
    _history("request_history", "requests", REQUEST_STATES)

    # Row-level security. Visits: the grid or household policy, plus one's own visits. Hazards and requests: the
    # same, plus what one reported or was given.
    personal = ("visits", "hazards", "hazard_history", "requests", "request_history", "photos")
    for table in personal:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    visits_see = f"{GRID_OR_HOUSEHOLD} OR user_id = {ME}"
    op.execute(f"CREATE POLICY visits_scope ON visits USING ({visits_see}) WITH CHECK ({visits_see})")
    hazards_see = f"{GRID_OR_HOUSEHOLD} OR reported_by = {ME} OR assigned_user_id = {ME}"
    op.execute(f"CREATE POLICY hazards_scope ON hazards USING ({hazards_see}) WITH CHECK ({hazards_see})")
    requests_see = f"{GRID_OR_HOUSEHOLD} OR reported_by = {ME} OR assigned_user_id = {ME}"
    op.execute(f"CREATE POLICY requests_scope ON requests USING ({requests_see}) WITH CHECK ({requests_see})")
    for history, case in (("hazard_history", "hazards"), ("request_history", "requests")):
        follows = f"(SELECT gridmap_sees_all()) OR EXISTS (SELECT 1 FROM {case} c WHERE c.id = case_id)"
        op.execute(f"CREATE POLICY {history}_scope ON {history} USING ({follows}) WITH CHECK ({follows})")
        # a case's history is appended to, never rewritten
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {history} FROM gridmap_app")
    # A photo: seen by who uploaded it and by whoever sees a visit or hazard showing it.
    photos_see = (
        f"(SELECT gridmap_sees_all()) OR uploaded_by = {ME} "
        "OR EXISTS (SELECT 1 FROM visits v WHERE v.photo_sha256 = sha256) "
        "OR EXISTS (SELECT 1 FROM hazards h WHERE h.photo_sha256 = sha256)"
    )
    op.execute(f"CREATE POLICY photos_read ON photos FOR SELECT USING ({photos_see})")
    op.execute(
        "CREATE POLICY photos_insert ON photos FOR INSERT "
        f"WITH CHECK ((SELECT gridmap_sees_all()) OR uploaded_by = {ME})"
    )


def downgrade() -> None:
    op.execute("DROP POLICY IF EXISTS photos_read ON photos")  # it reads visits and hazards
    for table in (
        "request_history",
        "requests",
        "open311_partners",
        "services",
        "hazard_history",
        "hazards",
        "hazard_categories",
        "visits",
        "photos",
        "visit_rules",
    ):
        op.drop_table(table)
