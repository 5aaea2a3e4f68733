"""The four ledgers (四本台账): each one's title, sheet and Chinese columns, and its rows from the records
api.storage.ledgers reads. Pure: records in, cell values out.

Names: a party member's name is shown masked (张*明) unless the reader may unmask and asked to (api.routers.ledgers:
the account's permission and a reason, audited). A commitments board is public within its community, but the name
comes from the residents' register, which is personal data; the masked form tells members apart on the board.
No ledger has a resident's name: the hardship ledger names the household by its address (楼栋 单元 房号).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from api.ledgers.workbook import Column
from api.privacy import mask_name
from api.residents.vocabulary import TAG_LABELS

COMMITMENT_STATES = {"made": "践诺中", "fulfilled": "已践诺", "cancelled": "已撤销"}
OVERDUE = "逾期未践诺"
REQUEST_STATES = {
    "submitted": "待派单",  # 居民点单
    "dispatched": "已派单",  # 支部下单
    "accepted": "办理中",  # 党员接单
    "completed": "已办结",  # awaiting the resident's rating
    "closed": "已关闭",
    "rejected": "不予受理",
    "duplicate": "重复件",
}
VISIT_KINDS = {"routine": "例行走访", "care": "关爱走访", "help": "帮扶", "attend": "必到"}
ROLE_LABELS = {
    "admin": "管理员",
    "street_leader": "街道",
    "community_secretary": "社区书记",
    "grid_worker": "网格员",
    "party_member": "党员",
    "planner": "规划",
}

Row = Sequence[object]


@dataclass(frozen=True)
class Ledger:
    name: str  # in the URL and the CLI
    title: str  # 台账名称, in the title row
    sheet: str
    columns: tuple[Column, ...]
    rows: Callable[..., list[Row]]  # (records, *, unmasked, today) -> rows


def _name(name: str | None, unmasked: bool, login: str | None = None) -> str | None:
    """A party member's name as the ledger shows it; their account's login when no resident names them."""
    if name:
        return name if unmasked else str(mask_name(name))
    return login


def _grid(record: dict) -> str | None:
    return record.get("grid_name") or record.get("grid_code")


def _handler(record: dict, unmasked: bool) -> str | None:
    """Who handles a request: the co-building unit (共建单位), or the assigned user (a party member by name)."""
    if record.get("assigned_unit"):
        return record["assigned_unit"]
    role = record.get("handler_role")
    if role is None:
        return None
    who = _name(record.get("handler_name"), unmasked, record.get("handler_login"))
    return f"{ROLE_LABELS.get(role, role)} {who}" if who else ROLE_LABELS.get(role, role)


def commitment_state(record: dict, today: date) -> str:
    state = record["state"]
    if state == "made" and record["promised_by"] < today:
        return OVERDUE
    return COMMITMENT_STATES.get(state, state)


def commitment_rows(records: list[dict], *, unmasked: bool, today: date) -> list[Row]:
    return [
        (
            i,
            _name(r["member_name"], unmasked, r.get("member_login")),
            _grid(r),
            r["content"],
            r["made_at"],
            r["promised_by"],
            commitment_state(r, today),
        )
        for i, r in enumerate(records, start=1)
    ]


def fulfilment_rows(records: list[dict], *, unmasked: bool, today: date) -> list[Row]:
    rows: list[Row] = []
    for i, r in enumerate(records, start=1):
        kind = "承诺践诺" if r["kind"] == "commitment" else "为民办事"
        who = _name(r["member_name"], unmasked, r.get("member_login"))
        rows.append((i, kind, who, _grid(r), r["content"], r["started_at"], r["done_at"], r["note"], r["rating"]))
    return rows


def _address(record: dict) -> str:
    """楼栋 单元 房号, as a register writes a household (a unit stored as "2" is written 2单元; "2单元" as it is)."""
    unit = str(record.get("unit") or "")
    unit = f"{unit}单元" if unit.isdigit() else unit
    return " ".join(p for p in (record.get("building") or "", unit, record["room"] or "") if p)


def _tags(tags: list[str]) -> str:
    return "、".join(TAG_LABELS.get(t, t) for t in tags)


def last_help(record: dict) -> str | None:
    """What the latest help was: the kind of visit and its notes, or the request completed."""
    what = record.get("last_help_kind")
    if what is None:
        return None
    if what == "request":
        label = f"办结诉求（{record.get('last_help_service') or ''}）"
    else:
        label = VISIT_KINDS.get(what, what)
    detail = record.get("last_help_text")
    return f"{label}：{detail}" if detail else label


def hardship_rows(records: list[dict], *, unmasked: bool, today: date) -> list[Row]:
    return [
        (
            i,
            _address(r),
            _grid(r),
            r["size"],
            _tags(r["tags"]),
            r["visits"],
            r["help_count"],
            r["last_help_at"],
            last_help(r),
        )
        for i, r in enumerate(records, start=1)
    ]


def request_rows(records: list[dict], *, unmasked: bool, today: date) -> list[Row]:
    return [
        (
            r["id"],
            r["requested_at"],
            r["category"],
            r["place"],
            r["description"],
            _handler(r, unmasked),
            REQUEST_STATES.get(r["state"], r["state"]),
            r["done_at"],
            r["rating"],
        )
        for r in records
    ]


SEQ = Column("序号", 6, "int")
MEMBER = Column("党员姓名", 12)
GRID = Column("所在网格", 22)
LEDGERS: dict[str, Ledger] = {
    "commitments": Ledger(
        "commitments",
        "党员承诺台账",
        "承诺",
        (
            SEQ,
            MEMBER,
            GRID,
            Column("承诺内容", 48),
            Column("承诺时间", 17, "datetime"),
            Column("承诺期限", 12, "date"),
            Column("状态", 12),
        ),
        commitment_rows,
    ),
    "fulfilment": Ledger(
        "fulfilment",
        "党员践诺台账",
        "践诺",
        (
            SEQ,
            Column("类型", 10),
            MEMBER,
            GRID,
            Column("承诺/诉求内容", 44),
            Column("承诺/受理时间", 17, "datetime"),
            Column("践诺/办结时间", 17, "datetime"),
            Column("践诺情况", 40),
            Column("满意度", 8, "int"),
        ),
        fulfilment_rows,
    ),
    "hardship": Ledger(
        "hardship",
        "困难群众帮扶台账",
        "困难群众帮扶",
        (
            SEQ,
            Column("户（楼栋 单元 房号）", 28),
            Column("网格", 22),
            Column("人数", 6, "int"),
            Column("标签", 24),
            Column("走访次数", 9, "int"),
            Column("帮扶次数", 9, "int"),
            Column("最近帮扶日期", 17, "datetime"),
            Column("最近帮扶内容", 44),
        ),
        hardship_rows,
    ),
    "requests": Ledger(
        "requests",
        "居民意见诉求台账",
        "意见诉求",
        (
            Column("编号", 9, "int"),
            Column("受理时间", 17, "datetime"),
            Column("类别", 12),
            Column("地点", 24),
            Column("诉求内容", 44),
            Column("办理人/单位", 20),
            Column("状态", 10),
            Column("办结时间", 17, "datetime"),
            Column("满意度", 8, "int"),
        ),
        request_rows,
    ),
}
LEDGER_NAMES = tuple(LEDGERS)


def ledger_rows(name: str, records: list[dict[str, Any]], *, unmasked: bool, today: date) -> list[Row]:
    return LEDGERS[name].rows(records, unmasked=unmasked, today=today)
