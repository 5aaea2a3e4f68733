"""Errors to clients as ``{code, detail}``, from one table; a 500 never carries exception text."""

import logging

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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GridmapError)
    async def domain_error(_: Request, exc: GridmapError) -> JSONResponse:
        return JSONResponse(_body(exc.code, exc.detail), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e['loc'] if p not in ('query', 'path', 'body'))}: {e['msg']}"
            for e in exc.errors()
        ]
        return JSONResponse(_body("invalid_parameter", "; ".join(problems)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return JSONResponse(_body(code, exc.detail), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # Log the type only: exception text can hold SQL parameters, and so residents' data.
        logger.error("unhandled %s", type(exc).__name__)
        return JSONResponse(_body("internal_error", "internal error"), status_code=500)
