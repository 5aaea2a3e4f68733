"""The sample-area generator: a seeded, fictional Chinese street (街道) or district with every layer gridmap
reads. Settings come from data/sample.toml; the `_modules` build its parts (layout, housing, people, grids…)."""

from gis.sample._clock import CHINA
from gis.sample._commitments import draw_commitments
from gis.sample._frames import Generated
from gis.sample._generate import (
    DISTRICT_SCALE,
    TAGS,
    SampleArea,
    SampleSettings,
    describe,
    generate_sample,
    load_settings,
    local_crs,
)
from gis.sample._history import History, generate_history

__all__ = [
    "CHINA",
    "DISTRICT_SCALE",
    "TAGS",
    "Generated",
    "History",
    "SampleArea",
    "SampleSettings",
    "describe",
    "draw_commitments",
    "generate_history",
    "generate_sample",
    "load_settings",
    "local_crs",
]
