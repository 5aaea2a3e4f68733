"""What open endpoints may say about residents and grid workers while gridmap has no accounts.

Every endpoint answers whoever reaches the server, so what it serves must be safe for anyone to read:
- per-tag counts of special-care households (独居老人, 残疾, 低保, 刑满释放, 信访 …) are sensitive personal
  information under PIPL: they are not served at all; the special-care total is;
- a count of 1–4 special-care households in a grid or for a worker points at identifiable people, so it is
  suppressed (null, with ``suppressed`` true), together with the figures it can be read back from (the load is
  households + weight × special care, and the ratio and reason repeat the load);
- grid workers' names are masked as 张*明 (surname and last character), enough to tell colleagues apart.
The accounts issue replaces this with scoped, unmasked reads for the people entitled to them.
"""

import pandas as pd

SMALL_COUNT = 5  # special-care counts below this (and above 0) are suppressed: a common small-cell threshold
DERIVED_FROM_CARE = ("special_care", "load", "load_ratio")


def mask_name(name: object) -> object:
    """张三丰 → 张*丰, 张三 → 张*, a one-character or missing name unchanged (None stays None)."""
    if not isinstance(name, str) or len(name) < 2:
        return name
    if len(name) == 2:
        return f"{name[0]}*"
    return f"{name[0]}{'*' * (len(name) - 2)}{name[-1]}"


def open_workload(table: pd.DataFrame) -> pd.DataFrame:
    """A workload table (gis.workload) as an open endpoint may serve it: no per-tag counts, small counts
    suppressed, names masked."""
    table = table.drop(columns=[c for c in table.columns if c.startswith("tag_")])
    small = (table["special_care"] > 0) & (table["special_care"] < SMALL_COUNT)
    table = table.astype({c: object for c in DERIVED_FROM_CARE if c in table.columns})
    for column in DERIVED_FROM_CARE:
        if column in table.columns:
            table.loc[small, column] = None
    if "reason" in table.columns:
        flagged = small & table["reason"].notna()
        table.loc[flagged, "reason"] = "load above the flag threshold (figures suppressed: small count)"
    table["suppressed"] = small
    if "name" in table.columns:
        table["name"] = table["name"].map(mask_name)
    return table
