"""The field-work vocabularies of migration 0009 (default visit rules, hazard categories, request services) as the
frames gis.sample.generate_history takes, read from the migration itself so that the pure tests follow it."""

import importlib

import pandas as pd
from sqlalchemy import Connection, text

FIELD_WORK = importlib.import_module("migrations.versions.0009_field_work")


def default_rules() -> pd.DataFrame:
    rules = pd.DataFrame(FIELD_WORK.DEFAULT_VISIT_RULES, columns=["tag", "role", "interval_days", "kind", "label"])
    return rules.assign(community_ref=None, active=True)


def hazard_categories() -> pd.DataFrame:
    return pd.DataFrame(FIELD_WORK.HAZARD_CATEGORIES, columns=["code", "name", "deadline_hours", "standard_code"])


def services() -> pd.DataFrame:
    return pd.DataFrame(FIELD_WORK.SERVICES, columns=["code", "name", "group", "kind", "deadline_hours", "description"])


def restore_default_visit_rules(conn: Connection) -> None:
    """Put back the default visit rules: emptying the communities (TRUNCATE … CASCADE) empties visit_rules too,
    since a community's own rules refer to it."""
    conn.execute(
        text(
            "INSERT INTO visit_rules (tag, role, interval_days, kind, label) "
            "VALUES (:tag, :role, :interval_days, :kind, :label) ON CONFLICT DO NOTHING"
        ),
        default_rules().drop(columns=["community_ref", "active"]).to_dict("records"),
    )
