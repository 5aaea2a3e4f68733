"""Phone numbers of residents: mainland mobiles (13812345678) and landlines with their area code (010-12345678,
0571-1234567, an optional extension), checked, written one way, and masked for display (138****5678).

One written form per number lets two registers be compared and a number be found again; people write the same
number as '+86 138 1234 5678', '138-1234-5678' or '(010)1234 5678'.
"""

import re
import unicodedata
from dataclasses import dataclass

from api.errors import PhoneError

__all__ = ["Phone", "check_phone", "mask_phone", "normalise_phone"]

MOBILE = re.compile(r"1[3-9]\d{9}")
AREA_CODE = re.compile(r"010|02\d|0[3-9]\d\d")  # 010 and 020–029 are the 3-digit ones (Beijing, big cities)
LOCAL = re.compile(r"[1-9]\d{6,7}")
EXTENSION = re.compile(r"^(.*?)\s*(?:转|分机|ext\.?|x|#)\s*(\d{1,6})$")
INTERNATIONAL = re.compile(r"^(?:\+|00)86")
SEPARATORS = re.compile(r"[\s()\-]+")
MASKED_MOBILE = re.compile(r"1[3-9]\d\*{4}\d{4}")
MASKED_LANDLINE = re.compile(r"0\d{2,3}-\**\d{4}(?:-\**)?")


@dataclass(frozen=True)
class Phone:
    """A checked number: ``number`` is its one written form (13812345678, 010-12345678, 010-12345678-801)."""

    number: str
    kind: str  # "mobile" or "landline"
    area_code: str | None = None
    local: str | None = None
    extension: str | None = None


def check_phone(text: object) -> Phone:
    """The number in ``text``; `PhoneError` says why it is not a mobile or a landline with its area code."""
    if not isinstance(text, str):
        raise PhoneError(f"a phone number must be text, not {type(text).__name__}")
    raw = unicodedata.normalize("NFKC", text).strip().lower()
    if not raw:
        raise PhoneError("phone number is empty")
    extension = None
    if found := EXTENSION.match(raw):
        raw, extension = found.group(1), found.group(2)
    international = INTERNATIONAL.match(raw)
    if international:
        raw = raw[international.end() :]
    groups = [g for g in SEPARATORS.split(raw) if g]
    if not groups or not all(g.isascii() and g.isdigit() for g in groups):
        raise PhoneError("a phone number holds only digits, spaces, hyphens, brackets, +86 and an extension")
    digits = "".join(groups)
    if len(digits) == 13 and digits.startswith("86") and MOBILE.fullmatch(digits[2:]):
        digits = digits[2:]  # 86 13812345678: the country code without its +
    if MOBILE.fullmatch(digits):
        if extension:
            raise PhoneError("a mobile number has no extension")
        return Phone(number=digits, kind="mobile")
    if international and not groups[0].startswith("0"):
        groups[0] = "0" + groups[0]  # +86 10 12345678: the area code without its trunk 0
    if len(groups) == 3 and extension is None and AREA_CODE.fullmatch(groups[0]) and _local(groups[0], groups[1]):
        extension = groups.pop()  # 010-12345678-801: area code, number, extension
    try:
        area, local = _landline("".join(groups))
    except PhoneError as whole:
        if extension is not None or len(groups) < 2 or len(groups[-1]) > 6:
            raise
        try:
            area, local = _landline("".join(groups[:-1]))  # 01012345678-801: the last group is an extension
        except PhoneError:
            raise whole from None
        extension = groups[-1]
    number = f"{area}-{local}" + (f"-{extension}" if extension else "")
    return Phone(number=number, kind="landline", area_code=area, local=local, extension=extension)


def _landline(digits: str) -> tuple[str, str]:
    """(area code, local number) of a landline's digits, or why they are not one."""
    if digits.startswith("1") and len(digits) == 11:
        raise PhoneError("a mobile number starts with 13–19")
    if digits.startswith("1"):
        raise PhoneError(f"{len(digits)} digits: neither a mobile number (11) nor a landline with its area code")
    if not digits.startswith("0"):
        raise PhoneError("a landline needs its area code (e.g. 010-12345678)")
    area = AREA_CODE.match(digits)
    if area is None:
        raise PhoneError(f"area code {digits[:4]} is not a mainland area code")
    local = digits[area.end() :]
    if not _local(area.group(), local):
        lengths = "8 digits" if len(area.group()) == 3 else "7 or 8 digits"
        raise PhoneError(f"a landline has {lengths} after area code {area.group()}, the first not 0")
    return area.group(), local


def _local(area: str, local: str) -> bool:
    """A local number fits its area code: 8 digits after 010 and 02X (their cities have no shorter numbers), 7 or 8
    after a 4-digit code; never a leading 0, which would be a trunk prefix."""
    return bool(LOCAL.fullmatch(local)) and (len(area) == 4 or len(local) == 8)


def normalise_phone(text: str) -> str:
    """The one written form of the number in ``text`` ('+86 138-1234-5678' → '13812345678')."""
    return check_phone(text).number


def mask_phone(text: str) -> str:
    """13812345678 → 138****5678; 0571-1234567 → 0571-***4567 (area code and last 4 kept, extension starred).

    Works on any text and never reveals more: what is not a number (nor an already masked one) is all stars.
    Masking keeps the length of the written form, and masking a masked number gives it back unchanged.
    """
    try:
        phone = check_phone(text)
    except PhoneError:
        shown = text.strip() if isinstance(text, str) else ""
        if MASKED_MOBILE.fullmatch(shown) or MASKED_LANDLINE.fullmatch(shown):
            return shown
        return "*" * len(shown)
    if phone.kind == "mobile":
        return phone.number[:3] + "****" + phone.number[-4:]
    local = phone.local or ""
    masked = f"{phone.area_code}-" + "*" * (len(local) - 4) + local[-4:]
    return masked + (f"-{'*' * len(phone.extension)}" if phone.extension else "")
