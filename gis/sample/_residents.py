"""Residents (居民) of the sample households: fictional names, gender, birth year, phone and resident ID number,
who each is to the head of the household (与户主关系), and their tags.

Each household gets exactly ``size`` residents whose make-up fits its tags, so that a register of them reads
right: an 独居老人 household is one or two people of 70+, an 高龄 one has a member of 80+ (and households without
that tag have none), an 婴幼儿 one a child under 3, a 留守儿童 one children under 16 living with grandparents and
no parents. Person tags go to the member they describe (the 80+ member, the infant, one member disabled or in
hospital, a working-age member unemployed, the head released or petitioning); 低保 and 流动人口 go to every member;
出租房屋 describes the dwelling and stays on the household.

ID numbers are valid (GB 11643-1999, check character from gis.idnumber) and unique: the sample district's
region code, the birth date (in the birth year), a sequence whose last digit is odd for men and even for women.
Phones are made up, of valid format with 0000 in the middle (the part masking hides); children under 16 have none.
Ages are as of `REFERENCE_YEAR`, so the output does not change with the clock.
"""

import numpy as np

from gis.idnumber import check_characters
from gis.sample._names import GIVEN_FEMALE, GIVEN_MALE, SURNAMES
from gis.sample._people import TAGS

REFERENCE_YEAR = 2024
HEAD, SPOUSE, CHILD, ELDER, GRANDCHILD = range(5)
RELATIONS = np.array(["户主", "配偶", "子女", "父母", "孙子女"], dtype=object)
EVERY_MEMBER = ("hardship", "floating")  # tags of the whole household that each member carries


def draw_residents(rng: np.random.Generator, size: np.ndarray, tags: np.ndarray, region: str) -> dict[str, np.ndarray]:
    """One row per resident: household, name, gender (男/女), birth_year, id_number, phone (None under
    16), relation and a (residents × TAGS) boolean tag matrix. ``region`` is the 6-digit code in the ID numbers."""
    if not (len(region) == 6 and region.isascii() and region.isdigit()):
        raise ValueError("the region code of ID numbers is 6 digits (GB/T 2260)")
    col = {t: i for i, t in enumerate(TAGS)}
    alone, aged80, infant, left = (tags[:, col[t]] for t in ("elderly_alone", "aged_80", "infant", "left_behind_child"))
    n = len(size)
    household = np.repeat(np.arange(n), size)
    slot = np.arange(len(household)) - np.repeat(np.cumsum(size) - size, size)
    s, a80, inf, lb, al = size[household], aged80[household], infant[household], left[household], alone[household]

    # Roles: the head first; a spouse second in most households; children, a parent of the head (an 80+ one in
    # 高龄 households, any in five-person ones) or grandchildren (留守儿童 households) after.
    normal = ~lb & ~al
    elder_slot = np.where((s == 3) & a80 & inf, 1, s - 1)  # keep a child's slot for the infant
    role = np.full(len(household), CHILD)
    role[slot == 0] = HEAD
    role[(slot == 1) & (normal | (al & ~lb) | (lb & (s >= 3)))] = SPOUSE
    role[normal & (slot == elder_slot) & (slot > 0) & (a80 | (s == 5))] = ELDER
    role[lb & (role == CHILD)] = GRANDCHILD

    # Head's age by kind of household; the others follow from it. Nobody is 80+ outside 高龄 households.
    u = rng.random((len(household), 3))
    hu = rng.random((n, 3))  # the head's age and gender, the infant's age
    kinds = [alone & aged80, alone, left & aged80, left, aged80 & (size == 1), aged80]
    lo = np.select(kinds, [80, 70, 80, 50, 80, 45], np.select([size == 1, size == 2, size == 5], [18, 22, 30], 25))
    hi = np.select(kinds, [97, 79, 88, 75, 97, 60], np.select([size <= 2, size == 5], [64, 55], 60))
    head_age = lo + (hu[:, 0] * (hi - lo + 1)).astype(int)
    ha = head_age[household]

    spouse_lo = np.where(al, 70, np.where(lb, 45, 20))
    spouse_hi = np.where(a80 & (al | lb), 97, 79)
    spouse_age = np.clip(ha + (u[:, 0] * 11).astype(int) - 5, spouse_lo, spouse_hi)
    spouse_of = np.full(n, 200)  # no spouse: the head is the youngest parent
    spouse_of[household[role == SPOUSE]] = spouse_age[role == SPOUSE]
    youngest_parent = np.minimum(ha, spouse_of[household])
    child_hi = np.clip(youngest_parent - 20, 3, 30)  # 0–2 is for the infant of 婴幼儿 households only
    child_age = 3 + (u[:, 1] * (child_hi - 2)).astype(int)
    elder_age = np.where(a80, 80 + (u[:, 1] * 18).astype(int), np.minimum(ha + 20 + (u[:, 1] * 11).astype(int), 79))
    grandchild_age = 3 + (u[:, 1] * 13).astype(int)
    age = np.select(
        [role == HEAD, role == SPOUSE, role == CHILD, role == ELDER],
        [ha, spouse_age, child_age, elder_age],
        grandchild_age,
    )
    youngest = _last_of(household, (role == CHILD) | (role == GRANDCHILD), n)  # the infant, where there is one
    is_infant = np.zeros(len(household), dtype=bool)
    is_infant[youngest[infant & (youngest >= 0)]] = True
    age[is_infant] = (hu[household[is_infant], 2] * 3).astype(int)

    male_head = hu[:, 1] < 0.5
    male = np.where(role == HEAD, male_head[household], u[:, 2] < 0.5)
    male = np.where(role == SPOUSE, ~male_head[household], male)
    birth_year = REFERENCE_YEAR - age

    member_tags = _member_tags(rng, tags, size, household, slot, role, age, is_infant)
    return {
        "household": household,
        "name": _names(rng, household, role, male, n),
        "gender": np.where(male, "男", "女").astype(object),
        "birth_year": birth_year,
        "id_number": _id_numbers(rng, region, birth_year, male),
        "phone": _phones(rng, age),
        "relation": RELATIONS[role],
        "tags": member_tags,
    }


