"""Schemathesis over the whole OpenAPI schema: no 5xx, and every response as the schema declares it.

The app is the real one (`create_app`) on the sample street in a real PostGIS, called in process over ASGI. Every
operation gets cases that fit its schema (positive) and cases that do not (negative: those must be refused with
a 4xx). Bounded and deterministic: a fixed number of cases per operation and mode, derandomized (a fixed seed),
so every run sends the same requests.

Hypothesis drives each operation's strategy directly rather than through ``schema.parametrize()``, whose lazy
fixture loader does not run under pytest 9.2 (it sets ``Function._nodeid``, which pytest no longer has).
"""

from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from api.main import create_app
from api.settings import Settings
from tests.conftest import sample_loaded
from tests.signing import PASSWORD, account

MAX_EXAMPLES = 25  # cases per operation and mode
# Operations whose every valid request is seconds of work (exact siting, a planner map, a full assignment, service
# circles, the workload tables) get fewer cases, which keeps the whole run near a minute on two cores.
FEWER_EXAMPLES = {
    "POST /coverage/siting": 4,
    "GET /maps/coverage": 5,
    "POST /centers/assign": 5,
    "GET /coverage/circles": 8,
    "GET /workload/workers": 8,
    "GET /workload/grids": 10,
    "GET /grids/check": 10,
    "GET /maps/leader": 10,
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
FUZZ = settings(
    derandomize=True,  # the same cases every run
    database=None,
    deadline=None,
    phases=[Phase.generate],  # no shrinking: a failure is reported as found, which keeps the run bounded
    suppress_health_check=list(HealthCheck),
)


KEY = "a signing key for the schema fuzz, 0123456789abcdef"


@pytest.fixture(scope="module")
def api_schema(engine, database_url) -> Iterator[tuple[schemathesis.BaseSchema, Callable[[], dict]]]:
    """The schema of the app under test, and a way to sign an admin in on it (a fresh session each time: the
    fuzz's own POST /auth/logout ends the session it is sent with)."""
    with sample_loaded(engine):
        settings_ = Settings(database_url=database_url, tiles="none", secret_key=KEY)
        app = create_app(settings_)
        login = account(engine, "admin")
        with TestClient(create_app(settings_)) as signer:

            def headers() -> dict:
                # The fuzz's own failed sign-ins (from the same test client address) must not lock the signer out:
                # Hypothesis draws strings from the code's constants, so how many fail changes with any new module.
                with engine.begin() as conn:
                    conn.execute(text("DELETE FROM sign_in_failures"))
                response = signer.post("/auth/token", data={"username": login, "password": PASSWORD})
                return {"Authorization": f"Bearer {response.json()['access_token']}"}

            yield schemathesis.openapi.from_asgi("/openapi.json", app), headers
        asgi.shutdown_lifespans()  # the app's engine, before the sample is emptied and the database dropped


def _fuzz(operation, mode: GenerationMode, cases: Counter, headers: dict, refused: Counter) -> str | None:
    """Run one operation's cases in one mode, signed in as an admin; the first failure as text, or None.
    `refused` counts the valid cases answered 401 outside /auth: the token must carry every other one through."""

    @settings(FUZZ, max_examples=FEWER_EXAMPLES.get(operation.label, MAX_EXAMPLES))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        cases[mode] += 1
        response = case.call(headers=headers)
        if response.status_code == 401 and mode.is_positive and not operation.path.startswith("/auth"):
            refused[operation.label] += 1
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # every failure is collected, so one run reports them all
        found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
        return f"{operation.label} ({mode}): " + "\n".join(f"{type(e).__name__}: {str(e)[:1500]}" for e in found)
    return None


def test_api_matches_its_schema(api_schema):
    schema, sign_in = api_schema
    cases: Counter = Counter()
    refused: Counter = Counter()
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in GenerationMode:
            if mode.is_negative and not (len(operation.path_parameters) + len(operation.query) + len(operation.body)):
                continue  # nothing to send wrong
            failure = _fuzz(operation, mode, cases, sign_in(), refused)
            if failure:
                failures.append(failure)
    print(f"\nschemathesis: {sum(cases.values())} cases ({dict(cases)}) over {len(operations)} operations")
    assert not failures, "\n\n".join(failures)
    assert not refused, f"valid cases refused as not signed in: {dict(refused)}"
