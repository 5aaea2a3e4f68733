"""api.storage.resident_imports: a community's register stored with every row on its household, re-imports
updating, refusals storing nothing, the clear ID number only when kept, audit rows without personal data, any text
back byte for byte; and the sample's residents stored by load_sample, hashed and masked."""

from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from api.errors import NotFound, RegisterError, UnknownHouseholds, status_and_code
from api.residents import id_number_hash, mask_id_number, read_register
from api.storage.imports import load_sample
from api.storage.resident_imports import RegisterImport, store_register
from gis.sample import SampleArea
from tests.conftest import ID_HASH_KEY, sample_loaded
from tests.registers import Community, community, csv_bytes, rows, xlsx

OTHER_KEY = b"another deployment's key, 32+ bytes long"  # hashes that match none of the sample's
TODAY = date(2026, 1, 1)
HOSTILE = ["<script>alert(1)</script>", "{{ 7*7 }}", "'; DROP TABLE residents; --", '"quoted", comma', "\\N"]


@pytest.fixture(scope="module")
def area(engine: Engine) -> Iterator[SampleArea]:
    with sample_loaded(engine) as area:
        yield area


@pytest.fixture
def db(engine: Engine, area: SampleArea) -> Iterator[Engine]:
    """The loaded sample with only its own residents and no audit rows, before and after each test."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_log"))
    yield engine
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM residents WHERE source <> 'sample'"))
        sample_rows = conn.scalar(text("SELECT count(*) FROM residents WHERE source = 'sample'"))
    if sample_rows != len(area.residents):  # a test took residents over or changed the sample
        load_sample(engine, area, id_hash_key=ID_HASH_KEY, history=False)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_log"))


@pytest.fixture(scope="module")
def place(area: SampleArea) -> Community:
    return community(area, 1)


def register(data: bytes, key: bytes = OTHER_KEY, **options) -> pd.DataFrame:
    return read_register(data, key=key, today=TODAY, **options).residents


def store(engine: Engine, frame: pd.DataFrame, place: Community, **options) -> RegisterImport:
    return store_register(engine, frame, community_code=place.code, file_name="花名册.xlsx", **options)


def stored(engine: Engine, source: str = "register:%") -> pd.DataFrame:
    """Residents of the matching sources with their household's and building's source ids."""
    with engine.connect() as conn:
        return pd.read_sql(
            text(
                "SELECT r.*, h.source_id AS household_ref, b.source_id AS building_id FROM residents r "
                "JOIN households h ON h.id = r.household_id JOIN buildings b ON b.id = h.building_id "
                "WHERE r.source LIKE :source ORDER BY r.id"
            ),
            conn,
            params={"source": source},
        )


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return conn.execute(text("SELECT (SELECT count(*) FROM residents), (SELECT count(*) FROM audit_log)")).one()


def audit_rows(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(text("SELECT * FROM audit_log ORDER BY id")).mappings()]


def test_a_register_of_the_samples_residents_puts_every_row_on_its_household(db, area, place):
    """Under the sample's own key the register's people are the sample's: taken over, not duplicated."""
    people = place.people
    result = store(db, register(xlsx(rows(people)), key=ID_HASH_KEY), place)
    assert (result.rows, result.inserted, result.updated, result.moved) == (len(people), 0, len(people), len(people))
    assert len(people) > 1000 and people["unit"].notna().all()  # apartments: 楼栋, 单元 and 房号

    got = stored(db).set_index("id_hash")
    expected = people.set_index(pd.Index([id_number_hash(n, ID_HASH_KEY) for n in people["id_number"]]))
    assert len(got) == len(people) and set(got.index) == set(expected.index)
    expected = expected.loc[got.index]
    assert got["household_ref"].tolist() == expected["household_ref"].tolist()  # every row on the right household
    for column in ("name", "gender", "relation"):
        assert got[column].tolist() == expected[column].tolist(), column
    assert got["birth_year"].tolist() == expected["birth_year"].tolist()
    assert got["phone"].fillna("").tolist() == expected["phone"].fillna("").tolist()
    assert [list(t) for t in got["tags"]] == [list(t) for t in expected["tags"]]
    assert got["id_masked"].tolist() == [mask_id_number(n) for n in expected["id_number"]]
    assert got["id_number"].isna().all() and (got["source"] == f"register:{place.code}").all()
    assert (got["source_id"] == got.index).all()
    with db.connect() as conn:  # no second row of any of them under the sample
        twice = conn.scalar(text("SELECT count(*) - count(DISTINCT id_hash) FROM residents WHERE id_hash IS NOT NULL"))
    assert twice == 0


