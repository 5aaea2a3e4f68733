"""The `step` hook of gis's pipelines (`gis.centers.run`, `gis.coverage.run`): each named step goes through it, so
that a benchmark can time the steps of the one pipeline every caller runs instead of writing the steps out again."""

from collections.abc import Callable
from typing import Any

__all__ = ["Step", "untimed"]

Step = Callable[..., Any]  # step(name, fn, *args, **kwargs) -> fn(*args, **kwargs), e.g. timed by a benchmark


def untimed(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """The default `step` hook: call `fn`. A benchmark passes its own hook to time each named step."""
    return fn(*args, **kwargs)
