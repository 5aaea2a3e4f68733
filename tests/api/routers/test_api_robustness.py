"""Bad input gets a clear 4xx (ids past bigint, unknown places, impossible settings) on the sample street in PostGIS.

Out-of-range ids and offsets are 422s naming the parameter, unknown places 404s naming the id, impossible grid
targets 400s with the reason, error bodies repeat at most an excerpt of what was sent, and the OpenAPI schema
declares what the API checks (the schemathesis run over the whole schema is tests/test_schema_fuzz.py).
"""

from typing import get_args

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app as cli
from api.main import create_app
from api.params import ServiceType
from api.settings import Settings
from gis.io import SERVICE_TYPES
from tests.conftest import sample_loaded
from tests.signing import signed_in

BIG = 2**63  # one past PostgreSQL's bigint
UNKNOWN = 999_999


@pytest.fixture(scope="module")
def settings(database_url) -> Settings:
    return Settings(
        database_url=database_url, tiles="none", walk_profiles={"standard": 1.2, "elderly": 0.8, "slow": 0.6}
    )


@pytest.fixture(scope="module")
def client(engine, settings):
    with sample_loaded(engine), TestClient(create_app(settings)) as client:
        yield signed_in(client)


@pytest.fixture
def run_cli(database_url, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)

    def run(*args: str):
        result = CliRunner().invoke(cli, list(args))
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert "Traceback" not in result.output and isinstance(result.exception, SystemExit), result.output
        return result.exit_code, lines

    return run


def _community(engine) -> int:
    """The community with the most households (its small buildings make >999 one-household grids possible)."""
    with engine.connect() as conn:
        return conn.scalar(
            text(
                "SELECT g.community_id FROM households h JOIN grids g ON g.id = h.grid_id "
                "GROUP BY g.community_id ORDER BY count(*) DESC LIMIT 1"
            )
        )


# --- 1. integers past bigint -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "params", "name"),
    [
        ("get", "/centers/grids", {"grid_id": BIG}, "grid_id"),
        ("get", "/centers/uncovered", {"grid_id": BIG}, "grid_id"),
        ("get", "/centers/uncovered", {"offset": BIG}, "offset"),
        ("get", "/maps/centers", {"community_id": BIG}, "community_id"),
        ("get", "/collections/grids/items", {"offset": BIG}, "offset"),
        ("get", "/coverage/stats", {"group_id": BIG}, "group_id"),
        ("get", "/coverage/uncovered", {"service_type": "clinic", "grid_id": BIG}, "grid_id"),
        ("get", "/coverage/uncovered", {"service_type": "clinic", "offset": BIG}, "offset"),
        ("get", "/coverage/circles", {"service_point_id": BIG}, "service_point_id"),
        ("get", "/grids/check", {"community_id": BIG}, "community_id"),
        ("get", "/workload/grids", {"community_id": BIG}, "community_id"),
        ("post", "/grids/partition", {"community_id": BIG}, "community_id"),
        (
            "post",
            "/coverage/scenario",
            {"changes": [{"action": "remove", "service_point_id": BIG}]},
            "service_point_id",
        ),
    ],
)
def test_ids_past_bigint_are_422_naming_the_parameter(client, method, path, params, name):
    sent = {"json": params} if method == "post" else {"params": params}
    response = getattr(client, method)(path, **sent)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_parameter" and name in response.json()["detail"]


@pytest.mark.parametrize(
    "args",
    [
        ["partition-grids", str(BIG)],
        ["check-grids", "--community-id", str(BIG)],
        ["centers-map", "--grid-id", str(BIG)],
        ["coverage-map", "--community-id", str(BIG)],
    ],
)
def test_cli_ids_past_bigint_are_one_line(run_cli, args):
    code, lines = run_cli(*args)
    assert code == 2 and len(lines) == 1 and "between 1 and 9223372036854775807" in lines[0], lines


# --- 2. unknown places -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [
        ("/grids/check", {"community_id": UNKNOWN}, f"no community {UNKNOWN}"),
        ("/centers/uncovered", {"grid_id": UNKNOWN}, f"no grid {UNKNOWN}"),
        ("/coverage/uncovered", {"service_type": "clinic", "community_id": UNKNOWN}, f"no community {UNKNOWN}"),
        ("/coverage/stats", {"by": "grid", "group_id": UNKNOWN}, f"no grid {UNKNOWN}"),
        ("/workload/grids", {"community_id": UNKNOWN}, f"no community {UNKNOWN}"),
    ],
)
def test_unknown_places_are_404_naming_the_id(client, path, params, words):
    response = client.get(path, params=params)
    assert response.status_code == 404 and response.json() == {"code": "not_found", "detail": words}


def test_check_grids_of_id_zero_and_of_one_community(client, engine):
    zero = client.get("/grids/check", params={"community_id": 0})
    assert zero.status_code == 422 and "community_id" in zero.json()["detail"]
    one = client.get("/grids/check", params={"community_id": _community(engine)})
    assert one.status_code == 200 and one.json()["grids"] > 0


def test_cli_check_grids_of_an_unknown_community(client, run_cli):
    code, lines = run_cli("check-grids", "--community-id", str(UNKNOWN))
    assert code == 2 and lines == [f"error: no community {UNKNOWN}"]


# --- 3. impossible grid targets ----------------------------------------------------------------------------------


def test_partition_into_more_grids_than_codes_is_400(client, engine):
    cid = _community(engine)
    body = {"community_id": cid, "min_households": 1, "max_households": 1}
    response = client.post("/grids/partition", json=body)
    assert response.status_code == 400, response.text
    assert (
        "at most 999 grids" in response.json()["detail"] and "raise the household targets" in response.json()["detail"]
    )
    two_digit = client.post("/grids/partition", json={**body, "profile": "CJT213_14"})
    assert two_digit.status_code == 400 and "at most 99 grids" in two_digit.json()["detail"]
    assert client.post("/grids/partition", json={**body, "max_households": 10**6}).status_code == 422


