"""api.residents.register: registers written from the sample's residents (XLSX, GB18030 and UTF-8 CSV) read back
equal; bad rows refused together with their spreadsheet row numbers; hostile cells stay data."""

import csv
import io
import zipfile
from datetime import date

import openpyxl
import pandas as pd
import pytest

from api.errors import RegisterError, status_and_code
from api.residents import (
    RESIDENT_COLUMNS,
    TAG_LABELS,
    id_number_hash,
    mask_id_number,
    read_register,
)
from api.residents.vocabulary import tag_code
from gis.sample import SampleArea, generate_sample
from gis.workload import ALL_TAGS

KEY = b"a test key of 32 bytes, not real"
TODAY = date(2026, 1, 1)
HEADERS = ["姓名", "性别", "身份证号码", "联系电话", "出生年份", "楼栋", "单元", "房号", "人员类别", "与户主关系"]
TITLE = "示范街道某社区居民花名册（2024年）"


@pytest.fixture(scope="module")
def sample() -> SampleArea:
    return generate_sample()


@pytest.fixture(scope="module")
def residents(sample: SampleArea) -> pd.DataFrame:
    """400 of the sample's residents with where they live, spread over the area (every kind of household)."""
    households = sample.households.set_index("source_id")
    buildings = sample.buildings.set_index("source_id")
    people = sample.residents.iloc[::90].head(400).copy()
    home = households.loc[people["household_ref"]]
    people["building"] = buildings.loc[home["building_ref"], "name"].to_numpy()
    people["unit"] = home["unit"].to_numpy()
    people["room"] = home["room"].to_numpy()
    assert people["tags"].map(len).gt(0).sum() >= 50 and people["unit"].isna().any()
    return people.reset_index(drop=True)


def register_rows(people: pd.DataFrame) -> list[list]:
    """The residents as a community writes them: Chinese gender and tags, empty cells for what is missing."""

    def cell(value):
        return None if value is None or (isinstance(value, float) and pd.isna(value)) else value

    return [
        [
            p.name,
            p.gender,
            p.id_number,
            cell(p.phone),
            int(p.birth_year),
            p.building,
            cell(p.unit),
            p.room,
            "、".join(TAG_LABELS[t] for t in p.tags) or None,
            p.relation,
        ]
        for p in people.itertuples()
    ]


def xlsx(rows: list[list], headers: list[str] = HEADERS, title: str | None = TITLE) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
        sheet.append([])
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    for cells in sheet.iter_rows():
        for c in cells:
            if isinstance(c.value, str) and c.value.startswith("="):
                c.data_type = "s"  # a string that looks like a formula stays a string (see the formula test)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list], headers: list[str] = HEADERS, encoding: str = "gb18030", title: bool = True) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    if title:
        writer.writerow([TITLE])
    writer.writerow(headers)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return out.getvalue().encode(encoding)


def read(data: bytes, **options):
    return read_register(data, key=KEY, today=TODAY, **options)


def refusal(data: bytes, **options) -> RegisterError:
    with pytest.raises(RegisterError) as caught:
        read(data, **options)
    return caught.value


def assert_same_residents(frame: pd.DataFrame, people: pd.DataFrame) -> None:
    assert list(frame.columns) == [*RESIDENT_COLUMNS, "id_number"]
    assert frame["id_number"].tolist() == people["id_number"].tolist()
    assert frame["id_hash"].tolist() == [id_number_hash(n, KEY) for n in people["id_number"]]
    assert frame["id_masked"].tolist() == [mask_id_number(n) for n in people["id_number"]]
    for column in ("name", "gender", "birth_year", "building", "room", "relation", "tags"):
        assert frame[column].tolist() == people[column].tolist(), column
    for column in ("phone", "unit"):  # missing is None / NaN on either side
        assert frame[column].fillna("").tolist() == people[column].fillna("").tolist(), column


# --- round trips ----------------------------------------------------------------------------------------------------


def test_xlsx_with_a_title_row_reads_back_equal(residents):
    register = read(xlsx(register_rows(residents)), keep_id_number=True)
    assert register.header_row == 3 and register.ignored_columns == ()
    assert register.residents["row"].tolist() == list(range(4, 4 + len(residents)))
    assert_same_residents(register.residents, residents)


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig", "utf-8"])
def test_csv_reads_back_equal_in_each_encoding(residents, encoding):
    register = read(csv_bytes(register_rows(residents), encoding=encoding), keep_id_number=True)
    assert register.header_row == 2
    assert_same_residents(register.residents, residents)