def test_a_gb18030_csv_naming_buildings_by_source_id_imports_and_a_reimport_updates(db, area):
    place = community(area, 4)  # houses: no 单元
    people = place.people.iloc[::3]
    assert people["unit"].isna().all()
    data = csv_bytes(rows(people, building="building_id"), encoding="gb18030")
    first = store(db, register(data), place)
    ids = stored(db)["id"].tolist()
    assert (first.inserted, first.updated, first.unchanged, first.moved) == (len(people), 0, 0, 0)
    hashes = [id_number_hash(n, OTHER_KEY) for n in people["id_number"]]
    expected = dict(zip(hashes, people["building_id"], strict=True))
    assert dict(zip(stored(db)["id_hash"], stored(db)["building_id"], strict=True)) == expected

    again = store(db, register(data), place)
    assert (again.inserted, again.updated, again.unchanged, again.not_in_file) == (0, 0, len(people), 0)
    assert stored(db)["id"].tolist() == ids  # the same rows, no duplicates

    changed = rows(people, building="building_id")
    changed[0][3] = "13912345678"  # a new phone for the first resident
    third = store(db, register(csv_bytes(changed[:-1])), place)  # and the last one left out
    assert (third.inserted, third.updated, third.unchanged, third.not_in_file) == (0, 1, len(people) - 2, 1)
    phones = dict(zip(stored(db)["id_hash"], stored(db)["phone"], strict=True))
    assert stored(db)["id"].tolist() == ids and phones[id_number_hash(changed[0][2], OTHER_KEY)] == "13912345678"


def test_residents_without_an_id_number_are_known_by_household_name_and_phone(db, place):
    adults = place.people[place.people["phone"].notna()].head(20).copy()
    phone_only = [[*row[:2], None, *row[3:]] for row in rows(adults)]
    first = store(db, register(xlsx(phone_only)), place)
    again = store(db, register(xlsx(phone_only)), place)
    assert (first.inserted, again.inserted, again.unchanged) == (20, 0, 20)
    assert stored(db)["id_hash"].isna().all() and stored(db)["source_id"].str.fullmatch("[0-9a-f]{64}").all()

    with_ids = store(db, register(xlsx(rows(adults))), place)  # the register now gives their ID numbers
    assert (with_ids.inserted, with_ids.updated) == (0, 20)
    assert len(stored(db)) == 20 and stored(db)["id_hash"].notna().all()


def test_one_person_twice_in_a_register_is_refused(db, place):
    adult = place.people[place.people["phone"].notna()].head(1)
    phone_only = [[*row[:2], None, *row[3:]] for row in rows(adult)] * 2
    with pytest.raises(RegisterError) as refused:
        store(db, register(xlsx(phone_only)), place)
    assert "row 4: the same person as row 3" in refused.value.detail
    assert counts(db)[1] == 0 and stored(db).empty


def test_one_unknown_household_refuses_the_whole_file(db, area, place):
    before = counts(db)
    cells = rows(place.people.head(50))
    cells[6][7] = "9901"  # no such room
    cells[9][5] = "不存在的楼"  # no such building
    with pytest.raises(UnknownHouseholds) as refused:
        store(db, register(xlsx(cells)), place)
    error = refused.value
    assert status_and_code(error) == (422, "unknown_households")
    assert [row for row, _, _ in error.problems] == [9, 12]  # spreadsheet rows: title, header, then the residents
    assert "2 rows without their household" in error.detail and "房号 '9901'" in error.detail
    assert f"no building '不存在的楼' in community {place.code}" in error.detail
    assert place.people["name"].iloc[6] not in error.detail and place.people["id_number"].iloc[6] not in error.detail
    assert counts(db) == before  # nothing stored, no audit row

    elsewhere = community(area, 2)  # the right file for another community
    with pytest.raises(UnknownHouseholds) as refused:
        store(db, register(xlsx(rows(elsewhere.people))), place)
    assert f"{len(elsewhere.people)} rows without their household" in refused.value.detail
    assert refused.value.detail.count("; ") == 20  # the first 20 listed, then the count of the rest
    assert counts(db) == before


def test_a_room_in_several_units_needs_its_unit(db, place):
    in_units = place.people[place.people["unit"].notna()]
    room = in_units.groupby(["building", "room"])["unit"].nunique()
    building, number = room[room > 1].index[0]
    person = in_units[(in_units["building"] == building) & (in_units["room"] == number)].head(1)
    cells = rows(person)
    cells[0][6] = None
    with pytest.raises(UnknownHouseholds) as refused:
        store(db, register(xlsx(cells)), place)
    assert "households: give the 单元" in refused.value.detail


def test_one_bad_id_number_refuses_the_whole_file_before_anything_is_stored(db, place):
    before = counts(db)
    cells = rows(place.people.head(30))
    cells[4][2] = cells[4][2][:-1] + ("0" if cells[4][2][-1] != "0" else "1")  # a wrong check digit
    with pytest.raises(RegisterError) as refused:
        store(db, register(xlsx(cells)), place)
    assert "row 7 (身份证号码): check digit" in refused.value.detail
    assert counts(db) == before


