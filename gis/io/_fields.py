"""The columns of each layer kind (docs/layers.md) from a layer file's properties: accepted property names, service
type names, and the per-kind parsing and checks. Every problem is a `LayerError` naming the features."""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from gis.errors import GridCodeError, LayerError
from gis.grids.codes import check_district_code, get_profile, parse_grid_code
from gis.io.validate import MAX_LISTED, feature_label, feature_number

# Output columns besides source, source_id and geometry (docs/layers.md).
COLUMNS: dict[str, list[str]] = {
    "grids": "community_ref code code_profile district_code street_code community_code seq_code name".split(),
    "communities": ["street_ref", "code", "name"],
    "buildings": ["grid_ref", "compound_ref", "kind", "name", "floors", "households"],
    "service_points": ["type", "level", "name", "hours"],
}
# Service point types (docs/layers.md) and the names accepted for them.
SERVICE_TYPES: dict[str, tuple[str, ...]] = {
    "party_center": ("党群服务中心", "党群服务站", "党群活动中心", "party center", "community centre"),
    "red_post": ("红色驿站", "red post"),
    "clinic": ("社区卫生服务站", "社区卫生服务中心", "卫生服务站", "卫生室", "诊所", "医院", "hospital", "health"),
    "elderly_care": ("养老服务站", "养老服务中心", "日间照料中心", "老年人日间照料中心", "elderly", "elderly care"),
    "kindergarten": ("幼儿园", "托育", "托育机构", "托儿所", "childcare", "nursery"),
    "school": ("学校", "小学", "中学", "初中"),
    "market": ("菜市场", "农贸市场", "便民超市", "超市", "supermarket"),
    "police": ("警务室", "警务站", "police station"),
    "sports": ("文体活动场所", "文体活动中心", "体育场", "健身场所", "sport"),
}
_SERVICE_ALIASES = {
    a.strip().lower().replace("-", "_").replace(" ", "_"): t for t, names in SERVICE_TYPES.items() for a in (t, *names)
}
# Property names accepted for each output column (first match wins, case-insensitive).
PROPERTY_NAMES: dict[str, tuple[str, ...]] = {
    "name": ("name", "名称"),
    "code": ("code", "grid_code", "网格编码", "网格代码"),
    "community_ref": ("community_ref", "community", "community_id", "community_code", "社区"),
    "community_code_text": ("code", "community_code", "社区代码"),
    "street_ref": ("street_ref", "street", "street_id", "street_code", "街道"),
    "grid_ref": ("grid_ref", "grid", "grid_id", "grid_code", "网格"),
    "compound_ref": ("compound_ref", "compound", "compound_id", "小区"),
    "kind": ("kind", "building", "type", "类型"),
    "floors": ("floors", "building:levels", "levels", "层数"),
    "households": ("households", "户数"),
    "type": ("type", "service_type", "类型"),
    "level": ("level", "级别"),
    "hours": ("hours", "opening_hours", "开放时间"),
}


def service_type(value: str) -> str | None:
    """The service point type for a name or alias (e.g. '党群服务中心' → 'party_center'), or None."""
    return _SERVICE_ALIASES.get(str(value).strip().lower().replace("-", "_").replace(" ", "_"))


