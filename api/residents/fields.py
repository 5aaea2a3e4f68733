"""One cell of a residents' register to one value, or the problem with it.

A cell is data, never code or markup: a name must be letters, a building or room letters, digits and a little
punctuation, a tag a known word. So a formula (=cmd|…), a script tag or control characters are refused with the
row and column named, and what is accepted is plain text that is safe to show, export to CSV or put in a map.
"""

import re
import unicodedata
from datetime import date, datetime

from api.residents.vocabulary import gender_code, tag_code

__all__ = [
    "CellProblem",
    "birth_year_of",
    "cell_text",
    "gender_of",
    "id_text",
    "name_of",
    "place_of",
    "relation_of",
    "tags_of",
]

MAX_CELL_CHARS = 100  # no name, room or tag list is longer; a longer cell is refused, not cut
MAX_NAME_CHARS = 50  # long transliterated minority names (阿依古丽·买买提) fit
MAX_PLACE_CHARS = 40
NAME_PUNCTUATION = frozenset("·•.-' ")
PLACE_PUNCTUATION = frozenset("-#()/·")
TAG_SEPARATORS = re.compile(r"[、，,;；\s]+")
SCIENTIFIC = re.compile(r"\d(?:\.\d+)?e\+?\d+", re.IGNORECASE)
YEAR = re.compile(r"(\d{4})(?:(?:[年./\-]\d{1,2}.*)|(?:\d{2}(?:\d{2})?)|年)?")


class CellProblem(ValueError):
    """What is wrong with one cell, in words for the person who filled the register."""


def cell_text(value: object) -> str | None:
    """The cell as stripped text (None when empty); refused when too long or holding control characters."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise CellProblem("expected text, not TRUE/FALSE")
    if isinstance(value, datetime | date):
        text = value.date().isoformat() if isinstance(value, datetime) else value.isoformat()
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value).strip()
    if len(text) > MAX_CELL_CHARS:
        raise CellProblem(f"longer than {MAX_CELL_CHARS} characters ({len(text)})")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs") for c in text):
        raise CellProblem("holds control or invisible characters")
    return text or None


def id_text(value: object) -> str | None:
    """The ID number cell as text; a number cell is refused, since Excel keeps only 15 digits of a number."""
    if isinstance(value, float):
        raise CellProblem("stored as a number, which loses the last digits: format the column as text and retype it")
    text = cell_text(value)
    if text is not None and SCIENTIFIC.fullmatch(text):
        raise CellProblem(f"written as {text} by Excel, which lost the last digits: format the column as text")
    return text


def name_of(text: str) -> str:
    """A person's name: letters (Chinese or other scripts) with the middle dot, spaces, '.', '-' or "'" between."""
    if len(text) > MAX_NAME_CHARS:
        raise CellProblem(f"a name has at most {MAX_NAME_CHARS} characters")
    if not _letter(text[0]) or not all(_letter(c) or c in NAME_PUNCTUATION for c in text):
        raise CellProblem("a name may hold only letters, spaces and the middle dot ·")
    return text


def place_of(text: str) -> str:
    """A building, unit or room as written ('3号楼', 'A座', '2单元', '1502', 'B-1502'); full-width digits made plain."""
    text = unicodedata.normalize("NFKC", text)
    if len(text) > MAX_PLACE_CHARS:
        raise CellProblem(f"at most {MAX_PLACE_CHARS} characters")
    if not _alnum(text[0]) or not all(_alnum(c) or c in PLACE_PUNCTUATION or c == " " for c in text):
        raise CellProblem("may hold only letters, digits, spaces and - # ( ) / ·")
    return text


def relation_of(text: str) -> str:
    """与户主关系 as written (户主, 配偶, 子女 …): letters only."""
    if len(text) > 20 or not all(_letter(c) for c in text):
        raise CellProblem("a relation is a word of letters (户主, 配偶, 子女 …)")
    return text


def gender_of(text: str) -> str:
    code = gender_code(text)
    if code is None:
        raise CellProblem("gender is 男 or 女")
    return code


def birth_year_of(value: object, today: date) -> int:
    """The year of a 出生年份 / 出生年月 cell: 1990, '1990年', '1990-05', '1990.5', '199005', a date cell."""
    if isinstance(value, datetime | date):
        year = value.year
    elif isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        year = int(value)
        year = year // 100 if 190000 <= year <= 999999 else year  # 199005 as a number
    else:
        text = cell_text(value) or ""
        found = YEAR.fullmatch(text)
        if found is None:
            raise CellProblem("a birth year is written like 1990, 1990年 or 1990-05")
        year = int(found.group(1))
    if not 1900 <= year <= today.year:
        raise CellProblem(f"birth year {year} is not between 1900 and {today.year}")
    return year


def tags_of(text: str) -> list[str]:
    """Tags separated by 、，,;； or spaces, as stored codes in the order written (repeats dropped)."""
    codes: list[str] = []
    for word in TAG_SEPARATORS.split(text):
        if not word:
            continue
        code = tag_code(word)
        if code is None:
            shown = word if len(word) <= 12 else word[:12] + "…"
            raise CellProblem(f"unknown tag {shown!r}")
        if code not in codes:
            codes.append(code)
    return codes


def _letter(c: str) -> bool:
    return unicodedata.category(c)[0] in "LM"


def _alnum(c: str) -> bool:
    return unicodedata.category(c)[0] in "LMN"