def test_an_unknown_community_is_not_found(db, place):
    frame = register(xlsx(rows(place.people.head(3))))
    with pytest.raises(NotFound, match="community '110105001099' is not stored"):
        store_register(db, frame, community_code="110105001099", file_name="x.xlsx")
    assert counts(db)[1] == 0


def test_the_clear_id_number_is_stored_only_when_kept(db, place):
    people = place.people.head(40)
    data = xlsx(rows(people))
    store(db, register(data, keep_id_number=True), place)  # read with it, stored without: not kept
    assert stored(db)["id_number"].isna().all()
    kept = store(db, register(data, keep_id_number=True), place, keep_id_number=True)
    assert kept.updated == 40 and sorted(stored(db)["id_number"]) == sorted(people["id_number"])
    store(db, register(data), place)  # a later import without keeping them clears them
    assert stored(db)["id_number"].isna().all()


def test_the_audit_row_holds_ids_and_counts_only(db, place):
    people = place.people.head(60)
    result = store(db, register(xlsx(rows(people)), keep_id_number=True), place, keep_id_number=True)
    (entry,) = audit_rows(db)
    assert (entry["action"], entry["object_table"]) == ("import", "residents")
    assert sorted(entry["object_ids"]) == sorted(stored(db)["id"].tolist()) and len(entry["object_ids"]) == 60
    assert entry["detail"] == {
        "file": "花名册.xlsx",
        "source": f"register:{place.code}",
        "rows": 60,
        "inserted": result.inserted,
        "updated": 0,
        "unchanged": 0,
        "moved": 0,
        "not_in_file": 0,
        "id_numbers_kept": True,
    }
    written = repr(entry)
    for p in people.itertuples():
        for secret in (p.name, p.id_number, p.id_number[-8:], p.phone):
            assert not isinstance(secret, str) or secret not in written


def test_hostile_text_comes_back_byte_for_byte(db, place):
    """What a register would refuse, written straight to storage: SQL, templates and CSV quoting stay data."""
    frame = register(xlsx(rows(place.people.head(len(HOSTILE)))))
    frame["name"] = HOSTILE
    frame["tags"] = [[h, "elderly_alone"] for h in HOSTILE]
    frame.loc[0, "tags"] = ["{a,b}", "back\\slash", "line\nbreak", "", "NULL"]
    store(db, frame, place)
    got = stored(db)
    assert got["name"].tolist() == HOSTILE
    assert [list(t) for t in got["tags"]] == frame["tags"].tolist()
    with db.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM residents")) > len(HOSTILE)  # the table is still there


def test_the_sample_loader_stores_hashes_and_masks_but_no_clear_id(db, area):
    got = stored(db, "sample").set_index("source_id")
    assert len(got) == len(area.residents) and got["id_number"].isna().all()
    people = area.residents.set_index("source_id").loc[got.index]
    assert got["id_hash"].tolist() == [id_number_hash(n, ID_HASH_KEY) for n in people["id_number"]]
    assert got["id_masked"].tolist() == [mask_id_number(n) for n in people["id_number"]]
    assert got["household_ref"].tolist() == people["household_ref"].tolist()
    assert got["phone"].fillna("").tolist() == people["phone"].fillna("").tolist()
    assert got["name"].tolist() == people["name"].tolist()
    assert [list(t) for t in got["tags"]] == [list(t) for t in people["tags"]]
    with db.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM residents WHERE id_number IS NOT NULL")) == 0


def test_a_new_sample_prunes_residents_gone_and_keeps_hostile_text(db, area):
    changed = SampleArea(**{name: getattr(area, name) for name in SampleArea.__dataclass_fields__})
    residents = area.residents.iloc[10:].copy()  # the first ten residents are gone
    residents.loc[residents.index[: len(HOSTILE)], "name"] = HOSTILE
    residents["tags"] = residents["tags"].astype(object)
    residents.at[residents.index[0], "tags"] = [*HOSTILE, "{x}"]
    changed.residents = residents
    counts_ = load_sample(db, changed, id_hash_key=ID_HASH_KEY, history=False)
    assert counts_["residents"] == len(residents)
    got = stored(db, "sample").set_index("source_id")
    assert len(got) == len(residents) and set(got.index) == set(residents["source_id"])
    first = got.loc[residents["source_id"].iloc[: len(HOSTILE)]]
    assert first["name"].tolist() == HOSTILE and list(first["tags"].iloc[0]) == [*HOSTILE, "{x}"]
    (entry,) = audit_rows(db)
    assert entry["detail"]["deleted"] == 10 and entry["detail"]["updated"] == len(HOSTILE)
    assert entry["object_ids"] == [] and HOSTILE[0] not in repr(entry)