# --- 7. no echo of large values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "sent"),
    [
        ("post", "/coverage/siting", {"json": {"service_type": "x" * 500_000}}),
        ("post", "/coverage/siting", {"json": {"service_type": "clinic", "profile": "x" * 500_000}}),
        (
            "post",
            "/coverage/scenario",
            {"json": {"changes": [{"action": "remove", "service_point_id": "x" * 500_000}]}},
        ),
        ("get", "/coverage/completeness", {"params": {"profile": "x" * 20_000}}),
        ("get", "/collections/grids/items", {"params": {"bbox": "x" * 20_000}}),
        ("get", "/collections/" + "x" * 20_000 + "/items", {}),
        ("get", "/coverage/circles", {"params": {"service_point_id": ["x" * 200] * 200}}),
    ],
)
def test_errors_echo_only_an_excerpt(client, method, path, sent):
    response = getattr(client, method)(path, **sent)
    assert 400 <= response.status_code < 500
    assert len(response.content) < 4000, response.text[:300]
    assert "xxxxxxxxxx" in response.json()["detail"]  # the excerpt is there, so the client sees what was wrong


def test_scenario_names_an_unknown_point_in_short(client):
    response = client.post("/coverage/scenario", json={"changes": [{"action": "remove", "service_point_id": "y" * 64}]})
    assert response.status_code == 400 and "'yyyyyyyyyy" in response.json()["detail"]
    assert len(response.json()["detail"]) < 150


# --- 10. the schema declares what is checked ---------------------------------------------------------------------


def test_schema_declares_errors_and_value_sets(client, settings):
    schema = client.get("/openapi.json").json()
    operations = [(path, op) for path, ops in schema["paths"].items() for op in ops.values()]
    for path, op in operations:
        for status in ("400", "404", "409", "422"):
            body = op["responses"][status]["content"]["application/json"]["schema"]
            if path.startswith("/open311/"):  # GeoReport v2's own error form: [{"code", "description"}]
                assert body["type"] == "array" and set(body["items"]["properties"]) == {"code", "description"}
                continue
            assert body["required"] == ["code", "detail"] and body["properties"]["detail"]["type"] == "string"
    assert "HTTPValidationError" not in schema.get("components", {}).get("schemas", {})
    uncovered = {p["name"]: p["schema"] for p in schema["paths"]["/coverage/uncovered"]["get"]["parameters"]}
    assert uncovered["profile"]["enum"] == ["standard", "elderly", "slow"]  # this server's profiles
    assert uncovered["service_type"]["enum"] == list(SERVICE_TYPES)
    assert uncovered["level"]["anyOf"][0] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 120.0,
        "description": "Walking minutes (0 < level ≤ 120)",
    }
    assert uncovered["grid_id"]["anyOf"][0]["maximum"] == 2**63 - 1
    assert "application/geo+json" in schema["paths"]["/coverage/uncovered"]["get"]["responses"]["200"]["content"]
    siting = schema["components"]["schemas"]["SitingRequest"]["properties"]
    assert siting["profile"]["enum"] == ["standard", "elderly", "slow"]
    partition = schema["components"]["schemas"]["PartitionRequest"]["properties"]
    assert partition["profile"]["enum"] == ["DB11_15", "CJT213_14"]  # a grid code profile, not a walking one
    items = {p["name"]: p["schema"] for p in schema["paths"]["/collections/{layer}/items"]["get"]["parameters"]}
    assert items["layer"]["enum"] == [c["id"] for c in client.get("/collections").json()["collections"]]


def test_service_types_are_the_catalogue():
    assert set(get_args(ServiceType)) == set(SERVICE_TYPES)


def test_every_declared_value_is_served(client):
    for profile in ("standard", "elderly", "slow"):  # declared from the settings, so all of them work
        assert client.get("/coverage/completeness", params={"profile": profile}).status_code == 200
    for layer in [c["id"] for c in client.get("/collections").json()["collections"]]:
        assert client.get(f"/collections/{layer}/items", params={"limit": 1}).status_code == 200


@pytest.mark.parametrize("level", ["Infinity", "-Infinity", "NaN", "-5", "0", "121"])
def test_levels_out_of_range_are_422(client, level):
    for path, params in [
        ("/coverage/completeness", {}),
        ("/coverage/uncovered", {"service_type": "clinic"}),
    ]:
        response = client.get(path, params={**params, "level": level})
        assert response.status_code == 422 and "level" in response.json()["detail"], (path, level)
    raw = f'{{"service_type": "clinic", "level": {level}}}'  # Python's JSON reader takes Infinity and NaN
    body = client.post("/coverage/siting", content=raw, headers={"content-type": "application/json"})
    assert body.status_code == 422 and "level" in body.json()["detail"]


def test_a_level_within_range_is_served(client):
    response = client.get("/coverage/completeness", params={"level": 7.5})
    assert response.status_code == 200 and response.json()["level"] == 7.5


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1899-12-31T23:00:00Z"])
def test_an_instant_at_the_edge_of_the_calendar_is_refused_not_overflowed(value):
    """Python's first and last years, moved to UTC by an offset, overflowed into a 500 (found by the schema fuzz on
    GET /hazards?from=…): an Instant is a time of a year 1900–2200."""
    from pydantic import TypeAdapter, ValidationError

    from api.params import Instant

    with pytest.raises(ValidationError, match="1900 and 2200"):
        TypeAdapter(Instant).validate_python(value)
    assert TypeAdapter(Instant).validate_python("2026-12-06T09:30:00+08:00").year == 2026
