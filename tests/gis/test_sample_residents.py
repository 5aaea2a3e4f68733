"""The sample's residents (gis/sample/_residents.py) and the ID check character they share with the API
(gis/idnumber.py): sizes, valid and unique ID numbers, phones, and make-up that fits each household's tags."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from api.residents import check_id_number
from gis.idnumber import check_character, check_characters
from gis.sample import SampleArea, generate_sample, load_settings

REFERENCE_YEAR = 2024  # gis.sample._residents.REFERENCE_YEAR: ages are as of this year


@pytest.fixture(scope="module")
def area() -> SampleArea:
    return generate_sample()


@pytest.fixture(scope="module")
def people(area: SampleArea) -> pd.DataFrame:
    """Residents with their age, their household's tags and size."""
    households = area.households.set_index("source_id")
    people = area.residents.copy()
    people["age"] = REFERENCE_YEAR - people["birth_year"]
    people["household_tags"] = households.loc[people["household_ref"], "tags"].to_numpy()
    people["size"] = households.loc[people["household_ref"], "size"].to_numpy()
    return people


def has(frame: pd.DataFrame, column: str, tag: str) -> pd.Series:
    return frame[column].map(lambda tags: tag in tags)


# --- gis.idnumber ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first17", "expected"),
    [
        ("11010519491231002", "X"),  # GB 11643-1999's own example
        ("44052418800101001", "4"),  # GB 11643-1999's second example
        ("11010519900307001", "7"),  # weighted sum 170, 170 mod 11 = 5, (12 − 5) mod 11 = 7
        ("00000000000000000", "1"),  # sum 0: (12 - 0) mod 11 = 1
    ],
)
def test_check_character_known_values(first17, expected):
    assert check_character(first17) == expected


def test_check_characters_agree_with_the_scalar_one_and_refuse_bad_shapes():
    rng = np.random.default_rng(7)
    digits = rng.integers(0, 10, (500, 17))
    expected = [check_character("".join(map(str, row))) for row in digits]
    assert check_characters(digits).tolist() == expected
    assert set(expected) == set("0123456789X")  # every check character occurs in 500 draws
    with pytest.raises(ValueError, match="17"):
        check_characters(digits[:, :16])
    for bad in ("1101051949123100", "1101051949123100X", "１１０１０５１９４９１２３１００２"):
        with pytest.raises(ValueError, match="17 digits"):
            check_character(bad)


# --- residents ------------------------------------------------------------------------------------------------------


def test_every_household_has_as_many_residents_as_its_size_and_one_head(area, people):
    counts = people.groupby("household_ref").size()
    sizes = area.households.set_index("source_id")["size"]
    assert counts.reindex(sizes.index, fill_value=0).equals(sizes)
    heads = people[people["relation"] == "户主"].groupby("household_ref").size()
    assert len(heads) == len(sizes) and (heads == 1).all()
    first = people.groupby("household_ref").head(1)
    assert (first["relation"] == "户主").all()  # the head is listed first


def test_id_numbers_are_valid_unique_and_agree_with_birth_year_gender_and_the_area(area, people):
    region = load_settings().district_code
    assert people["id_number"].is_unique
    for number, gender, year in zip(people["id_number"], people["gender"], people["birth_year"], strict=True):
        checked = check_id_number(number, today=date(REFERENCE_YEAR, 12, 31))
        assert (checked.region, checked.gender, checked.birth_year) == (region, gender, year)
    assert set(people["gender"]) == {"男", "女"}
    assert abs((people["gender"] == "男").mean() - 0.5) < 0.02


def test_phones_are_fictional_and_only_from_16(people):
    adults = people["age"] >= 16
    assert people.loc[adults, "phone"].str.fullmatch(r"1[3-9]\d0000\d{4}").all()
    assert people.loc[~adults, "phone"].isna().all()