def test_gb18030_is_not_mistaken_for_utf8(residents):
    data = csv_bytes(register_rows(residents), encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # so the reader really had to fall back
    assert read(data).residents["name"].tolist() == residents["name"].tolist()


def test_the_clear_id_number_is_kept_only_when_asked(residents):
    frame = read(xlsx(register_rows(residents))).residents
    assert list(frame.columns) == RESIDENT_COLUMNS
    cells = {str(v) for column in frame.columns for v in frame[column]}
    assert not cells & set(residents["id_number"])


def test_english_headers_unknown_columns_and_tab_separated_text(residents):
    english = ["name", "gender", "id_number", "phone", "birth_year", "building", "unit", "room", "tags", "relation"]
    rows = [[*row, "备注", "x"] for row in register_rows(residents.head(5))]
    data = csv_bytes(rows, headers=[*english, "备注", "Remarks"], title=False).replace(b",", b"\t")
    register = read(data)
    assert register.ignored_columns == ("备注", "Remarks") and register.header_row == 1
    assert register.residents["name"].tolist() == residents["name"].head(5).tolist()


def test_gender_and_birth_year_come_from_the_id_number_when_left_out(residents):
    headers = ["*姓名", "公民身份号码", "楼号", "门牌号"]  # other spellings, a required-field star
    rows = [[p.name, p.id_number, p.building, p.room] for p in residents.head(20).itertuples()]
    frame = read(xlsx(rows, headers)).residents
    assert frame["gender"].tolist() == residents["gender"].head(20).tolist()
    assert frame["birth_year"].tolist() == residents["birth_year"].head(20).tolist()
    assert frame["phone"].isna().all() and frame["tags"].map(len).eq(0).all()


def test_phone_alone_identifies_a_resident_and_birth_years_are_read_in_several_ways():
    headers = ["姓名", "手机号", "出生年月", "楼栋", "房号"]
    rows = [
        ["王芳", "138 1234 5678", "1990-05", "3号楼", "1502"],
        ["李强", "+86 139-0000-1234", "1985年3月", "3号楼", "1502"],
        ["张伟", "010-12345678转801", date(1979, 1, 2), "A座", "B-101"],
        ["赵敏", "0571 1234567", 199012, "2号楼", 301],
    ]
    frame = read(xlsx(rows, headers, title=None)).residents
    assert frame["phone"].tolist() == ["13812345678", "13900001234", "010-12345678-801", "0571-1234567"]
    assert frame["birth_year"].tolist() == [1990, 1985, 1979, 1990]
    assert frame["room"].tolist() == ["1502", "1502", "B-101", "301"]
    assert frame["id_hash"].isna().all() and frame["gender"].isna().all()


def test_tags_in_any_separator_and_their_synonyms_become_stored_codes():
    headers = ["姓名", "手机号", "楼栋", "房号", "标签"]
    rows = [
        ["王芳", "13812345678", "1号楼", "101", "空巢老人，高龄;残疾 低保、特困"],
        ["李强", "13912345678", "1号楼", "102", "社区矫正；信访户,elderly_alone"],
    ]
    frame = read(xlsx(rows, headers, title=None)).residents
    assert frame["tags"].tolist() == [
        ["elderly_alone", "aged_80", "disabled", "hardship"],
        ["released", "petitioner", "elderly_alone"],
    ]


def test_every_stored_tag_has_a_label_that_reads_back():
    assert set(TAG_LABELS) == set(ALL_TAGS)
    assert all(tag_code(label) == code for code, label in TAG_LABELS.items())
    assert tag_code("优抚对象") is None  # not a tag gridmap stores: refused, not dropped


# --- refusals -------------------------------------------------------------------------------------------------------


def test_three_bad_rows_are_refused_together_naming_each(residents):
    rows = register_rows(residents.head(10))
    rows[1][2] = rows[1][2][:17] + ("0" if rows[1][2][17] != "0" else "1")  # spreadsheet row 5
    rows[4][1] = "女" if rows[4][1] == "男" else "男"  # row 8
    rows[6][3] = "12345"  # row 10
    error = refusal(xlsx(rows))
    assert [(row, column) for row, column, _ in error.problems] == [(5, "身份证号码"), (8, "性别"), (10, "联系电话")]
    assert "check digit should be" in error.problems[0][2]
    assert "does not match the ID number" in error.problems[1][2]
    assert str(error).startswith("the register refused, 3 problems: row 5 (身份证号码): check digit should be")
    assert "row 8 (性别)" in str(error) and "row 10 (联系电话)" in str(error)
    assert status_and_code(error) == (422, "invalid_register")


def test_each_row_problem_is_named(residents):
    people = register_rows(residents.head(11))

    def row(i: int, **changes):
        values = dict(zip(HEADERS, people[i], strict=True)) | changes
        return [values[h] for h in HEADERS]

    year = int(people[3][4])
    rows = [
        row(0),
        row(0),  # row 5: the same person twice
        row(2, 出生年份=int(people[2][4]) + 1, 身份证号码=None),  # row 6: nothing to disagree with
        row(3, 出生年份=year + 1),  # row 7
        row(4, 身份证号码=None, 联系电话=None),  # row 8
        row(5, 姓名=None),  # row 9
        row(6, 房号=None),  # row 10
        row(7, 性别="未知"),  # row 11
        row(8, 人员类别="优抚对象"),  # row 12
        row(9, 身份证号码="1.10105E+17"),  # row 13
        row(10, 出生年份="九零年"),  # row 14
    ]
    error = refusal(xlsx(rows))
    problems = {(r, c): p for r, c, p in error.problems}
    assert problems[(5, "身份证号码")] == "same ID number as row 4"
    assert problems[(7, "出生年份")] == f"{year + 1} does not match the ID number ({year})"
    assert problems[(8, None)] == "neither 身份证号码 nor 联系电话 given"
    assert problems[(9, "姓名")] == "empty" and problems[(10, "房号")] == "empty"
    assert problems[(11, "性别")] == "gender is 男 or 女"
    assert problems[(12, "人员类别")] == "unknown tag '优抚对象'" and "known tags: 独居老人、高龄老人" in str(error)
    assert "written as 1.10105E+17 by Excel" in problems[(13, "身份证号码")]
    assert problems[(14, "出生年份")].startswith("a birth year is written like 1990")
    assert len(error.problems) == 10  # row 6 is fine: a phone and no ID number to disagree with


def test_an_id_number_typed_as_a_number_in_excel_is_refused():
    rows = [["王芳", 1.10105194912310e17, "1号楼", "101"]]
    error = refusal(xlsx(rows, ["姓名", "身份证号", "楼栋", "房号"], title=None))
    assert error.problems == [(2, "身份证号", error.problems[0][2])]
    assert "stored as a number" in error.problems[0][2]


def test_only_the_first_twenty_problems_are_listed():
    rows = [[f"王{'一二三四五六七八九十'[i % 10]}", "12345", "1号楼", str(100 + i)] for i in range(25)]
    error = refusal(xlsx(rows, ["姓名", "电话", "楼栋", "房号"], title=None))
    assert len(error.problems) == 25
    assert "25 problems" in str(error) and str(error).endswith("; and 5 more")
    assert str(error).count("row ") == 20


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        (["姓名", "身份证号", "房号"], "the header (row 1) has no column 楼栋"),
        (["姓名", "楼栋", "房号"], "no column 身份证号 or 联系电话"),
        (["姓名", "电话", "手机号", "楼栋", "房号"], "row 1: two columns for 联系电话 (手机号)"),
        (["名字", "号码", "地址"], "no header row (姓名, 楼栋, 房号 …) in the first 10 rows"),
    ],
)
def test_a_register_without_the_needed_columns_is_refused(headers, message):
    error = refusal(xlsx([["王芳", "13812345678", "1号楼", "101", "x"][: len(headers)]], headers, title=None))
    assert message in str(error)


