"""The field-work vocabularies of migration 0009 (default visit rules, hazard categories, request services) as the
frames gis.sample.generate_history takes, read from the migration itself so that the pure tests follow it."""

import importlib

import pandas as pd

FIELD_WORK = importlib.import_module("migrations.versions.0009_field_work")


def default_rules() -> pd.DataFrame:
    rules = pd.DataFrame(FIELD_WORK.DEFAULT_VISIT_RULES, columns=["tag", "role", "interval_days", "kind", "label"])
    return rules.assign(community_ref=None, active=True)


def hazard_categories() -> pd.DataFrame:
    return pd.DataFrame(FIELD_WORK.HAZARD_CATEGORIES, columns=["code", "name", "deadline_hours", "standard_code"])


def services() -> pd.DataFrame:
    return pd.DataFrame(FIELD_WORK.SERVICES, columns=["code", "name", "group", "kind", "deadline_hours", "description"])