def _last_of(household: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per household, the index of its last member with ``mask`` (-1 if none)."""
    last = np.full(n, -1)
    np.maximum.at(last, household[mask], np.flatnonzero(mask))
    return last


def _member_tags(
    rng: np.random.Generator,
    tags: np.ndarray,
    size: np.ndarray,
    household: np.ndarray,
    slot: np.ndarray,
    role: np.ndarray,
    age: np.ndarray,
    is_infant: np.ndarray,
) -> np.ndarray:
    """The (residents × TAGS) matrix: each household tag on the members it describes (module docstring)."""
    col = {t: i for i, t in enumerate(TAGS)}
    n = len(size)
    has = tags[household]
    out = np.zeros_like(has)
    for tag in EVERY_MEMBER:
        out[:, col[tag]] = has[:, col[tag]]
    out[:, col["elderly_alone"]] = has[:, col["elderly_alone"]] & (age >= 70)
    out[:, col["aged_80"]] = has[:, col["aged_80"]] & (age >= 80)
    out[:, col["infant"]] = has[:, col["infant"]] & is_infant
    out[:, col["left_behind_child"]] = has[:, col["left_behind_child"]] & (role == GRANDCHILD)
    pick = (rng.random((n, 2)) * size[:, None]).astype(int)  # any member
    out[:, col["disabled"]] = has[:, col["disabled"]] & (slot == pick[household, 0])
    out[:, col["hospitalized"]] = has[:, col["hospitalized"]] & (slot == pick[household, 1])
    worker = _first_of(household, (age >= 16) & (age <= 59), n)
    head = np.cumsum(size) - size
    chosen = np.zeros(len(household), dtype=bool)
    chosen[np.where(worker >= 0, worker, head)] = True  # a working-age member, else the head
    out[:, col["unemployed"]] = has[:, col["unemployed"]] & chosen
    for tag in ("released", "petitioner"):
        out[:, col[tag]] = has[:, col[tag]] & (role == HEAD)
    return out


def _first_of(household: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per household, the index of its first member with ``mask`` (-1 if none)."""
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, household[mask], np.flatnonzero(mask))
    return np.where(first == np.iinfo(np.int64).max, -1, first)


