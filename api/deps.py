"""Request dependencies: one engine per app (created in the lifespan), a connection per request."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from api.settings import Settings
from api.storage import SYSTEM, Connection, Engine, connect


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_connection(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Connection]:
    """The request's connection, from storage's one door (a database that does not answer: 503)."""
    with connect(engine, scope=SYSTEM) as conn:
        yield conn


ConnectionDep = Annotated[Connection, Depends(get_connection)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
