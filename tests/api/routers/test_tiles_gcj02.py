"""/tiles/{layer}/{z}/{x}/{y}.pbf?crs=gcj02, the tiles of maps drawn on AMap: the affine map per tile against the
exact GCJ-02 shift, and on the sample street (Beijing) a building drawn in the AMap tile where GCJ-02 puts it."""

import math
from collections.abc import Iterator

import mapbox_vector_tile
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.main import create_app
from api.settings import Settings
from api.storage.tiles import EXTENT, gcj02_tile_params
from gis.crs import wgs84_to_gcj02
from tests.api.routers.test_tiles_api import tile_of
from tests.conftest import sample_loaded
from tests.signing import PASSWORD, account

KEY = "a signing key for the gcj02 tile tests, 0123456789abcdef"
R = 6378137.0


def mercator(lon, lat):
    return np.radians(lon) * R, np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * R


@pytest.mark.parametrize("z", [14, 16, 18])
def test_the_affine_map_of_a_tile_is_within_half_a_metre_of_the_exact_shift(z):
    x, y = tile_of(116.47, 39.93, z)
    p = gcj02_tile_params(z, x, y)
    rng = np.random.default_rng(7)
    lon = rng.uniform(p["area_w"], p["area_e"], 500)
    lat = rng.uniform(p["area_s"], p["area_n"], 500)
    wx, wy = mercator(lon, lat)
    gx, gy = mercator(*wgs84_to_gcj02(lon, lat))
    ax, ay = p["a"] * wx + p["b"] * wy + p["xoff"], p["d"] * wx + p["e"] * wy + p["yoff"]
    scale = math.cos(math.radians(39.93))  # Mercator metres → ground metres
    error = np.hypot(ax - gx, ay - gy) * scale
    assert error.max() < {14: 0.5, 16: 0.05, 18: 0.01}[z]
    assert np.hypot(gx - wx, gy - wy).min() * scale > 100  # and the shift itself is hundreds of metres


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine):
        settings = Settings(database_url=database_url, tiles="amap", secret_key=KEY)
        with TestClient(create_app(settings), follow_redirects=False) as client:
            login = account(engine, "admin", scopes=[], login="gcj-admin")
            token = client.post("/auth/token", data={"username": login, "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            with engine.connect() as conn:
                building, lon, lat = conn.execute(
                    text(
                        "SELECT id, ST_X(c), ST_Y(c) FROM (SELECT id, ST_PointOnSurface(geom) c FROM buildings"
                        " ORDER BY id LIMIT 1 OFFSET 50) b"
                    )
                ).one()
            yield {"client": client, "headers": headers, "building": building, "point": (lon, lat)}


def feature_at(world: dict, z: int, lon: float, lat: float, crs: str | None) -> tuple[tuple[int, int], dict | None]:
    x, y = tile_of(lon, lat, z)
    query = f"?crs={crs}" if crs else ""
    response = world["client"].get(f"/tiles/buildings/{z}/{x}/{y}.pbf{query}", headers=world["headers"])
    assert response.status_code in (200, 204), response.text
    features = mapbox_vector_tile.decode(response.content)["buildings"]["features"] if response.content else []
    found = [f for f in features if f["id"] == world["building"]]
    return (x, y), found[0] if found else None


def test_a_building_is_drawn_in_the_amap_tile_where_gcj02_puts_it(world):
    lon, lat = world["point"]
    glon, glat = wgs84_to_gcj02(lon, lat)
    z = 18  # a tile ~110 m wide: the ~500 m shift puts the building in another tile
    (x, y), feature = feature_at(world, z, glon, glat, "gcj02")
    assert feature is not None
    assert feature_at(world, z, glon, glat, None)[1] is None  # the plain tile there does not hold it
    assert feature_at(world, z, lon, lat, None)[1] is not None  # the plain tile holds it where it is
    # The building's vertices enclose the shifted point, in tile coordinates (y up from the bottom, as decoded).
    size = 2 * math.pi * R / 2**z
    gx, gy = mercator(glon, glat)
    px = (gx - (-math.pi * R + x * size)) / size * EXTENT
    py = (gy - (math.pi * R - (y + 1) * size)) / size * EXTENT
    rings = feature["geometry"]["coordinates"]
    ring = np.asarray(rings[0] if feature["geometry"]["type"] == "Polygon" else rings[0][0], dtype=float)
    assert ring[:, 0].min() - 2 <= px <= ring[:, 0].max() + 2 and ring[:, 1].min() - 2 <= py <= ring[:, 1].max() + 2


def test_an_unknown_crs_is_400_not_500(world):
    response = world["client"].get("/tiles/buildings/14/0/0.pbf?crs=bd09", headers=world["headers"])
    assert response.status_code == 400 and "crs" in response.json()["detail"]
    response = world["client"].get("/tiles/buildings/14/0/0.pbf?crs=%3Cscript%3E", headers=world["headers"])
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
