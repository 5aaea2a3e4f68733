"""Visit rules: household tag → interval → the role whose visits count (三必到五必访, ../shared/domain.md §2).

The defaults (``community_id`` NULL) are seeded by migration 0009; a community's own rule replaces the default of
the same (tag, role, kind), and an own rule with ``active`` false switches that default off for the community.

Which visits count for a rule: a visit by someone of the rule's role (``visits.role``, the visitor's role when the
visit was logged) of a kind in `COUNTING_KINDS`: any visit in person satisfies a routine rule (a help or care visit
is a visit too); a care rule needs a care or help visit; help and attend rules need their own kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gis.workload import ALL_TAGS

VISIT_KINDS = ("routine", "care", "help", "attend")  # 例行走访, 关爱走访, 帮扶, 必到
RULE_ROLES = ("street_leader", "community_secretary", "grid_worker", "party_member")  # the roles that visit
COUNTING_KINDS: dict[str, tuple[str, ...]] = {
    "routine": VISIT_KINDS,
    "care": ("care", "help"),
    "help": ("help",),
    "attend": ("attend",),
}
MAX_INTERVAL_DAYS = 3660  # the table's CHECK (migration 0009)

# The seeded defaults, as migration 0009 stores them (tests/api/visits/test_rules.py checks they agree): kept here
# so that the test database, whose layer tables are emptied with TRUNCATE … CASCADE, can have them back.
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


@dataclass(frozen=True)
class Rule:
    """One rule as stored; ``community_id`` None for a default."""

    id: int
    community_id: int | None
    tag: str
    role: str
    kind: str
    interval_days: int
    active: bool = True
    label: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tag, self.role, self.kind)


def effective_rules(rules: Iterable[Rule], community_id: int | None) -> list[Rule]:
    """The rules in force in a community: its own, and the defaults it does not replace (inactive ones included,
    so a caller can show what was switched off); sorted by tag, role, kind."""
    rules = list(rules)
    own = {r.key: r for r in rules if community_id is not None and r.community_id == community_id}
    defaults = {r.key: r for r in rules if r.community_id is None}
    merged = defaults | own
    return sorted(merged.values(), key=lambda r: (ALL_TAGS.index(r.tag) if r.tag in ALL_TAGS else 99, r.key))


def check_rule_set(rules: Iterable[tuple[str, str, str, int]]) -> list[str]:
    """Problems of a community's rule set (tag, role, kind, interval): unknown values, a (tag, role, kind) given
    twice. Each names the rule by its position (0-based) and the value."""
    problems: list[str] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, (tag, role, kind, interval) in enumerate(rules):
        if tag not in ALL_TAGS:
            problems.append(f"rules[{number}].tag: unknown tag {tag!r} (one of {', '.join(ALL_TAGS)})")
        if role not in RULE_ROLES:
            problems.append(f"rules[{number}].role: {role!r} is not a visiting role ({', '.join(RULE_ROLES)})")
        if kind not in VISIT_KINDS:
            problems.append(f"rules[{number}].kind: unknown kind {kind!r} (one of {', '.join(VISIT_KINDS)})")
        if not 1 <= interval <= MAX_INTERVAL_DAYS:
            problems.append(f"rules[{number}].interval_days: {interval} is not 1 … {MAX_INTERVAL_DAYS}")
        key = (tag, role, kind)
        if key in seen:
            problems.append(f"rules[{number}]: ({tag}, {role}, {kind}) is given twice (also rules[{seen[key]}])")
        seen.setdefault(key, number)
    return problems
