"""A batch's items, each with its own outcome: the one place besides api.handlers where a client's error becomes a
status — a batch answers 200 and reports each item's (201, 200, or the error's status, code and detail from the
table of api.errors), so that one bad item loses none of the others."""

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from api.errors import GridmapError, status_and_code, validation_detail

Item = TypeVar("Item", bound=BaseModel)


def item_outcome(index: int, item: Any, model: type[Item], store: Callable[[Item], tuple[int, dict]]) -> dict:
    """`item` validated as `model` and stored by `store` (which returns its status and the body's fields), or the
    422 of its validation, or the status of the domain error `store` raised (its savepoint rolled back)."""
    try:
        value = model.model_validate(item)
    except ValidationError as exc:
        return {"index": index, "status": 422, "code": "invalid_parameter", "detail": validation_detail(exc.errors())}
    try:
        status, fields = store(value)
    except GridmapError as exc:
        status, code = status_and_code(exc) or (400, "error")
        return {"index": index, "status": status, "code": code, "detail": exc.detail}
    return {"index": index, "status": status, **fields}
