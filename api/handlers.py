"""Errors to clients as ``{code, detail}``: domain errors with the status and code of api.errors.ERRORS, a 422
naming each problem, and a 500 that never carries exception text."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ERRORS, status_and_code, validation_detail

logger = logging.getLogger("gridmap")


def _body(code: str, detail: object) -> dict:
    return {"code": code, "detail": detail}


def install_error_handlers(app: FastAPI) -> None:
    async def domain_error(_: Request, exc: Exception) -> JSONResponse:
        status, code = status_and_code(exc) or (500, "internal_error")
        body = _body(code, str(exc)) | getattr(exc, "fields", {})
        return JSONResponse(body, status_code=status, headers=getattr(exc, "headers", None))

    for error in ERRORS:  # Starlette picks the handler by the error's MRO, so every listed class is covered
        app.add_exception_handler(error, domain_error)

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
