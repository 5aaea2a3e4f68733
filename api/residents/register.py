"""Residents' registers (居民花名册) as communities keep them: an XLSX workbook or a CSV file, read into one checked
table of residents, or refused whole.

Why whole: a register is loaded to replace what is known about a community's residents; half a register would
silently drop people. So every row is checked and one `RegisterError` names every problem with the row number the
user sees in the spreadsheet ("row 7 (身份证号): check digit should be 3").

What a register needs: 姓名, 楼栋 and 房号 columns (where someone lives is how a grid worker finds them), and a
身份证号 or a 联系电话 column, with one of the two given on every row (a resident must be told apart from a
namesake, or reached). 性别 and 出生年份 may be left out when the ID number says them; given with it, they must
agree with it. The first sheet is read; its header row is found among the first rows (registers often have a title
row above). Unknown columns are ignored and reported.

The ID number is kept only as a keyed hash (for de-duplication) and masked, unless the caller asks for it.
"""

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd

from api.errors import IdNumberError, PhoneError, RegisterError
from api.residents import fields
from api.residents.idcard import MIN_KEY_BYTES, IdNumber, check_id_number, id_number_hash, mask_id_number
from api.residents.phone import check_phone
from api.residents.vocabulary import COLUMNS, TAG_LABELS, column_of

__all__ = ["MAX_BYTES", "MAX_ROWS", "RESIDENT_COLUMNS", "Register", "read_register"]

MAX_BYTES = 20 * 2**20  # a register of a whole street is a few MB
MAX_ROWS = 100_000  # residents of a large street
MAX_UNZIPPED_RATIO = 10  # a workbook may expand to 10 × max_bytes; more is a decompression bomb
HEADER_ROWS = 10  # the header row is looked for among the first rows
MAX_COLUMNS = 100  # cells right of this are not read
MAX_PROBLEMS = 20  # listed in the error; the rest are counted
REQUIRED = ("name", "building", "room")
RESIDENT_COLUMNS = [
    "row", "name", "gender", "birth_year", "phone", "id_hash", "id_masked", "tags", "building", "unit", "room",
    "relation",
]  # fmt: skip
XLSX_MAGIC = b"PK\x03\x04"  # a zip archive
XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # the old binary workbook
Problem = tuple[int | None, str | None, str]  # (spreadsheet row, the header as written, what is wrong)


@dataclass(frozen=True)
class Register:
    """A register read and checked: one row per resident (`RESIDENT_COLUMNS`, plus ``id_number`` when asked for),
    the headers that were ignored as written, and the spreadsheet row of the header."""

    residents: pd.DataFrame
    ignored_columns: tuple[str, ...]
    header_row: int


def read_register(
    source: str | Path | bytes,
    *,
    key: bytes,
    keep_id_number: bool = False,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
    today: date | None = None,
    sheet: str | None = None,
) -> Register:
    """Read an XLSX or CSV register (a path or the file's bytes; the kind is told from the content).

    ``key`` is the server's secret for `id_number_hash`; ``keep_id_number`` adds the ID number in clear (an
    administrator's choice); ``sheet`` names the workbook's sheet to read instead of the first. Raises
    `RegisterError` naming every problem, or the one that stops reading.
    """
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the hash key must have at least {MIN_KEY_BYTES} bytes")
    name = Path(source).name if isinstance(source, str | Path) else "the register"
    data = _load(source, name, max_bytes)
    today = today or date.today()
    if data.startswith(XLS_MAGIC):
        raise RegisterError(f"{name}: an old .xls workbook; save it as .xlsx or CSV (UTF-8 or GB18030)")
    if data.startswith(XLSX_MAGIC):
        rows = _xlsx_rows(data, name, max_bytes, sheet)
    elif sheet is not None:
        raise RegisterError(f"{name}: a CSV file has no sheets; leave out the sheet")
    else:
        rows = _csv_rows(data, name)
    return _parse(rows, name, key=key, keep_id_number=keep_id_number, max_rows=max_rows, today=today)


def _load(source: str | Path | bytes, name: str, max_bytes: int) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        if not path.is_file():
            raise RegisterError(f"{name}: no such file")
        if path.stat().st_size > max_bytes:
            raise RegisterError(f"{name}: larger than {max_bytes} bytes")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise RegisterError(f"{name}: larger than {max_bytes} bytes")
    if not data.strip():
        raise RegisterError(f"{name}: the file is empty")
    return data