def _text(value: Any) -> str | None:
    """A property as text: None for missing/blank, integers without '.0' (ids and codes read as numbers)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _column(df: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    lower = {str(c).strip().lower(): c for c in df.columns if c != "geometry"}
    for name in names:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _fail(df: pd.DataFrame, bad: list[tuple[Any, str]], id_field: str) -> None:
    """Raise one LayerError naming the first few bad features and their problems."""
    if bad:
        listed = "; ".join(f"{feature_label(df, i, id_field)}: {why}" for i, why in bad[:MAX_LISTED])
        more = f"; and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        raise LayerError(listed + more)


def _texts(df: pd.DataFrame, key: str) -> list[str | None]:
    col = _column(df, PROPERTY_NAMES[key])
    return [_text(v) for v in df[col]] if col is not None else [None] * len(df)


def _required(df: pd.DataFrame, key: str, what: str, id_field: str) -> list[str]:
    col = _column(df, PROPERTY_NAMES[key])
    if col is None:
        names = ", ".join(repr(n) for n in PROPERTY_NAMES[key])
        raise LayerError(f"no {what} property ({names}); columns are {[c for c in df.columns if c != 'geometry']}")
    values = [_text(v) for v in df[col]]
    _fail(df, [(i, f"{what} is missing") for i, v in zip(df.index, values, strict=True) if v is None], id_field)
    return cast(list[str], values)  # every None was refused just above


def _grids(df: pd.DataFrame, id_field: str, profile: str, notes: list[str]) -> dict[str, list[Any]]:
    prof = get_profile(profile)
    codes = _required(df, "code", "grid code (网格编码)", id_field)
    parsed, bad = [], []
    for i, code in zip(df.index, codes, strict=True):
        try:
            parsed.append(parse_grid_code(code, prof))
        except GridCodeError as exc:
            bad.append((i, str(exc)))
    _fail(df, bad, id_field)
    dup = pd.Series(codes, index=df.index).duplicated(keep=False)
    _fail(
        df, [(i, f"grid code {codes[k]!r} is used more than once") for k, i in enumerate(df.index) if dup[i]], id_field
    )
    community_ref = _texts(df, "community_ref")
    if _column(df, PROPERTY_NAMES["community_ref"]) is None:
        notes.append("no community property (community, community_id, community_code): community_ref left empty")
    return {
        "community_ref": community_ref,
        "code": codes,
        "code_profile": [prof.name] * len(df),
        "district_code": [p.district for p in parsed],
        "street_code": [p.street for p in parsed],
        "community_code": [p.community for p in parsed],
        "seq_code": [p.seq for p in parsed],
        "name": _texts(df, "name"),
    }


def _communities(df: pd.DataFrame, id_field: str) -> dict[str, list[Any]]:
    codes, bad = [], []
    for i, code in zip(df.index, _texts(df, "community_code_text"), strict=True):
        if code is not None and code.isascii() and code.isdigit() and len(code) == 12:
            try:  # the full 6 + 3 + 3 form (统计用区划代码): keep the community part
                check_district_code(code[:6])
                code = code[-3:]
            except GridCodeError as exc:
                bad.append((i, f"community code {code!r}: {exc}"))
        if code is not None and not (code.isascii() and code.isdigit() and len(code) == 3):
            bad.append((i, f"community code {code!r} must be 3 digits (or 12: district + street + community)"))
        codes.append(code)
    _fail(df, bad, id_field)
    return {"street_ref": _texts(df, "street_ref"), "code": codes, "name": _texts(df, "name")}


def _counts(df: pd.DataFrame, key: str, id_field: str) -> pd.array:
    values, bad = [], []
    for i, text in zip(df.index, _texts(df, key), strict=True):
        number = pd.to_numeric(text, errors="coerce") if text is not None else None
        if number is not None and (pd.isna(number) or number < 0 or not float(number).is_integer()):
            bad.append((i, f"{key} {text!r} is not a whole number ≥ 0"))
        values.append(None if number is None or pd.isna(number) else int(number))
    _fail(df, bad, id_field)
    return pd.array(values, dtype="Int64")


def _buildings(df: pd.DataFrame, id_field: str) -> dict[str, Any]:
    texts = {key: _texts(df, key) for key in ("grid_ref", "compound_ref", "kind", "name")}
    return texts | {key: _counts(df, key, id_field) for key in ("floors", "households")}


def _service_points(df: pd.DataFrame, id_field: str) -> dict[str, list[Any]]:
    raw = _required(df, "type", "service type", id_field)
    types = [service_type(v) for v in raw]
    accepted = ", ".join(f"{t} {names[0]}" for t, names in SERVICE_TYPES.items())
    bad = [
        (i, f"unknown service type {v!r}; accepted: {accepted}")
        for i, v, t in zip(df.index, raw, types, strict=True)
        if t is None
    ]
    _fail(df, bad, id_field)
    return {"type": types, "level": _texts(df, "level"), "name": _texts(df, "name"), "hours": _texts(df, "hours")}


# --- the pipeline -------------------------------------------------------------------------------------------------


def _source_ids(df: pd.DataFrame, id_field: str) -> list[str]:
    if id_field not in df.columns:
        columns = [c for c in df.columns if c != "geometry"]
        raise LayerError(f"no {id_field!r} property (the feature id); columns are {columns}; choose one as id field")
    ids = [_text(v) for v in df[id_field]]
    _fail(df, [(i, f"{id_field} is missing") for i, v in zip(df.index, ids, strict=True) if v is None], id_field)
    series = pd.Series(ids, index=df.index)
    dup = series[series.duplicated(keep=False)]
    if len(dup):
        groups = dup.groupby(dup, sort=True).groups
        listed = "; ".join(
            f"{id_field} {value!r} on features {', '.join(str(feature_number(i)) for i in idx)}"
            for value, idx in list(groups.items())[:MAX_LISTED]
        )
        raise LayerError(f"{len(groups)} duplicate {id_field} value(s) (ids must be unique): {listed}")
    return cast(list[str], ids)  # missing ids were refused above


def layer_columns(kind: str, df: pd.DataFrame, id_field: str, profile: str, notes: list[str]) -> dict[str, Any]:
    """The output columns of `kind` (besides source, source_id and geometry) from `df`'s properties; grids add their
    notes to `notes`."""
    if kind == "grids":
        return _grids(df, id_field, profile, notes)
    if kind == "communities":
        return _communities(df, id_field)
    if kind == "buildings":
        return _buildings(df, id_field)
    return _service_points(df, id_field)
