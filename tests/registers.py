"""Registers (花名册) written the way communities keep them, from the sample's residents of one community: for the
storage and CLI tests of storing residents."""

import csv
import io
from dataclasses import dataclass

import openpyxl
import pandas as pd

from api.residents import TAG_LABELS
from gis.sample import SampleArea

HEADERS = ["姓名", "性别", "身份证号码", "联系电话", "出生年份", "楼栋", "单元", "房号", "人员类别", "与户主关系"]
TITLE = "某社区居民花名册"


@dataclass(frozen=True)
class Community:
    code: str  # the full 12 digits: street code + community code
    source_id: str
    people: pd.DataFrame  # the sample's residents of the community, with building (name and source id), unit, room


def community(area: SampleArea, index: int = 1) -> Community:
    """The `index`-th community of the sample and its residents, each with where they live."""
    row = area.communities.iloc[index]
    street = area.streets.set_index("source_id").loc[row["street_ref"], "code"]
    grids = set(area.grids.loc[area.grids["community_ref"] == row["source_id"], "source_id"])
    households = area.households[area.households["grid_ref"].isin(grids)].set_index("source_id")
    buildings = area.buildings.set_index("source_id")
    people = area.residents[area.residents["household_ref"].isin(households.index)].copy()
    home = households.loc[people["household_ref"]]
    people["building_id"] = home["building_ref"].to_numpy()
    people["building"] = buildings.loc[home["building_ref"], "name"].to_numpy()
    people["unit"] = home["unit"].to_numpy()
    people["room"] = home["room"].to_numpy()
    return Community(street + row["code"], row["source_id"], people.reset_index(drop=True))


def blank(value: object) -> object:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else value


def rows(people: pd.DataFrame, *, building: str = "building") -> list[list]:
    """One register row per resident, in `HEADERS` order; `building` is the column naming the 楼栋."""
    return [
        [
            p.name,
            p.gender,
            p.id_number,
            blank(p.phone),
            int(p.birth_year),
            getattr(p, building),
            blank(p.unit),
            p.room,
            "、".join(TAG_LABELS[t] for t in p.tags) or None,
            p.relation,
        ]
        for p in people.itertuples()
    ]


def xlsx(cells: list[list], *, headers: list[str] = HEADERS, sheet: str | None = None) -> bytes:
    """A workbook with a title row above the header; with `sheet`, the register is on a second sheet of that name
    behind an unrelated first one."""
    book = openpyxl.Workbook()
    target = book.active
    if sheet is not None:
        target["A1"] = "说明：本表第二页为花名册"
        target = book.create_sheet(sheet)
    target.append([TITLE])
    target.append(headers)
    for row in cells:
        target.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(cells: list[list], *, headers: list[str] = HEADERS, encoding: str = "gb18030") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([TITLE])
    writer.writerow(headers)
    writer.writerows([["" if v is None else v for v in row] for row in cells])
    return out.getvalue().encode(encoding)