def _xlsx_rows(data: bytes, name: str, max_bytes: int, sheet_name: str | None) -> Iterator[tuple[int, list]]:
    """(sheet row number, cell values) of the first sheet or the one named. Read-only with cached values
    (data_only): a formula is never evaluated here; its value is what Excel last computed, or empty when it never
    was."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
        if unzipped > MAX_UNZIPPED_RATIO * max_bytes:
            raise RegisterError(f"{name}: the workbook expands to {unzipped} bytes, too large to read")
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except RegisterError:
        raise
    except Exception:  # openpyxl raises many kinds (zip, XML, key, value) for a damaged or foreign file
        raise RegisterError(f"{name}: not a readable XLSX workbook") from None
    if sheet_name is not None and sheet_name not in book.sheetnames:
        shown = ", ".join(repr(n[:40]) for n in book.sheetnames[:10])
        book.close()
        raise RegisterError(f"{name}: no sheet {sheet_name[:40]!r} (it has {shown})")
    try:
        sheet = book[sheet_name] if sheet_name is not None else book.worksheets[0]
        sheet.reset_dimensions()  # a declared A1:XFD1048576 would pad every row to 16,384 cells
        for number, row in enumerate(sheet.iter_rows(min_row=1, max_col=MAX_COLUMNS, values_only=True), start=1):
            yield number, list(row)
    except RegisterError:
        raise
    except Exception:
        raise RegisterError(f"{name}: the sheet cannot be read (a damaged workbook, or not a sheet of cells)") from None
    finally:
        book.close()


def _csv_rows(data: bytes, name: str) -> Iterator[tuple[int, list]]:
    """(record number, cells) of a CSV in UTF-8 (with or without BOM), GB18030 or UTF-16 with BOM; comma or tab."""
    text = _decode(data, name)
    first = text.split("\n", HEADER_ROWS)[:HEADER_ROWS]
    delimiter = "\t" if sum(line.count("\t") for line in first) > sum(line.count(",") for line in first) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    number = 0
    try:
        for number, row in enumerate(reader, start=1):
            yield number, row[:MAX_COLUMNS]
    except csv.Error as error:
        raise RegisterError(f"{name}: row {number + 1} cannot be read as CSV ({error})") from None


def _decode(data: bytes, name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8-sig", "gb18030"]
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegisterError(f"{name}: neither an XLSX workbook nor CSV text in UTF-8 or GB18030")


@dataclass
class _Header:
    row: int
    columns: dict[str, int]  # column -> cell index
    labels: dict[str, str]  # column -> the header as written
    ignored: tuple[str, ...]


def _find_header(rows: Iterator[tuple[int, list]], name: str) -> _Header:
    """The first of the first rows naming at least two of our columns, with every required one."""
    seen = []
    for number, cells in rows:
        columns, labels, ignored = {}, {}, []
        for index, cell in enumerate(cells):
            header = str(cell).strip() if cell is not None else ""
            column = column_of(header) if header else None
            if column is None:
                if header:
                    ignored.append("".join(c if c.isprintable() else "?" for c in header[:40]))
                continue
            if column in columns:
                raise RegisterError(f"{name}: row {number}: two columns for {COLUMNS[column][0]} ({header})")
            columns[column], labels[column] = index, header
        if len(columns) >= 2:
            missing = [COLUMNS[c][0] for c in REQUIRED if c not in columns]
            if "id_number" not in columns and "phone" not in columns:
                missing.append("身份证号 or 联系电话")
            if missing:
                raise RegisterError(f"{name}: the header (row {number}) has no column {', '.join(missing)}")
            return _Header(number, columns, labels, tuple(ignored))
        seen.append(number)
        if len(seen) >= HEADER_ROWS:
            break
    raise RegisterError(f"{name}: no header row (姓名, 楼栋, 房号 …) in the first {HEADER_ROWS} rows")


def _parse(
    rows: Iterable[tuple[int, list]], name: str, *, key: bytes, keep_id_number: bool, max_rows: int, today: date
) -> Register:
    rows = iter(rows)
    header = _find_header(rows, name)
    residents: list[dict] = []
    problems: list[Problem] = []
    first_row_of_id: dict[str, int] = {}
    for number, cells in rows:
        if all(_blank(c) for c in cells):
            continue  # blank rows between blocks and at the end
        if len(residents) >= max_rows:
            raise RegisterError(f"{name}: more than {max_rows} rows of residents")
        raw = {c: cells[i] if i < len(cells) else None for c, i in header.columns.items()}
        resident, row_problems = _resident(raw, number, header.labels, today, first_row_of_id)
        problems += row_problems
        residents.append(resident)
    if not residents and not problems:
        raise RegisterError(f"{name}: no residents below the header (row {header.row})")
    if problems:
        raise RegisterError(_summary(name, problems), problems)
    return Register(_frame(residents, key, keep_id_number), header.ignored, header.row)


def _resident(
    raw: dict[str, object], number: int, labels: dict[str, str], today: date, first_row_of_id: dict[str, int]
) -> tuple[dict, list[Problem]]:
    """One row's values and the problems with its cells and between them (the ID number against 性别, 出生年份)."""
    problems: list[Problem] = []
    values: dict[str, Any] = {"row": number}

    def refuse(column: str | None, problem: str) -> None:
        problems.append((number, labels[column] if column else None, problem))

    def take(column: str, parse: Callable[[Any], object], required: bool = False, cell=fields.cell_text) -> None:
        values[column] = None
        if _blank(raw.get(column)):
            if required:
                refuse(column, "empty")
            return
        try:
            values[column] = parse(cell(raw[column]))
        except (fields.CellProblem, IdNumberError, PhoneError) as problem:
            refuse(column, str(problem))

    take("name", fields.name_of, required=True)
    take("building", fields.place_of, required=True)
    take("unit", fields.place_of)
    take("room", fields.place_of, required=True)
    take("gender", fields.gender_of)
    take("id_number", lambda text: check_id_number(text, today=today), cell=fields.id_text)
    take("phone", lambda text: check_phone(text).number)
    take("birth_year", lambda value: fields.birth_year_of(value, today), cell=lambda value: value)
    take("tags", fields.tags_of)
    take("relation", fields.relation_of)

    if _blank(raw.get("id_number")) and _blank(raw.get("phone")):
        refuse(None, f"neither {' nor '.join(labels[c] for c in ('id_number', 'phone') if c in labels)} given")
    checked: IdNumber | None = values["id_number"]
    if checked is None:
        return values, problems
    if values["gender"] not in (None, checked.gender):
        refuse("gender", f"{values['gender']} does not match the ID number, which says {checked.gender}")
    if values["birth_year"] not in (None, checked.birth_year):
        refuse("birth_year", f"{values['birth_year']} does not match the ID number ({checked.birth_year})")
    values["gender"], values["birth_year"] = checked.gender, checked.birth_year
    if checked.number in first_row_of_id:
        refuse("id_number", f"same ID number as row {first_row_of_id[checked.number]}")
    first_row_of_id.setdefault(checked.number, number)
    return values, problems


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _summary(name: str, problems: list[Problem]) -> str:
    def one(row: int | None, column: str | None, problem: str) -> str:
        where = f"row {row}" if row is not None else "the file"
        return f"{where} ({column}): {problem}" if column else f"{where}: {problem}"

    listed = [one(*p) for p in problems[:MAX_PROBLEMS]]
    if len(problems) > MAX_PROBLEMS:
        listed.append(f"and {len(problems) - MAX_PROBLEMS} more")
    if any(p.startswith("unknown tag") for _, _, p in problems):
        listed.append(f"known tags: {'、'.join(TAG_LABELS.values())}")
    count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
    return f"{name} refused, {count}: " + "; ".join(listed)


def _frame(residents: list[dict], key: bytes, keep_id_number: bool) -> pd.DataFrame:
    ids = [r["id_number"] for r in residents]
    frame = pd.DataFrame(
        {
            "row": [r["row"] for r in residents],
            "name": [r["name"] for r in residents],
            "gender": [r["gender"] for r in residents],
            "birth_year": pd.array([r["birth_year"] for r in residents], dtype="Int64"),
            "phone": [r["phone"] for r in residents],
            "id_hash": [id_number_hash(i, key) if i else None for i in ids],
            "id_masked": [mask_id_number(i.number) if i else None for i in ids],
            "tags": [r["tags"] or [] for r in residents],
            "building": [r["building"] for r in residents],
            "unit": [r["unit"] for r in residents],
            "room": [r["room"] for r in residents],
            "relation": [r["relation"] for r in residents],
        },
        columns=RESIDENT_COLUMNS,
    )
    if keep_id_number:
        frame["id_number"] = [i.number if i else None for i in ids]
    return frame
