"""The defaults the analyses and the service share: walking speeds, life-circle levels and the snapping cap.

Defined once here; the gis functions take them as parameters and api's Settings use them as their defaults, so an
environment variable changes every path alike. A light module (no imports) so that reading settings stays quick.
"""

__all__ = ["LEVELS", "MAX_SNAP_M", "PROFILES"]

PROFILES: dict[str, float] = {"standard": 1.2, "elderly": 0.8}  # walking speed, m/s
LEVELS: tuple[float, ...] = (5, 10, 15)  # minutes (GB 50180-2018 life circles)
MAX_SNAP_M = 500.0  # a point farther than this from every road is not on the network (wrong coordinates, GCJ-02)
