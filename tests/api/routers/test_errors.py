"""api.errors: one table gives every domain error its status and code; routers translate nothing, and the OpenAPI
schema declares every status the table can answer."""

import ast
from pathlib import Path

import pytest

from api.errors import (
    ERRORS,
    AccountError,
    CentersUnavailable,
    CoverageUnavailable,
    DuplicateLogin,
    Forbidden,
    GridsConflict,
    GridsError,
    IdNumberError,
    InvalidParameter,
    NotAuthenticated,
    NotFound,
    PhoneError,
    RegisterError,
    ScenarioError,
    TooManyAttempts,
    UnknownCommunity,
    status_and_code,
)
from api.main import create_app
from api.openapi import ERROR_RESPONSES
from api.settings import Settings
from gis.errors import LayerError

ROUTERS = Path(__file__).resolve().parents[3] / "api" / "routers"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (CoverageUnavailable("no walk network is stored"), (409, "coverage_unavailable")),
        (CentersUnavailable("no 中心户 assignment is stored yet"), (409, "centers_unavailable")),
        (GridsConflict("community 1 already has 3 grids"), (409, "grids_conflict")),
        (UnknownCommunity("no community 7"), (404, "not_found")),
        (GridsError("community 1 needs its 3-digit code"), (400, "invalid_parameter")),
        (ScenarioError("change 1: no service point 9"), (400, "invalid_parameter")),
        (LayerError("grids: feature 1: geometry is missing"), (400, "invalid_parameter")),
        (NotFound("no grid 5"), (404, "not_found")),
        (InvalidParameter("bbox must be four numbers"), (400, "invalid_parameter")),
        (NotAuthenticated("wrong login or password"), (401, "not_authenticated")),
        (Forbidden("this needs the role admin"), (403, "forbidden")),
        (TooManyAttempts("too many failed sign-ins", 60), (429, "too_many_attempts")),
        (DuplicateLogin("the login 'x' is taken"), (409, "duplicate_login")),
        (AccountError("unknown role 'root'"), (400, "invalid_parameter")),
        (
            RegisterError("花名册.xlsx refused, 1 problem: row 7 (身份证号): check digit should be 3"),
            (422, "invalid_register"),
        ),
        (IdNumberError("check digit should be 3"), (422, "invalid_resident_data")),
        (PhoneError("a landline needs its area code"), (422, "invalid_resident_data")),
        (ValueError("anything else"), None),  # not a domain error: the 500 handler, which logs no text
    ],
)
def test_status_comes_from_the_class(error, expected):
    assert status_and_code(error) == expected


def test_every_status_of_the_table_is_declared_in_openapi():
    """Every status is declared for every operation, but the map pages' 303 to /login, declared on their router."""
    assert {status for status, _ in ERRORS.values()} - {303} <= set(ERROR_RESPONSES)
    paths = create_app(Settings(database_url="postgresql+psycopg2://nobody@127.0.0.1:1/none")).openapi()["paths"]
    redirecting = {path for path, ops in paths.items() if any("303" in op["responses"] for op in ops.values())}
    assert redirecting == {"/maps/overview", "/maps/coverage", "/maps/centers", "/maps/worker", "/maps/leader"}


@pytest.mark.parametrize("path", sorted(ROUTERS.glob("*.py")), ids=lambda p: p.name)
def test_routers_do_not_translate_errors(path):
    """No try/except in a router, and no status chosen from an exception's text."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert not [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Try)]
    texts = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "str" and node.args
        if isinstance(node.args[0], ast.Name) and node.args[0].id in ("exc", "error", "err", "e")
    ]
    assert not texts
