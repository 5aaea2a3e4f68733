"""Errors to clients as ``{code, detail}``: domain errors with the status and code of api.errors.ERRORS, a 422
naming each problem, and a 500 that never carries exception text. Under /open311/ the same errors take the
GeoReport v2 form, ``[{"code": status, "description": …}]``, with 400 for what is 422 elsewhere (the spec: 404 for
what does not exist, 403 for a missing or wrong api_key, 400 for the rest)."""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import ERRORS, status_and_code, validation_detail

logger = logging.getLogger("gridmap")


OPEN311_PREFIX = "/open311/"


def _body(code: str, detail: object) -> dict:
    return {"code": code, "detail": detail}


def _response(
    request: Request,
    status: int,
    code: str,
    detail: object,
    headers: dict[str, str] | None = None,
    fields: dict[str, object] | None = None,
) -> JSONResponse:
    """``{code, detail}`` and the error's own fields (a stale version's current one …); the spec's list under
    /open311/."""
    if request.url.path.startswith(OPEN311_PREFIX):
        status = 400 if status == 422 else status
        return JSONResponse([{"code": status, "description": str(detail)}], status_code=status, headers=headers)
    return JSONResponse(_body(code, detail) | (fields or {}), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    async def domain_error(request: Request, exc: Exception) -> JSONResponse:
        status, code = status_and_code(exc) or (500, "internal_error")
        return _response(request, status, code, str(exc), getattr(exc, "headers", None), getattr(exc, "fields", {}))

    for error in ERRORS:  # Starlette picks the handler by the error's MRO, so every listed class is covered
        app.add_exception_handler(error, domain_error)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _response(request, 422, "invalid_parameter", validation_detail(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = "not_found" if exc.status_code == 404 else "http_error"
        return _response(request, exc.status_code, code, exc.detail)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        """One log line: the type, the route and the request id (api.middleware.RequestId), never the exception's
        text or traceback, which can hold SQL parameters and so residents' data. api.middleware.UnexpectedErrors
        calls this and keeps the exception from the server, which would log the traceback."""
        route = getattr(request.scope.get("route"), "path", None) or "(no route)"
        request_id = request.scope.get("state", {}).get("request_id", "-")
        logger.error("unhandled %s in %s %s (request %s)", type(exc).__name__, request.method, route, request_id)
        return _response(request, 500, "internal_error", "internal error")
