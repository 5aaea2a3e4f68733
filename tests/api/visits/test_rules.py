"""api.visits.rules: a community's own rule replaces the default of its (tag, role, kind); rule sets are checked;
the defaults kept in code are the ones migration 0009 seeds."""

import importlib.util
from pathlib import Path

from api.visits.rules import DEFAULT_VISIT_RULES, Rule, check_rule_set, effective_rules

MIGRATION = Path(__file__).resolve().parents[3] / "migrations" / "versions" / "0009_field_work.py"


def test_the_defaults_are_the_migrations():
    spec = importlib.util.spec_from_file_location("field_work", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert tuple(DEFAULT_VISIT_RULES) == tuple(module.DEFAULT_VISIT_RULES)


def test_an_own_rule_replaces_its_default_and_leaves_the_others():
    defaults = [
        Rule(1, None, "elderly_alone", "grid_worker", "routine", 7),
        Rule(2, None, "hardship", "grid_worker", "routine", 30),
        Rule(3, None, "elderly_alone", "community_secretary", "care", 182),
    ]
    own = [
        Rule(10, 5, "elderly_alone", "grid_worker", "routine", 3),
        Rule(11, 5, "hardship", "grid_worker", "routine", 30, active=False),
        Rule(12, 6, "elderly_alone", "grid_worker", "routine", 1),  # another community's
    ]
    mine = {r.key: r for r in effective_rules(defaults + own, 5)}
    assert len(mine) == 3
    assert mine[("elderly_alone", "grid_worker", "routine")].interval_days == 3
    assert not mine[("hardship", "grid_worker", "routine")].active
    assert mine[("elderly_alone", "community_secretary", "care")].id == 3
    assert {r.id for r in effective_rules(defaults + own, None)} == {1, 2, 3}
    assert {r.id for r in effective_rules(defaults + own, 7)} == {1, 2, 3}


def test_a_rule_set_names_each_problem():
    problems = check_rule_set(
        [
            ("infant", "party_member", "routine", 30),
            ("vip", "planner", "party", 0),
            ("infant", "party_member", "routine", 14),
        ]
    )
    text = "; ".join(problems)
    assert "rules[1].tag" in text and "'vip'" in text and "rules[1].role" in text and "rules[1].kind" in text
    assert "rules[1].interval_days" in text and "rules[2]" in text and "twice" in text
    assert check_rule_set([("infant", "party_member", "routine", 30)]) == []
