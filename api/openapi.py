"""What the OpenAPI schema says beyond the route signatures: the error bodies, GeoJSON responses, and the value
sets that come from settings.

Every error leaves through api.handlers as ``{code, detail}`` (a 422 too, not FastAPI's list of problems), so that
is the one shape declared for every 4xx and 503. Walking profiles are settings: their names are put into the
schema of the app that serves them.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.settings import Settings


class ErrorBody(BaseModel):
    """Every error response: a stable code and a message for people."""

    code: str = Field(description="A stable code: invalid_parameter, not_found, grids_conflict, …")
    detail: str = Field(description="What is wrong, naming the parameter or the id")


def _error(description: str) -> dict[str, Any]:
    # The schema inline rather than as a model: with a model FastAPI would declare it under the route's own media
    # type (GeoJSON, HTML), but an error is always application/json.
    return {"description": description, "content": {"application/json": {"schema": ErrorBody.model_json_schema()}}}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error("A value the API refuses (detail says which and why)"),
    401: _error("Not signed in, or the token or session is not valid (any more); WWW-Authenticate: Bearer"),
    403: _error("A write from another site (api.middleware), a role that may not, a cookie write without CSRF token"),
    404: _error("No such street, community, grid, point or layer (detail names it)"),
    409: _error(
        "Not possible in the stored state (no coverage, no assignment, grids already there); a case changed since the "
        "version sent (stale_version, with current_version) or an action its state does not allow "
        "(invalid_transition, with state and action); a client_id already used for other content"
    ),
    413: _error("The body is larger than GRIDMAP_MAX_BODY_BYTES (api.middleware)"),
    415: _error("A write whose body is not JSON (api.middleware)"),
    422: _error(
        "A parameter or body field does not match this schema, or residents' data (an ID number, a phone, a register) "
        "is refused, or a body refers to a photo not uploaded, an unknown category or a location outside your grids "
        "(detail names each problem)"
    ),
    429: _error("Too many failed sign-ins for this login or from this address; Retry-After says when to try again"),
    503: _error("The database does not answer"),
}


class GeoJSONResponse(JSONResponse):
    """Declares ``application/geo+json`` for routes that return a FeatureCollection."""

    media_type = "application/geo+json"


WALK_PROFILE = "x-walk-profile"  # marks the schema of a walking profile (api.params.Profile)


def _marked(node: Any) -> list[dict]:
    """Every schema in `node` that carries the walking-profile mark."""
    if isinstance(node, list):
        return [found for item in node for found in _marked(item)]
    if not isinstance(node, dict):
        return []
    here = [node] if node.get(WALK_PROFILE) else []
    return here + [found for value in node.values() for found in _marked(value)]


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Generate the schema as FastAPI does, then list this server's walking profiles as the ``profile`` enum."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for profile in _marked(schema):
                del profile[WALK_PROFILE]
                profile["enum"] = list(settings.walk_profiles)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