def test_a_header_below_the_tenth_row_is_not_looked_for():
    book = openpyxl.Workbook()
    for _ in range(10):
        book.active.append(["说明"])
    book.active.append(["姓名", "电话", "楼栋", "房号"])
    out = io.BytesIO()
    book.save(out)
    assert "no header row" in str(refusal(out.getvalue()))


def test_files_that_are_not_registers_are_refused_with_a_reason(tmp_path):
    assert "an old .xls workbook" in str(refusal(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100)))
    assert "the file is empty" in str(refusal(b"   "))
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("hello.txt", "not a workbook")
    assert "not a readable XLSX workbook" in str(refusal(zipped.getvalue()))
    assert "neither an XLSX workbook nor CSV text" in str(refusal(b"\xff\xff\xff\xff,\x80\x80"))
    assert "no residents below the header" in str(refusal(csv_bytes([], title=False)))
    with pytest.raises(RegisterError, match="missing.xlsx: no such file"):
        read_register(tmp_path / "missing.xlsx", key=KEY)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        read_register(csv_bytes([], title=False), key=b"short")


def test_a_path_is_read_and_named_in_the_error(tmp_path, residents):
    path = tmp_path / "花名册.xlsx"
    path.write_bytes(xlsx(register_rows(residents.head(3))))
    assert len(read_register(path, key=KEY).residents) == 3
    with pytest.raises(RegisterError, match="花名册.xlsx: larger than 100 bytes"):
        read_register(path, key=KEY, max_bytes=100)


