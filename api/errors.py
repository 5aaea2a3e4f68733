"""Errors to clients as ``{code, detail}``, from one table; a 500 never carries exception text."""

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("gridmap")


class GridmapError(Exception):
    """A domain error with a message meant for the user."""

    code = "error"
    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(GridmapError):
    code, status = "not_found", 404


class InvalidParameter(GridmapError):
    code, status = "invalid_parameter", 400


class DatabaseUnavailable(GridmapError):
    code, status = "database_unavailable", 503


def _body(code: str, detail: object) -> dict:
    return {"code": code, "detail": detail}


EXCERPT_CHARS = 40  # of a client's value repeated in an error message
MAX_PROBLEMS = 10  # validation problems listed in one 422 body


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A client's value for an error message, cut to `limit` characters (strings quoted): a 50 MB value must not
    come back in a 50 MB error body."""
    text = value if isinstance(value, str) else str(value)
    shown = repr(_cut(text, limit)) if isinstance(value, str) else _cut(text, limit)
    return shown if len(text) <= limit else f"{shown} ({len(text)} characters)"


def validation_detail(errors: Sequence[Any]) -> str:
    """The 422 detail: each problem names its parameter and repeats at most an excerpt of the value sent."""
    problems = []
    for error in errors[:MAX_PROBLEMS]:
        where = ".".join(_cut(str(p), EXCERPT_CHARS) for p in error["loc"] if p not in ("query", "path", "body"))
        problem = f"{where or 'body'}: {_cut(str(error['msg']), 200)}"
        value = error.get("input")
        if isinstance(value, str | int | float) and not isinstance(value, bool) and error["type"] != "missing":
            problem += f" (got {excerpt(value)})"
        problems.append(problem)
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return "; ".join(problems)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GridmapError)
    async def domain_error(_: Request, exc: GridmapError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.detail), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_body("invalid_parameter", validation_detail(exc.errors())), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse(_body(code, exc.detail), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        """One log line: the type, the route and the request id (api.middleware.RequestId), never the exception's
        text or traceback, which can hold SQL parameters and so residents' data. api.middleware.UnexpectedErrors
        calls this and keeps the exception from the server, which would log the traceback."""
        route = getattr(request.scope.get("route"), "path", None) or "(no route)"
        request_id = request.scope.get("state", {}).get("request_id", "-")
        logger.error("unhandled %s in %s %s (request %s)", type(exc).__name__, request.method, route, request_id)
        return JSONResponse(_body("internal_error", "internal error"), status_code=500)
