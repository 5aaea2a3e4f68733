"""One ledger as an XLSX workbook: a title row naming the place and period, a frozen header row of Chinese column
names, one row per record, column widths set.

Whatever a user typed is written as text and can never become a formula: a string that a spreadsheet would read as
one (starting with = + - @, a tab or a carriage return: OWASP's CSV/formula injection list) is prefixed with a
single quote, and characters an XLSX cannot hold (control characters) become U+FFFD. Times are written as the
China time they stand for (XLSX has no time zones), dates as dates.
"""

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from api.ledgers.periods import china_local

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER_ROW = 2  # row 1 is the title
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
MAX_CELL_CHARS = 32_767  # an XLSX cell holds no more

Kind = Literal["text", "int", "datetime", "date", "float"]
# One of each style, shared by every cell: openpyxl registers a style per assignment, and a new object per cell made
# a ledger of 600 rows take half a second.
WRAP_TOP = Alignment(vertical="top", wrap_text=True)
HEADER_ALIGNMENT = Alignment(horizontal="center", vertical="center", wrap_text=True)


@dataclass(frozen=True)
class Column:
    header: str  # 中文表头
    width: float  # in characters (a CJK character is about two)
    kind: Kind = "text"


def safe_text(value: str) -> str:
    """`value` as a spreadsheet shows it and never evaluates: formula starters neutralised, control characters
    replaced."""
    text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    return text[:MAX_CELL_CHARS]


def _cell_value(value: object, kind: Kind) -> object:
    if value is None:
        return None
    if kind == "datetime" and isinstance(value, datetime):
        return china_local(value) if value.tzinfo is not None else value
    if kind == "date" and isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    if kind in ("int", "float") and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return safe_text(str(value))


def build_workbook(title: str, sheet: str, columns: Sequence[Column], rows: Iterable[Sequence[object]]) -> bytes:
    """The workbook's bytes: `title` in row 1 (merged over the columns), the headers in row 2 (frozen, with a
    filter), then `rows`, each a value per column."""
    book = Workbook()
    ws = book.active
    assert ws is not None  # a new workbook has its sheet
    ws.title = safe_text(sheet)[:31]
    last = get_column_letter(len(columns))
    ws["A1"] = safe_text(title)
    ws["A1"].font = Font(bold=True, size=14)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.merge_cells(f"A1:{last}1")
    ws.row_dimensions[1].height = 28
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    for i, column in enumerate(columns, start=1):
        cell = ws.cell(row=HEADER_ROW, column=i, value=column.header)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        cell.alignment = HEADER_ALIGNMENT
        ws.column_dimensions[get_column_letter(i)].width = column.width
    count = 0
    for count, values in enumerate(rows, start=1):
        if len(values) != len(columns):
            raise ValueError(f"row {count} has {len(values)} values for {len(columns)} columns")
        for i, (column, value) in enumerate(zip(columns, values, strict=True), start=1):
            cell = ws.cell(row=HEADER_ROW + count, column=i, value=_cell_value(value, column.kind))
            if column.kind == "datetime":
                cell.number_format = DATETIME_FORMAT
            elif column.kind == "date":
                cell.number_format = DATE_FORMAT
            elif column.kind == "text":
                cell.alignment = WRAP_TOP
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    ws.auto_filter.ref = f"A{HEADER_ROW}:{last}{HEADER_ROW + max(count, 1)}"
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