def test_names_are_chinese_and_families_share_the_surname(people):
    assert people["name"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
    surname = people["name"].str[0]
    head_surname = surname[people["relation"] == "户主"].set_axis(
        people.loc[people["relation"] == "户主", "household_ref"]
    )
    kin = people["relation"].isin(["子女", "孙子女", "父母"])
    assert (surname[kin].to_numpy() == head_surname[people.loc[kin, "household_ref"]].to_numpy()).all()
    spouses = people[people["relation"] == "配偶"]
    heads = people[people["relation"] == "户主"].set_index("household_ref")
    assert (spouses["gender"].to_numpy() != heads.loc[spouses["household_ref"], "gender"].to_numpy()).all()


def test_members_carry_the_household_tags_that_describe_them(people):
    union = people.groupby("household_ref")["tags"].agg(lambda lists: {t for tags in lists for t in tags})
    households = people.groupby("household_ref")["household_tags"].first()
    assert all(union[h] == set(tags) - {"rented"} for h, tags in households.items())
    assert not people["tags"].map(lambda tags: "rented" in tags).any()  # a tag of the dwelling, not of a person
    for tag in ("hardship", "floating"):  # the whole household's
        assert (has(people, "tags", tag) == has(people, "household_tags", tag)).all()


def test_ages_fit_the_household_tags(people):
    alone = has(people, "household_tags", "elderly_alone")
    tagged_alone = has(people, "tags", "elderly_alone")
    assert people.loc[tagged_alone, "age"].ge(70).all()
    assert people.loc[alone & (people["size"] == 1), "age"].ge(70).all()
    all_old = (
        people[people["size"] <= 2]
        .groupby("household_ref")
        .agg(age=("age", "min"), tags=("household_tags", "first"), size=("size", "first"))
    )
    all_old = all_old[all_old["age"] >= 70]
    # A small household of 70+ people is tagged 独居; the household tags also make some one-person 高龄 households
    # without the 独居 tag (drawn independently), whose one member is then 80+ and not tagged 独居 either.
    assert all_old.apply(
        lambda h: "elderly_alone" in h["tags"] or ("aged_80" in h["tags"] and h["size"] == 1), axis=1
    ).all()

    aged = has(people, "household_tags", "aged_80")
    assert people.loc[has(people, "tags", "aged_80"), "age"].ge(80).all()
    assert people.loc[~aged, "age"].lt(80).all()  # nobody is 80+ in a household not tagged 高龄

    assert people.loc[has(people, "tags", "infant"), "age"].le(2).all()
    assert people.loc[~has(people, "household_tags", "infant"), "age"].ge(3).all()
    assert (people[has(people, "tags", "infant")].groupby("household_ref").size() == 1).all()

    left = has(people, "household_tags", "left_behind_child")
    assert people.loc[has(people, "tags", "left_behind_child"), "age"].lt(16).all()
    assert not people.loc[left, "age"].between(18, 45).any()  # no parents at home: grandparents and children
    working = people["age"].between(16, 59)
    can_work = working.groupby(people["household_ref"]).any()
    unemployed = people[has(people, "tags", "unemployed")]
    assert (unemployed.groupby("household_ref").size() == 1).all()
    assert (unemployed["age"].between(16, 59) | ~can_work[unemployed["household_ref"]].to_numpy()).all()
    released = has(people, "tags", "released") | has(people, "tags", "petitioner")
    assert people.loc[released, "age"].ge(18).all()


def test_children_are_younger_than_their_parents(people):
    heads = people[people["relation"] == "户主"].set_index("household_ref")["age"]
    children = people[people["relation"] == "子女"]
    assert (heads[children["household_ref"]].to_numpy() - children["age"].to_numpy() >= 17).all()
    elders = people[people["relation"] == "父母"]
    assert (elders["age"].to_numpy() - heads[elders["household_ref"]].to_numpy() >= 17).all()


def test_residents_differ_with_the_seed(area):
    other = generate_sample(seed=load_settings().seed + 1)
    assert not set(other.residents["id_number"]) >= set(area.residents["id_number"])
