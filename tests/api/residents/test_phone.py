"""api.residents.phone: mobiles and landlines checked, written one way whatever the input, and masked."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.errors import PhoneError
from api.residents import check_phone, mask_phone, normalise_phone

AREA_CODES = ["010", "020", "021", "022", "023", "024", "025", "027", "028", "029", "0571", "0755", "0991", "0898"]


@pytest.mark.parametrize(
    ("written", "number"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("0086-13812345678", "13812345678"),
        ("86 13812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),  # full-width, as typed with a Chinese input method
        ("19912345678", "19912345678"),
        ("010-12345678", "010-12345678"),
        ("(010)1234 5678", "010-12345678"),
        ("（010）12345678", "010-12345678"),
        ("01012345678", "010-12345678"),
        ("0571-1234567", "0571-1234567"),
        ("0571-123-4567", "0571-1234567"),
        ("+86 10 12345678", "010-12345678"),
        ("0086 571 87654321", "0571-87654321"),
        ("010-12345678-801", "010-12345678-801"),
        ("010-12345678转801", "010-12345678-801"),
        ("010 1234 5678 ext 12", "010-12345678-12"),
        ("0755-87654321#3", "0755-87654321-3"),
    ],
)
def test_every_way_of_writing_gives_one_number(written, number):
    assert normalise_phone(written) == number
    assert normalise_phone(number) == number


def test_parts_of_a_landline():
    phone = check_phone("0571-1234567转8")
    assert (phone.kind, phone.area_code, phone.local, phone.extension) == ("landline", "0571", "1234567", "8")
    assert check_phone("13812345678").kind == "mobile"


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("", "empty"),
        ("12345678", "8 digits: neither a mobile number"),
        ("1381234567", "10 digits: neither a mobile number"),
        ("12812345678", "a mobile number starts with 13–19"),
        ("11012345678", "a mobile number starts with 13–19"),
        ("87654321", "a landline needs its area code"),
        ("0111234567", "area code 0111 is not a mainland area code"),
        ("010-02345678", "8 digits after area code 010, the first not 0"),
        ("010-1234567", "8 digits after area code 010"),
        ("0571-123456", "7 or 8 digits after area code 0571"),
        ("0571-123456789", "7 or 8 digits after area code 0571"),
        ("13812345678转8", "a mobile number has no extension"),
        ("138 1234 567a", "only digits"),
        ("=1+13812345678", "only digits"),
        ("<script>13812345678</script>", "only digits"),
    ],
)
def test_each_problem_is_named(written, problem):
    with pytest.raises(PhoneError, match=problem):
        check_phone(written)


def test_not_text_is_refused():
    with pytest.raises(PhoneError, match="must be text"):
        check_phone(13812345678)


@pytest.mark.parametrize(
    ("written", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138 1234 5678", "138****5678"),
        ("010-12345678", "010-****5678"),
        ("0571-1234567", "0571-***4567"),
        ("010-12345678-801", "010-****5678-***"),
        ("138****5678", "138****5678"),  # already masked: unchanged
        ("0571-***4567", "0571-***4567"),
        ("not a phone", "***********"),  # unreadable: nothing shown
        ("12345678", "********"),
    ],
)
def test_mask_keeps_only_the_prefix_area_code_and_last_four(written, masked):
    assert mask_phone(written) == masked


# --- properties -----------------------------------------------------------------------------------------------------


@st.composite
def mobiles(draw) -> str:
    return "1" + draw(st.sampled_from("3456789")) + draw(st.text("0123456789", min_size=9, max_size=9))


@st.composite
def landlines(draw) -> str:
    area = draw(st.sampled_from(AREA_CODES))
    length = 7 if len(area) == 3 else draw(st.sampled_from([6, 7]))  # 8 digits after 010 and 02X, else 7 or 8
    local = draw(st.sampled_from("123456789")) + draw(st.text("0123456789", min_size=length, max_size=length))
    extension = draw(st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=6)))
    return f"{area}-{local}" + (f"-{extension}" if extension else "")


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@st.composite
def written_forms(draw, number: str) -> str:
    """``number`` as people write it: an international prefix, other grouping, full-width digits."""
    if "-" not in number:  # a mobile
        split = draw(st.sampled_from([[3, 8], [3, 4, 4], [11]]))
        parts, start = [], 0
        for width in split:
            parts.append(number[start : start + width])
            start += width
        written = draw(st.sampled_from([" ", "-", ""])).join(parts)
        written = draw(st.sampled_from(["", "+86 ", "+86", "0086 ", "86"])) + written
    else:
        area, local, *extension = number.split("-")
        written = draw(st.sampled_from([f"{area}-{local}", f"({area}){local}", f"{area} {local}", area + local]))
        if draw(st.booleans()):
            written = f"+86 {area[1:]} {local}"
        if extension:
            written += draw(st.sampled_from(["-", "转", " ext ", "#"])) + extension[0]
    if draw(st.booleans()):
        written = written.translate(FULL_WIDTH)
    return written


@given(st.one_of(mobiles(), landlines()).flatmap(lambda n: st.tuples(st.just(n), written_forms(n))))
def test_normalising_any_written_form_gives_the_number_back(pair):
    number, written = pair
    assert normalise_phone(written) == number
    assert normalise_phone(normalise_phone(written)) == number


@given(st.one_of(mobiles(), landlines()))
def test_masking_keeps_the_length_hides_the_middle_and_is_stable(number):
    masked = mask_phone(number)
    assert len(masked) == len(number)
    if "-" not in number:
        assert masked == number[:3] + "****" + number[7:]
    else:
        area, local, *extension = number.split("-")
        assert masked.split("-") == [area, "*" * (len(local) - 4) + local[-4:], *("*" * len(e) for e in extension)]
    assert mask_phone(masked) == masked
