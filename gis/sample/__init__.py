"""The sample-area generator: a seeded, fictional Chinese street (街道) or district with every layer gridmap
reads. Settings come from data/sample.toml; the `_modules` build its parts (layout, housing, people, grids…)."""

from gis.sample._commitments import CHINA, draw_commitments
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

__all__ = [
    "CHINA",
    "DISTRICT_SCALE",
    "TAGS",
    "Generated",
    "SampleArea",
    "SampleSettings",
    "describe",
    "draw_commitments",
    "generate_sample",
    "load_settings",
    "local_crs",
]
