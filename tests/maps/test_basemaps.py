"""Base maps: the settings and their errors, the tile layers and credits of each base, the GCJ-02 display shift on
AMap (against published reference points) and the helpers other maps use to draw raw points."""

import folium
import geopandas as gpd
import numpy as np
import pytest
import shapely
from pydantic import ValidationError

from api.settings import Settings
from maps import render_html
from maps.base import base_map, feature_collection, shift_frame, shift_latlon, tile_url
from maps.basemaps import AMAP_TILES, OSM_TILES, display_lonlat, make_base_map

KEY = "0123456789abcdef0123456789abcdef"

# (WGS84 lat, lon) → (GCJ-02 lat, lon): the test points of eviltransform (googollee/eviltransform, test.py), a
# reference independent of gis.crs.
REFERENCE = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),  # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),  # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),  # Beijing
]


@pytest.mark.parametrize(("wgs", "gcj"), REFERENCE)
def test_the_amap_shift_matches_published_reference_points(wgs, gcj):
    amap = make_base_map("amap")
    lon, lat = display_lonlat(amap, wgs[1], wgs[0])
    assert (lat, lon) == pytest.approx(gcj, abs=1e-8)  # ~1 mm
    fmap = base_map(center=wgs, tiles=amap)
    assert shift_latlon(fmap, *wgs) == pytest.approx(gcj, abs=1e-8)


def test_no_shift_on_other_bases_and_outside_china():
    for tiles in ("openstreetmap", "none", "https://10.0.0.1/{z}/{x}/{y}.png"):
        fmap = base_map(center=(31.0, 121.0), tiles=make_base_map(tiles, attribution="x"))
        assert shift_latlon(fmap, 31.0, 121.0) == (31.0, 121.0)
    amap = base_map(center=(48.85, 2.35), tiles="amap")
    assert shift_latlon(amap, 48.85, 2.35) == pytest.approx((48.85, 2.35), abs=1e-12)  # Paris: GCJ-02 = WGS84


def test_frames_and_bounds_are_drawn_shifted_on_amap_only():
    lat, lon = REFERENCE[0][0]
    square = shapely.box(lon, lat, lon + 0.001, lat + 0.001)
    frame = gpd.GeoDataFrame({"name": ["<b>x</b>"]}, geometry=[square], crs=4326)
    osm = base_map(frame.total_bounds, tiles="openstreetmap")
    amap = base_map(frame.total_bounds, tiles="amap")
    assert shift_frame(osm, frame) is frame
    shifted = shift_frame(amap, frame)
    dx, dy = np.asarray(shifted.geometry.iloc[0].exterior.coords)[0] - np.asarray(square.exterior.coords)[0]
    assert 0.003 < dx < 0.006 and -0.003 < dy < -0.001  # ~430 m east, ~235 m south, as in Shanghai
    assert frame.geometry.iloc[0].equals(square)  # the caller's frame is left as it was
    ring = feature_collection(frame, ["name"], on=amap)["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == pytest.approx(np.round(np.asarray(shifted.geometry.iloc[0].exterior.coords)[0], 6).tolist())
    assert feature_collection(frame, ["name"], on=amap)["features"][0]["properties"]["name"] == "&lt;b&gt;x&lt;/b&gt;"
    assert amap.location == pytest.approx(list(shift_latlon(amap, *osm.location)))
    assert tile_url(amap, "buildings") == "/tiles/buildings/{z}/{x}/{y}.pbf?crs=gcj02"
    assert tile_url(osm, "buildings") == "/tiles/buildings/{z}/{x}/{y}.pbf"


def tile_layers(fmap: folium.Map) -> list[folium.TileLayer]:
    return [child for child in fmap._children.values() if isinstance(child, folium.TileLayer)]


def test_each_base_draws_its_tiles_and_credits_osm_data_on_every_base():
    settings = {
        "openstreetmap": Settings(tiles="openstreetmap"),
        "tianditu": Settings(tiles="tianditu", tianditu_key=KEY),
        "amap": Settings(tiles="amap"),
        "url": Settings(tiles="http://10.1.2.3/t/{z}/{x}/{y}.png", tiles_attribution="© 某区规划局"),
        "none": Settings(tiles="none"),
    }
    expected = {
        "openstreetmap": [OSM_TILES],
        "tianditu": ["vec_w", "cva_w"],
        "amap": [AMAP_TILES],
        "url": ["http://10.1.2.3/t/{z}/{x}/{y}.png"],
        "none": [],
    }
    for kind, config in settings.items():
        fmap = base_map(center=(31.0, 121.0), tiles=config.base_map, osm_data=True)
        urls = [layer.tiles for layer in tile_layers(fmap)]
        assert len(urls) == len(expected[kind]) and all(
            part in url for part, url in zip(expected[kind], urls, strict=True)
        )
        page = render_html(fmap)
        assert "www.openstreetmap.org/copyright" in page and "OpenStreetMap\\u003c/a\\u003e contributors" in page, kind
        assert config.base_map.gcj02 is (kind == "amap")
    assert all(
        f"tk={KEY}" in layer.tiles
        for layer in tile_layers(base_map(center=(31, 121), tiles=settings["tianditu"].base_map))
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"tiles": "tianditu"}, "needs a key: set GRIDMAP_TIANDITU_KEY"),
        ({"tiles": "tianditu", "tianditu_key": "abc'def<script>"}, "letters and digits"),
        ({"tiles": "https://tiles.example.org/{z}/{x}/{y}.png"}, "GRIDMAP_TILES_ATTRIBUTION"),
        ({"tiles": "https://tiles.example.org/{z}/{x}.png", "tiles_attribution": "x"}, "needs {y}"),
        ({"tiles": "https://t.example/{z}/{x}/{y}.png?a='x'", "tiles_attribution": "x"}, "quotes"),
        ({"tiles": "google"}, "tiles must be one of openstreetmap, tianditu, amap, none"),
        ({"tiles": "javascript:alert(1)/{z}/{x}/{y}", "tiles_attribution": "x"}, "tiles must be"),
    ],
)
def test_settings_refuse_a_base_map_they_cannot_draw(settings, message):
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        Settings(**settings)


def test_settings_default_to_openstreetmap():
    assert Settings().base_map.kind == "openstreetmap"
    assert Settings(tiles="amap").base_map.sources == tuple(f"https://webrd0{n}.is.autonavi.com" for n in range(1, 5))