def _names(rng: np.random.Generator, household: np.ndarray, role: np.ndarray, male: np.ndarray, n: int) -> np.ndarray:
    """Head, children, grandchildren and the head's parent share the family surname; a spouse has their own."""
    surnames = np.array(SURNAMES, dtype=object)
    family = rng.integers(0, len(surnames), n)[household]
    own = rng.integers(0, len(surnames), len(household))
    surname = surnames[np.where(role == SPOUSE, own, family)]
    given_male, given_female = np.array(GIVEN_MALE, dtype=object), np.array(GIVEN_FEMALE, dtype=object)
    pick = rng.random(len(household))
    given = np.where(
        male,
        given_male[(pick * len(given_male)).astype(int)],
        given_female[(pick * len(given_female)).astype(int)],
    )
    return surname + given


def _id_numbers(rng: np.random.Generator, region: str, birth_year: np.ndarray, male: np.ndarray) -> np.ndarray:
    """Valid, unique ID numbers: the birth date a day of the birth year, the sequence numbered per (date, gender)."""
    start = (birth_year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    days = ((birth_year - 1969).astype("datetime64[Y]").astype("datetime64[D]") - start).astype(np.int64)
    born = start + (rng.random(len(birth_year)) * days).astype(np.int64)
    month = born.astype("datetime64[M]")
    ymd = (
        birth_year * 10_000
        + (month - born.astype("datetime64[Y]")).astype(np.int64) * 100
        + 100
        + (born - month).astype(np.int64)
        + 1
    )
    key = ymd * 2 + male
    order = np.argsort(key, kind="stable")
    rank = np.empty(len(key), dtype=np.int64)
    rank[order] = np.arange(len(key)) - np.searchsorted(key[order], key[order])
    rank += key * 7919 % 250  # start each day's numbering somewhere in 0–249 so numbers do not all end in 001
    if rank.max(initial=0) > 498:
        raise ValueError("too many residents of one gender born on one day for one region code")
    sequence = 2 * rank + np.where(male, 1, 2)  # odd for men, even for women
    codes = np.empty((len(ymd), 18), dtype=np.uint8)
    codes[:, :6] = np.array([int(c) for c in region], dtype=np.uint8)
    codes[:, 6:14] = ymd[:, None].astype(np.int32) // 10 ** np.arange(7, -1, -1, dtype=np.int32) % 10
    codes[:, 14:17] = sequence[:, None].astype(np.int32) // 10 ** np.arange(2, -1, -1, dtype=np.int32) % 10
    codes[:, 17] = check_characters(codes[:, :17]).astype("S1").view(np.uint8)
    codes[:, :17] += ord("0")
    return _ascii(codes)


def _phones(rng: np.random.Generator, age: np.ndarray) -> np.ndarray:
    """1 + a second digit 3–9 + any third, then 0000, then four random digits; None under 16."""
    n = len(age)
    digits = np.zeros((n, 11), dtype=np.uint8)
    digits[:, 0] = 1
    digits[:, 1] = rng.integers(3, 10, n)
    digits[:, 2] = rng.integers(0, 10, n)
    digits[:, 7:] = rng.integers(0, 10, (n, 4))
    phones = _ascii(digits + ord("0"))
    phones[age < 16] = None
    return phones


def _ascii(codes: np.ndarray) -> np.ndarray:
    """Rows of ASCII codes to an object array of strings (one string per row), without a Python loop per row."""
    rows = np.ascontiguousarray(codes, dtype=np.uint8).view(f"S{codes.shape[1]}").ravel()
    return rows.astype(f"U{codes.shape[1]}").astype(object)
