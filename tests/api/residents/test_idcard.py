"""api.residents.idcard: ID numbers checked part by part with real values, masked, and hashed with a key."""

import string
from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from api.errors import IdNumberError, status_and_code
from api.residents import check_id_number, id_number_hash, mask_id_number
from api.residents.idcard import PROVINCES

KEY = b"a test key of 32 bytes, not real"
TODAY = date(2026, 1, 1)


def textbook_check(first17: str) -> str:
    """The check character as GB 11643 writes it, independently of gis.idnumber: Σ aᵢ·Wᵢ with Wᵢ = 2^(i−1) mod 11
    counted from the right (i = 18 … 2), then the character whose value a₁ makes the total ≡ 1 (mod 11)."""
    total = sum(int(d) * (2 ** (18 - i) % 11) for i, d in enumerate(first17, start=1))
    value = next(v for v in range(11) if (total + v) % 11 == 1)
    return "X" if value == 10 else str(value)


# --- real values ----------------------------------------------------------------------------------------------------


def test_the_standards_example_is_valid_and_says_birth_and_gender():
    checked = check_id_number("11010519491231002X")
    assert checked.number == "11010519491231002X"
    assert (checked.region, checked.birth_date, checked.sequence) == ("110105", date(1949, 12, 31), "002")
    assert (checked.gender, checked.birth_year) == ("女", 1949)  # 002: even


@pytest.mark.parametrize(
    "written",
    ["11010519491231002x", " 110105 19491231 002X ", "１１０１０５１９４９１２３１００２Ｘ", "110105\t19491231002x"],
)
def test_lower_case_x_spaces_and_full_width_are_normalised(written):
    assert check_id_number(written).number == "11010519491231002X"


def test_a_man_has_an_odd_17th_digit():
    number = "11010519900307001" + textbook_check("11010519900307001")
    assert number == "110105199003070017"
    checked = check_id_number(number)
    assert (checked.gender, checked.birth_date) == ("男", date(1990, 3, 7))


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("110105194912310021", "check digit should be X"),
        ("110105199003070010", "check digit should be 7"),
        ("11010519990231002X", "birth date 19990231 is not a date"),
        ("110105199913310016", "birth date 19991331 is not a date"),
        ("440524188001010014", "birth date 18800101 is before 1900"),  # the standard's second example, valid sum
        ("110105202601020012", "birth date 20260102 is in the future"),
        ("990105194912310021", "region code 990105 does not start with a province code"),
        ("1101051949123100", "an ID number has 18 characters, not 16"),
        ("110105491231002", "15-digit ID numbers"),
        ("11010519491231O02X", "character 15 should be a digit"),
        ("11010519491231002Y", "the last character should be a digit or X"),
        ("", "ID number is empty"),
        ("   ", "ID number is empty"),
    ],
)
def test_each_problem_is_named(number, problem):
    with pytest.raises(IdNumberError, match=problem):
        check_id_number(number, today=TODAY)


def test_not_text_is_refused_and_the_error_is_a_422():
    with pytest.raises(IdNumberError, match="must be text, not int") as caught:
        check_id_number(110105194912310021)
    assert isinstance(caught.value, ValueError)
    assert status_and_code(caught.value) == (422, "invalid_resident_data")


def test_born_today_is_accepted_tomorrow_is_not():
    first17 = "110105" + TODAY.strftime("%Y%m%d") + "001"
    assert check_id_number(first17 + textbook_check(first17), today=TODAY).birth_date == TODAY
    tomorrow = "110105" + (TODAY + timedelta(days=1)).strftime("%Y%m%d") + "001"
    with pytest.raises(IdNumberError, match="in the future"):
        check_id_number(tomorrow + textbook_check(tomorrow), today=TODAY)


# --- masking and hashing --------------------------------------------------------------------------------------------


def test_mask_keeps_region_code_and_last_four():
    assert mask_id_number("110105199001011234") == "110105********1234"
    assert mask_id_number("11010519491231002x") == "110105********002X"
    assert mask_id_number("123456789") == "*********"
    assert mask_id_number("") == ""


def test_hash_is_keyed_hex_and_the_same_for_one_number_however_written():
    digest = id_number_hash("11010519491231002X", KEY)
    assert len(digest) == 64 and set(digest) <= set(string.hexdigits.lower())
    assert id_number_hash(" 11010519491231002x", KEY) == digest
    assert id_number_hash(check_id_number("11010519491231002x"), KEY) == digest  # an already checked number
    assert id_number_hash("11010519491231002X", KEY[::-1]) != digest
    assert id_number_hash("110105199003070017", KEY) != digest
    assert "11010519491231002X" not in digest and "19491231" not in digest


def test_hash_refuses_a_short_key_and_an_invalid_number():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        id_number_hash("11010519491231002X", b"short")
    with pytest.raises(IdNumberError, match="check digit"):
        id_number_hash("110105194912310021", KEY)


# --- properties -----------------------------------------------------------------------------------------------------


@st.composite
def valid_numbers(draw) -> str:
    province = draw(st.sampled_from(sorted(PROVINCES)))
    region = province + draw(st.text(string.digits, min_size=4, max_size=4))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=TODAY))
    first17 = region + born.strftime("%Y%m%d") + draw(st.text(string.digits, min_size=3, max_size=3))
    return first17 + textbook_check(first17)


@given(valid_numbers())
def test_every_valid_number_passes_and_says_its_birth_date_and_gender(number):
    checked = check_id_number(number, today=TODAY)
    assert checked.number == number
    assert checked.birth_date.strftime("%Y%m%d") == number[6:14]
    assert checked.gender == ("男" if int(number[16]) % 2 else "女")


@given(valid_numbers(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_character_change_is_refused(number, position, character):
    changed = number[:position] + character + number[position + 1 :]
    assume(changed != number)
    with pytest.raises(IdNumberError):
        check_id_number(changed, today=TODAY)


@given(valid_numbers(), st.integers(0, 16))
def test_swapping_two_neighbouring_characters_is_refused(number, position):
    swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
    assume(swapped != number)
    with pytest.raises(IdNumberError):
        check_id_number(swapped, today=TODAY)


@given(st.text(alphabet=string.digits + "Xx*", max_size=30))
def test_masking_shows_only_the_kept_parts_keeps_the_length_and_is_stable(text):
    masked = mask_id_number(text)
    assert len(masked) == len(text)
    if len(text) >= 10:
        assert masked[:6] == text[:6].upper() and masked[-4:] == text[-4:].upper()
        assert set(masked[6:-4]) <= {"*"}
    else:
        assert set(masked) <= {"*"}
    assert mask_id_number(masked) == masked
