"""Request dependencies: one engine per app (created in the lifespan), a connection per request."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import OperationalError

from api.errors import DatabaseUnavailable
from api.settings import Settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_connection(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    try:
        conn = engine.connect()
    except OperationalError as exc:
        raise DatabaseUnavailable("the database does not answer") from exc
    with conn:
        yield conn


ConnectionDep = Annotated[Connection, Depends(get_connection)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
