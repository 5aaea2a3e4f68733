"""Every domain error of gis, under one base class.

Each is a `ValueError` (bad input, not a bug), so callers that catch `ValueError` keep working; `GisError` lets a
caller catch exactly the errors whose message is meant for the user.
"""

__all__ = ["CrsError", "GisError", "GridCodeError", "LayerError", "OsmReadError"]


class GisError(ValueError):
    """Input that gis cannot use; the message says what and why, in words meant for the user."""


class CrsError(GisError):
    """A CRS that cannot be used: unknown name, not a horizontal CRS, or data without a usable position."""


class GridCodeError(GisError):
    """A grid code that does not fit its profile; the message says which part is wrong and why."""


class LayerError(GisError):
    """A layer that cannot be imported as it is; the message says which feature and why."""


class OsmReadError(GisError):
    """The file is missing, not OSM data, corrupt or truncated, or holds no nodes or ways."""
