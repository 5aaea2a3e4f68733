"""Due lists: which households a visitor of one role has to visit, and how overdue each is.

A household is due for a rule (active, of the visitor's role, its tag among the household's tags) when its last
counting visit (api.visits.rules.COUNTING_KINDS, by anyone of the rule's role) was on day L (China time) and
L + interval ≤ today: due date L + interval days, days overdue today − due date (0: due today).

Never visited: due since the **reference date** (setting ``visits_since``; by default 1 January of the current
year, China time), the day gridmap started counting visits for the community. Such a household is then as overdue
as the days since that date: without a record we cannot tell that it was ever visited, and a weekly rule that was
never met this year is the most urgent thing on the list.

A household due for several rules carries each; its own due date is the earliest, its days overdue the most.
The list is sorted most overdue first, then by household id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.visits.rules import COUNTING_KINDS, Rule

CHINA = ZoneInfo("Asia/Shanghai")


def china_date(moment: datetime) -> date:
    """The calendar day of `moment` in China (day boundaries of rules and ledgers)."""
    return moment.astimezone(CHINA).date()


def default_reference(today: date) -> date:
    """1 January of `today`'s year: the reference date when none is set."""
    return date(today.year, 1, 1)


def last_counting_visit(rule: Rule, last_by_kind: Mapping[str, datetime]) -> datetime | None:
    """The latest visit that counts for `rule`, from the latest visit of each kind (by the rule's role)."""
    found = [last_by_kind[k] for k in COUNTING_KINDS[rule.kind] if k in last_by_kind]
    return max(found) if found else None


def due_households(
    households: Iterable[Mapping],
    rules_by_community: Mapping[int | None, list[Rule]],
    last_visits: Mapping[int, Mapping[str, datetime]],
    *,
    role: str,
    today: date,
    reference: date,
) -> list[dict]:
    """The households due or overdue today for visitors of `role`.

    Parameters
    ----------
    households : each with ``id``, ``building_id``, ``grid_code``, ``community_id``, ``unit``, ``room``, ``tags``.
    rules_by_community : the effective rules of each community (api.visits.rules.effective_rules).
    last_visits : household id → kind → the latest visit of that kind by someone of `role`.
    role : the visitor's role: only its rules count.
    today, reference : China dates (see the module docstring).
    """
    out = []
    for household in households:
        rules = [
            r
            for r in rules_by_community.get(household["community_id"], [])
            if r.active and r.role == role and r.tag in household["tags"]
        ]
        if not rules:
            continue
        last_by_kind = last_visits.get(household["id"], {})
        reasons: list[dict[str, Any]] = []
        for rule in rules:
            last = last_counting_visit(rule, last_by_kind)
            due = reference if last is None else china_date(last) + timedelta(days=rule.interval_days)
            if due <= today:
                reasons.append(
                    {
                        "rule_id": rule.id,
                        "tag": rule.tag,
                        "role": rule.role,
                        "kind": rule.kind,
                        "interval_days": rule.interval_days,
                        "label": rule.label,
                        "last_visit": last,
                        "due_date": due,
                        "days_overdue": (today - due).days,
                    }
                )
        if not reasons:
            continue
        visits: list[datetime] = [r["last_visit"] for r in reasons if r["last_visit"] is not None]
        due_dates: list[date] = [r["due_date"] for r in reasons]
        overdue: list[int] = [r["days_overdue"] for r in reasons]
        out.append(
            {
                "household_id": household["id"],
                "building_id": household["building_id"],
                "grid_code": household["grid_code"],
                "unit": household["unit"],
                "room": household["room"],
                "tags": list(household["tags"]),
                "rules": reasons,
                "last_visit": max(visits) if visits else None,
                "due_date": min(due_dates),
                "days_overdue": max(overdue),
            }
        )
    out.sort(key=lambda h: (-h["days_overdue"], h["household_id"]))
    return out
