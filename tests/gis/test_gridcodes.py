"""gis.grids.codes: grid code profiles."""

import pytest

from gis.errors import GridCodeError
from gis.grids import CJT213_14, DB11_15, PROFILES, GridCode, format_grid_code, parse_grid_code


def test_profiles():
    assert set(PROFILES) == {"DB11_15", "CJT213_14"}
    assert DB11_15.length == 15 and CJT213_14.length == 14


def test_parse_db11_15():
    code = parse_grid_code("440402001002003", "DB11_15")  # 珠海香洲区, street 001, community 002, grid 003
    assert code == GridCode("440402", "001", "002", "003", "DB11_15")
    assert code.code == "440402001002003"
    assert parse_grid_code("110105003004001") == GridCode("110105", "003", "004", "001", "DB11_15")  # default


def test_parse_cjt213_14():
    assert parse_grid_code("44040200100201", CJT213_14) == GridCode("440402", "001", "002", "01", "CJT213_14")
    assert parse_grid_code("81000000100201", "cjt213_14").district == "810000"  # Hong Kong: province-level only


@pytest.mark.parametrize(
    "code, profile, problem",
    [
        ("44040200100200", "DB11_15", "has 14 digits, expected DB11_15 = 6 district"),
        ("440402001002003", "CJT213_14", "has 15 digits, expected CJT213_14"),
        ("4404020010020O3", "DB11_15", "non-digit characters 'O'"),
        ("440402-01002003", "DB11_15", "non-digit characters '-'"),
        ("４４０４０２００１００２００３", "DB11_15", "non-digit characters"),  # full-width digits
        ("990402001002003", "DB11_15", "'99' is not a province code"),
        ("160402001002003", "DB11_15", "'16' is not a province code"),
        ("440000001002003", "DB11_15", "is a province code, not a district"),
        ("440402001002000", "DB11_15", "sequence '000' must start at 001"),
        ("44040200100200", "CJT213_14", "sequence '00' must start at 01"),
        ("", "DB11_15", "has 0 digits"),
    ],
)
def test_invalid_codes(code, profile, problem):
    with pytest.raises(GridCodeError) as err:
        parse_grid_code(code, profile)
    assert problem in str(err.value)
    assert repr(code) in str(err.value)


def test_non_string_and_unknown_profile():
    with pytest.raises(GridCodeError, match="must be a string"):
        parse_grid_code(440402001002003, "DB11_15")
    with pytest.raises(GridCodeError, match="unknown grid code profile 'GB99'; known: DB11_15, CJT213_14"):
        parse_grid_code("440402001002003", "GB99")


def test_format_round_trips():
    assert format_grid_code("440402", 1, 2, 3, "DB11_15") == "440402001002003"
    assert format_grid_code("440402", "001", "002", 7, "CJT213_14") == "44040200100207"
    code = format_grid_code(110105, 3, 4, 12, DB11_15)
    assert parse_grid_code(code, DB11_15).seq == "012"


@pytest.mark.parametrize(
    "parts, problem",
    [
        (("440402", 1, 2, 1000), "sequence 1000 does not fit in 3 digits"),
        (("440402", "1", 2, 3), "street code '1' must be exactly 3 digits"),
        (("440402", 1, 2, 0), "must start at 001"),
        (("990402", 1, 2, 3), "not a province code"),
        (("440402", -1, 2, 3), "street code -1 does not fit"),
    ],
)
def test_format_rejects_bad_parts(parts, problem):
    with pytest.raises(GridCodeError, match=problem):
        format_grid_code(*parts, "DB11_15")