def test_size_and_row_caps(residents):
    data = xlsx(register_rows(residents.head(30)))
    assert "larger than 1000 bytes" in str(refusal(data, max_bytes=1000))
    assert "more than 29 rows of residents" in str(refusal(data, max_rows=29))
    assert len(read(data, max_rows=30).residents) == 30


def test_a_decompression_bomb_is_refused_before_it_is_read():
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"0" * 5_000_000)  # ~5 kB compressed
    data = bomb.getvalue()
    assert len(data) < 20_000
    assert "expands to 5000000 bytes, too large to read" in str(refusal(data, max_bytes=100_000))


# --- hostile cells --------------------------------------------------------------------------------------------------

HOSTILE = [
    ("=cmd|' /C calc'!A0", "a name may hold only letters"),
    ("<script>alert(1)</script>", "a name may hold only letters"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "a name may hold only letters"),
    ("+1+1", "a name may hold only letters"),
    ("王\x00芳", "control or invisible characters"),
    ("王\u202e芳", "control or invisible characters"),  # right-to-left override
    ("王" * 101, "longer than 100 characters (101)"),
    ("王" * 60, "a name has at most 50 characters"),
]


@pytest.mark.parametrize(
    ("kind", "name", "problem"),
    [("csv", *h) for h in HOSTILE] + [("xlsx", *h) for h in HOSTILE if "\x00" not in h[0]],  # XML cannot hold NUL
)
def test_hostile_names_are_refused_as_data(kind, name, problem):
    headers = ["姓名", "电话", "楼栋", "房号"]
    rows = [["李强", "13912345678", "1号楼", "101"], [name, "13812345678", "1号楼", "102"]]
    data = xlsx(rows, headers, title=None) if kind == "xlsx" else csv_bytes(rows, headers, "utf-8", title=False)
    error = refusal(data)
    assert [(r, c) for r, c, _ in error.problems] == [(3, "姓名")]
    assert problem in error.problems[0][2]


def test_a_formula_is_never_evaluated():
    """openpyxl stores '=…' as a formula with no cached value; read with data_only it is an empty cell."""
    book = openpyxl.Workbook()
    book.active.append(["姓名", "电话", "楼栋", "房号"])
    book.active.append(['=HYPERLINK("http://example.invalid","王芳")', "=13800000000+1", "1号楼", "101"])
    out = io.BytesIO()
    book.save(out)
    assert book.active["A2"].data_type == "f"
    error = refusal(out.getvalue())
    assert error.problems == [(2, "姓名", "empty"), (2, None, "neither 电话 given")]


def test_hostile_text_in_tags_rooms_and_ignored_columns():
    headers = ["姓名", "电话", "楼栋", "房号", "标签", "备注"]
    rows = [
        ["李强", "13912345678", "1号楼", "101", "<img src=x onerror=alert(1)>", "ok"],
        ["王芳", "13812345678", "=1+1", "102", None, "ok"],
        ["张伟", "13712345678", "1号楼", "<b>103</b>", None, "ok"],
        ["赵敏", "13612345678", "1号楼", "104", None, "=cmd|' /C calc'!A0 <script>"],  # ignored: never read
    ]
    error = refusal(xlsx(rows, headers, title=None))
    assert [(r, c) for r, c, _ in error.problems] == [(2, "标签"), (3, "楼栋"), (4, "房号")]
    assert error.problems[0][2] == "unknown tag '<img'"
    assert error.problems[1][2] == error.problems[2][2] == "may hold only letters, digits, spaces and - # ( ) / ·"
    accepted = read(xlsx(rows[3:], headers, title=None))
    assert accepted.ignored_columns == ("备注",) and "备注" not in accepted.residents.columns


def test_names_and_places_of_other_scripts_are_kept_as_written():
    headers = ["姓名", "电话", "楼栋", "单元", "房号"]
    rows = [
        ["阿依古丽·买买提", "13912345678", "3号楼", "2单元", "1502"],
        ["John O'Brien", "13812345678", "Ａ座", None, "B-1502"],
        ["张三丰", "13712345678", "东区(北)3#", None, "地下1层/02"],
    ]
    frame = read(xlsx(rows, headers, title=None)).residents
    assert frame["name"].tolist() == ["阿依古丽·买买提", "John O'Brien", "张三丰"]
    assert frame["building"].tolist() == ["3号楼", "A座", "东区(北)3#"]  # full-width letters made plain
    assert frame["room"].tolist() == ["1502", "B-1502", "地下1层/02"]


def test_ignored_headers_are_reported_as_printable_text():
    data = csv_bytes(
        [["王芳", "13812345678", "1号楼", "101", "x"]], ["姓名", "电话", "楼栋", "房号", "备注\x1b[2J"], "utf-8"
    )
    assert read(data).ignored_columns == ("备注?[2J",)
