"""Unit grid codes (网格编码): parse, check and format codes against a named profile.

A code is a string of digits: a 6-digit district code (县级行政区划代码, GB/T 2260), a 3-digit street code
(街道/乡镇), a 3-digit community code (社区/村) and a sequence number within the community (numbered west→east,
north→south). The parts are stored separately (docs/layers.md: ``district_code`` … ``seq_code``).

Profiles:

- ``DB11_15``: 6 + 3 + 3 + 3 = 15 digits (Beijing local standard style).
- ``CJT213_14``: 6 + 3 + 3 + 2 = 14 digits (CJ/T 213 style).

Checks are plausibility checks, not a lookup in the administrative-division table: the district's first two digits
must be a real province-level code, it must not be a bare province code (``xx0000``), and the sequence must not be
all zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from gis.errors import GridCodeError

__all__ = [
    "CJT213_14",
    "DB11_15",
    "PROFILES",
    "PROVINCE_CODES",
    "CodeProfile",
    "GridCode",
    "format_grid_code",
    "get_profile",
    "parse_grid_code",
]

# GB/T 2260 province-level codes: 11–15 华北, 21–23 东北, 31–37 华东, 41–46 中南, 50–54 西南, 61–65 西北,
# 71 台湾, 81 香港, 82 澳门.
PROVINCE_CODES: frozenset[str] = frozenset(
    [str(c) for c in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47), *range(50, 55))]
    + [str(c) for c in (*range(61, 66), 71, 81, 82)]
)
# Regions coded only at province level in GB/T 2260, where xx0000 is the whole code.
_PROVINCE_ONLY = frozenset({"71", "81", "82"})


@dataclass(frozen=True)
class CodeProfile:
    """Widths of the parts of a grid code."""

    name: str
    district: int
    street: int
    community: int
    seq: int

    @property
    def length(self) -> int:
        return self.district + self.street + self.community + self.seq

    def describe(self) -> str:
        return (
            f"{self.name} = {self.district} district + {self.street} street + {self.community} community"
            f" + {self.seq} sequence = {self.length} digits"
        )


DB11_15 = CodeProfile("DB11_15", district=6, street=3, community=3, seq=3)
CJT213_14 = CodeProfile("CJT213_14", district=6, street=3, community=3, seq=2)
PROFILES: dict[str, CodeProfile] = {p.name: p for p in (DB11_15, CJT213_14)}


@dataclass(frozen=True)
class GridCode:
    """A parsed grid code; `code` is the full string."""

    district: str
    street: str
    community: str
    seq: str
    profile: str

    @property
    def code(self) -> str:
        return self.district + self.street + self.community + self.seq


def get_profile(profile: str | CodeProfile) -> CodeProfile:
    """The profile object for a name (``'DB11_15'``, ``'CJT213_14'``, case-insensitive) or the profile itself."""
    if isinstance(profile, CodeProfile):
        return profile
    found = PROFILES.get(str(profile).upper())
    if found is None:
        raise GridCodeError(f"unknown grid code profile {profile!r}; known: {', '.join(PROFILES)}")
    return found


def check_district_code(district: str) -> None:
    """Raise `GridCodeError` unless `district` is a plausible 6-digit GB/T 2260 county-level code."""
    if len(district) != 6 or not district.isascii() or not district.isdigit():
        raise GridCodeError(f"district code {district!r} must be 6 digits (GB/T 2260)")
    if district[:2] not in PROVINCE_CODES:
        raise GridCodeError(
            f"district code {district!r} is not a GB/T 2260 code: {district[:2]!r} is not a province code"
            " (11–15, 21–23, 31–37, 41–46, 50–54, 61–65, 71, 81, 82)"
        )
    if district[2:] == "0000" and district[:2] not in _PROVINCE_ONLY:
        raise GridCodeError(f"district code {district!r} is a province code, not a district (区/县)")


def parse_grid_code(code: str, profile: str | CodeProfile = "DB11_15") -> GridCode:
    """Split `code` into its parts, checking it against `profile`.

    Raises
    ------
    GridCodeError
        With the code, the profile and the problem: wrong length, non-digits, implausible district, zero sequence.
    """
    prof = get_profile(profile)
    if not isinstance(code, str):
        raise GridCodeError(f"grid code {code!r} must be a string of digits, not {type(code).__name__}")
    bad = sorted({ch for ch in code if not (ch.isascii() and ch.isdigit())})
    if bad:
        raise GridCodeError(f"grid code {code!r} has non-digit characters {''.join(bad)!r} ({prof.describe()})")
    if len(code) != prof.length:
        raise GridCodeError(f"grid code {code!r} has {len(code)} digits, expected {prof.describe()}")
    cuts = [0, prof.district, prof.district + prof.street, prof.district + prof.street + prof.community, prof.length]
    district, street, community, seq = (code[a:b] for a, b in pairwise(cuts))
    try:
        check_district_code(district)
    except GridCodeError as exc:
        raise GridCodeError(f"grid code {code!r}: {exc}") from None
    if int(seq) == 0:
        raise GridCodeError(f"grid code {code!r}: sequence {seq!r} must start at {1:0{prof.seq}d}, not zero")
    return GridCode(district, street, community, seq, prof.name)


def _part(value: str | int, width: int, what: str) -> str:
    if isinstance(value, bool):
        raise GridCodeError(f"{what} {value!r} must be digits")
    if isinstance(value, int):
        if value < 0 or len(str(value)) > width:
            raise GridCodeError(f"{what} {value!r} does not fit in {width} digits")
        return f"{value:0{width}d}"
    text = str(value)
    if len(text) != width or not text.isascii() or not text.isdigit():
        raise GridCodeError(f"{what} {text!r} must be exactly {width} digits")
    return text


def format_grid_code(
    district: str | int,
    street: str | int,
    community: str | int,
    seq: str | int,
    profile: str | CodeProfile = "DB11_15",
) -> str:
    """Build the full code from its parts; ints are zero-padded, strings must already have the right width.

    The result is checked with `parse_grid_code`, so a formatted code always parses.
    """
    prof = get_profile(profile)
    code = (
        _part(district, prof.district, "district code")
        + _part(street, prof.street, "street code")
        + _part(community, prof.community, "community code")
        + _part(seq, prof.seq, "sequence")
    )
    parse_grid_code(code, prof)
    return code
