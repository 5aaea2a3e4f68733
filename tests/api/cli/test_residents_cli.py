"""`gridmap import-residents`: a community's register stored from XLSX (any sheet) or GB18030 CSV, counts printed
and nothing personal; every refusal one line (or the listed problems), exit code 2, nothing stored."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app
from gis.sample import SampleArea
from tests.conftest import sample_loaded
from tests.registers import Community, community, csv_bytes, rows, xlsx

KEY = "the CLI tests' key for ID-number hashes, 0123456789"


@pytest.fixture(scope="module")
def area(engine: Engine) -> Iterator[SampleArea]:
    with sample_loaded(engine) as area:
        yield area


@pytest.fixture(scope="module")
def place(area: SampleArea) -> Community:
    return community(area, 1)


@pytest.fixture
def cli(engine: Engine, area: SampleArea, database_url: str, monkeypatch) -> Iterator[Engine]:
    """The environment of an operator's shell; registers' residents removed after each test."""
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    monkeypatch.setenv("GRIDMAP_ID_HASH_KEY", KEY)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_log"))  # the sample's row
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM residents WHERE source <> 'sample'"))
        conn.execute(text("TRUNCATE audit_log"))


def run(*args: str):
    return CliRunner().invoke(app, ["import-residents", *map(str, args)])


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def registered(engine: Engine) -> tuple[int, int, int]:
    """Residents stored from registers, of them with the ID number in clear, and audit rows."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*), count(id_number), (SELECT count(*) FROM audit_log) FROM residents "
                "WHERE source LIKE 'register:%'"
            )
        ).one()


def assert_nothing_personal(output: str, people) -> None:
    for p in people.itertuples():
        for value in (p.name, p.id_number, p.id_number[-6:], p.phone):
            assert not isinstance(value, str) or value not in output


def test_an_xlsx_register_is_imported_and_a_reimport_updates(cli, tmp_path, place):
    people = place.people.head(300)
    path = write(tmp_path, "花名册.xlsx", xlsx(rows(people)))
    first = run(path, "--community", place.code)
    assert first.exit_code == 0, first.output
    assert first.output.splitlines()[-1] == "imported: residents=300 inserted=300 updated=0 unchanged=0 moved=0"
    assert registered(cli) == (300, 0, 1)
    again = run(path, "--community", place.code)
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[-1] == "imported: residents=300 inserted=0 updated=0 unchanged=300 moved=0"
    assert registered(cli) == (300, 0, 2)
    assert_nothing_personal(first.output + again.output, people)


def test_a_gb18030_csv_with_id_numbers_kept(cli, tmp_path, place):
    people = place.people.tail(120)
    path = write(tmp_path, "花名册.csv", csv_bytes(rows(people), encoding="gb18030"))
    result = run(path, "--community", place.code, "--keep-id-numbers")
    assert result.exit_code == 0, result.output
    assert "inserted=120" in result.output and registered(cli) == (120, 120, 1)
    assert_nothing_personal(result.output, people)


def test_the_register_on_a_named_sheet(cli, tmp_path, place):
    path = write(tmp_path, "book.xlsx", xlsx(rows(place.people.head(10)), sheet="花名册"))
    assert run(path, "--community", place.code).exit_code == 2  # the first sheet is no register
    result = run(path, "--community", place.code, "--sheet", "花名册")
    assert result.exit_code == 0, result.output
    assert "inserted=10" in result.output and registered(cli)[0] == 10
    missing = run(path, "--community", place.code, "--sheet", "Sheet9")
    assert missing.exit_code == 2 and "no sheet 'Sheet9'" in missing.output


def one_line_refusal(result) -> str:
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: "), result.output
    assert "Traceback" not in result.output and "nothing was stored" in result.output
    return result.output


def test_refusals_are_one_line_and_store_nothing(cli, tmp_path, area, place):
    people = place.people.head(40)
    good = write(tmp_path, "good.xlsx", xlsx(rows(people)))

    unknown = one_line_refusal(run(good, "--community", "110105001099"))
    assert "community '110105001099' is not stored" in unknown

    bad_id = rows(people)
    bad_id[5][2] = bad_id[5][2][:6] + "19991332" + bad_id[5][2][14:]  # no 32nd of the 13th month
    refused = one_line_refusal(run(write(tmp_path, "bad-id.xlsx", xlsx(bad_id)), "--community", place.code))
    assert "row 8 (身份证号码): birth date 19991332 is not a date" in refused

    moved_out = rows(people)
    moved_out[0][7] = "9999"
    refused = one_line_refusal(run(write(tmp_path, "unknown.xlsx", xlsx(moved_out)), "--community", place.code))
    assert "row 3: no household 楼栋" in refused and "房号 '9999'" in refused

    wrong_place = rows(community(area, 4).people.head(30))
    refused = one_line_refusal(run(write(tmp_path, "other.csv", csv_bytes(wrong_place)), "--community", place.code))
    assert "30 rows without their household" in refused

    assert "no such file" in one_line_refusal(run(tmp_path / "missing.xlsx", "--community", place.code))
    for output in (unknown, refused):
        assert_nothing_personal(output, people)
    assert registered(cli) == (0, 0, 0)


def test_a_malformed_community_code_is_refused_before_reading(cli, tmp_path, place):
    path = write(tmp_path, "good.xlsx", xlsx(rows(place.people.head(3))))
    for code in ("002", "110105001002x", "１１０１０５００１００２"):
        result = run(path, "--community", code)
        assert result.exit_code == 2 and result.output.count("\n") == 1 and "12-digit code" in result.output
    assert registered(cli) == (0, 0, 0)


@pytest.mark.parametrize("key", [None, "change-me", "Xq7-tiny"])
def test_production_without_a_proper_hash_key_stops_in_one_line(cli, tmp_path, place, monkeypatch, key):
    monkeypatch.setenv("GRIDMAP_ENVIRONMENT", "production")
    if key is None:
        monkeypatch.delenv("GRIDMAP_ID_HASH_KEY")
    else:
        monkeypatch.setenv("GRIDMAP_ID_HASH_KEY", key)
    path = write(tmp_path, "good.xlsx", xlsx(rows(place.people.head(3))))
    result = run(path, "--community", place.code)
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert result.output.startswith("error: GRIDMAP_ID_HASH_KEY ") and (key is None or key not in result.output)
    assert registered(cli) == (0, 0, 0)
