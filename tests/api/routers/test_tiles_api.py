"""/tiles/{layer}/{z}/{x}/{y}.pbf on the sample street with its year of field work, decoded with a real MVT decoder
(mapbox-vector-tile): the features and attributes of known tiles, who may read which layer, a grid worker's rows
only, tiles made anew after a write to their layer, 304 on an unchanged tile, hostile strings as data."""

import math
from collections.abc import Iterator

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.main import create_app
from api.settings import Settings
from api.tile_cache import ENTRY_OVERHEAD, Tile, TileCache
from tests.conftest import sample_loaded
from tests.signing import PASSWORD, account

KEY = "a signing key for the tile tests, 0123456789abcdef"
HOSTILE = "<script>alert(1)</script>'; DROP TABLE buildings; -- {{7*7}} 网格"
MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
AREA = "ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096), 4326)"  # the tile with its buffer
INNER = "ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => -1.0 / 4096), 4326)"  # a pixel inside its edges


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The XYZ tile holding a point (Web Mercator, rows from the north)."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine, history=True):
        settings = Settings(database_url=database_url, tiles="none", secret_key=KEY)
        with TestClient(create_app(settings), follow_redirects=False) as client:
            with engine.connect() as conn:
                grid_id, grid_code = conn.execute(
                    text(
                        "SELECT g.id, g.code FROM grids g WHERE EXISTS (SELECT 1 FROM hazards h WHERE h.grid_id = g.id)"
                        " ORDER BY g.id LIMIT 1"
                    )
                ).one()
                street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
                lon, lat = conn.execute(
                    text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(geom)) c FROM buildings) e")
                ).one()
            headers = {}
            for role, scopes in (
                ("admin", []),
                ("planner", [f"street:{street}"]),
                ("grid_worker", [f"grid:{grid_code}"]),
            ):
                login = account(engine, role, scopes=scopes, login=f"tiles-{role}")
                token = client.post("/auth/token", data={"username": login, "password": PASSWORD}).json()
                headers[role] = {"Authorization": f"Bearer {token['access_token']}"}
            assert client.post("/coverage/refresh", headers=headers["admin"]).status_code == 200
            yield {"client": client, "headers": headers, "grid_id": grid_id, "center": (lon, lat), "engine": engine}


def get(world: dict, role: str, path: str, **headers: str):
    return world["client"].get(path, headers=world["headers"][role] | headers)


def decode(body: bytes) -> dict:
    return mapbox_vector_tile.decode(body)


def ids_in(world: dict, sql: str, z: int, x: int, y: int) -> set[int]:
    with world["engine"].connect() as conn:
        return set(conn.scalars(text(sql), {"z": z, "x": x, "y": y}))


def center_tile(world: dict, z: int) -> tuple[int, int, int]:
    return (z, *tile_of(*world["center"], z))


def test_a_buildings_tile_holds_the_buildings_that_meet_it_with_their_attributes(world):
    z, x, y = center_tile(world, 16)
    response = get(world, "planner", f"/tiles/buildings/{z}/{x}/{y}.pbf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    layers = decode(response.content)
    assert list(layers) == ["buildings"] and layers["buildings"]["extent"] == 4096
    features = layers["buildings"]["features"]
    # every building inside the tile is drawn, and none beyond its buffer (one that only grazes the buffer may
    # vanish in rounding to tile pixels)
    expected = ids_in(world, f"SELECT id FROM buildings WHERE ST_Intersects(geom, {AREA})", z, x, y)
    inside = ids_in(world, f"SELECT id FROM buildings WHERE ST_Intersects(geom, {INNER})", z, x, y)
    assert inside and inside <= {f["id"] for f in features} <= expected
    with world["engine"].connect() as conn:
        stored = {
            row.id: row
            for row in conn.execute(
                text("SELECT id, kind, name, floors, grid_id FROM buildings WHERE id = ANY(:i)"), {"i": list(expected)}
            )
        }
    for feature in features:
        props, row = feature["properties"], stored[feature["id"]]
        assert props["kind"] == row.kind and props["grid_id"] == row.grid_id
        assert props.get("name") == row.name and props.get("floors") == row.floors
        assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_grids_communities_and_service_points_tiles(world):
    z, x, y = center_tile(world, 13)
    for layer, table in (("grids", "grids"), ("communities", "communities"), ("service_points", "service_points")):
        response = get(world, "planner", f"/tiles/{layer}/{z}/{x}/{y}.pbf")
        assert response.status_code == 200, (layer, response.text)
        expected = ids_in(world, f"SELECT id FROM {table} WHERE ST_Intersects(geom, {AREA})", z, x, y)
        inside = ids_in(world, f"SELECT id FROM {table} WHERE ST_Intersects(geom, {INNER})", z, x, y)
        assert inside and inside <= {f["id"] for f in decode(response.content)[layer]["features"]} <= expected


def test_coverage_tiles_carry_a_covered_flag_per_service_type(world):
    z, x, y = center_tile(world, 15)
    response = get(world, "planner", f"/tiles/coverage/{z}/{x}/{y}.pbf")
    assert response.status_code == 200, response.text
    features = decode(response.content)["coverage"]["features"]
    with world["engine"].connect() as conn:
        covered = dict(
            conn.execute(
                text("SELECT building_id, walk_m <= 15 * 60 * 1.2 FROM building_coverage WHERE service_type = 'clinic'")
            ).all()
        )
    checked = [f for f in features if "clinic" in f["properties"]]
    assert checked and all(f["properties"]["clinic"] is bool(covered[f["id"]]) for f in checked)
    assert {True, False} >= {f["properties"]["clinic"] for f in checked}
    # the planner map's tooltip shows the building's name; nothing else of the buildings layer rides along
    assert not any(key in f["properties"] for f in features for key in ("households", "kind", "floors"))


def test_an_empty_tile_is_204_and_an_unknown_layer_404(world):
    assert get(world, "planner", "/tiles/buildings/10/0/0.pbf").status_code == 204
    response = get(world, "planner", "/tiles/households/10/0/0.pbf")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert "households" in response.json()["detail"]


@pytest.mark.parametrize(
    "path", ["23/0/0", "-1/0/0", "3/8/0", "3/0/8", "3/-1/0", "0/0/1", "a/0/0", "3/0/x", "3/0.5/0", "99999999999999/0/0"]
)
def test_coordinates_out_of_range_are_400(world, path):
    response = get(world, "planner", f"/tiles/buildings/{path}.pbf")
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_parameter"


def test_personal_layers_are_refused_to_planners_and_strangers(world):
    z, x, y = center_tile(world, 12)
    for layer in ("hazards", "requests", "visits"):
        response = get(world, "planner", f"/tiles/{layer}/{z}/{x}/{y}.pbf")
        assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert world["client"].get(f"/tiles/buildings/{z}/{x}/{y}.pbf").status_code == 401
    assert get(world, "grid_worker", f"/tiles/buildings/{z}/{x}/{y}.pbf").status_code == 403


def test_a_grid_workers_hazards_tile_holds_only_their_grids_hazards(world):
    z, x, y = center_tile(world, 12)
    response = get(world, "grid_worker", f"/tiles/hazards/{z}/{x}/{y}.pbf")
    assert response.status_code == 200, response.text
    features = decode(response.content)["hazards"]["features"]
    mine = ids_in(world, f"SELECT id FROM hazards WHERE grid_id = {world['grid_id']}", z, x, y)
    everyone = ids_in(world, f"SELECT id FROM hazards WHERE ST_Intersects(location, {AREA})", z, x, y)
    seen = {f["id"] for f in features}
    assert seen == mine & everyone and seen and everyone - seen
    props = features[0]["properties"]
    assert {"category", "severity", "state", "overdue", "reported_at", "deadline"} <= set(props)
    assert not {"description", "assigned_unit", "household_id", "reported_by"} & set(props)
    assert props["reported_at"].endswith("+08:00") and isinstance(props["overdue"], bool)
    admin = decode(get(world, "admin", f"/tiles/hazards/{z}/{x}/{y}.pbf").content)["hazards"]["features"]
    assert {f["id"] for f in admin} == everyone


def test_requests_and_visits_tiles_under_the_workers_scope(world):
    z, x, y = center_tile(world, 12)
    requests = decode(get(world, "grid_worker", f"/tiles/requests/{z}/{x}/{y}.pbf").content)
    seen = {f["id"] for f in requests["requests"]["features"]}
    assert seen
    with world["engine"].connect() as conn:
        their_grids = set(conn.scalars(text("SELECT grid_id FROM requests WHERE id = ANY(:i)"), {"i": list(seen)}))
    assert their_grids == {world["grid_id"]}
    assert not {"description", "address", "requester_name", "requester_phone"} & set(
        requests["requests"]["features"][0]["properties"]
    )
    visits = decode(get(world, "grid_worker", f"/tiles/visits/{z}/{x}/{y}.pbf").content)["visits"]["features"]
    assert visits and all(f["properties"]["visits"] > 0 for f in visits)
    with world["engine"].connect() as conn:
        grids = set(
            conn.scalars(text("SELECT grid_id FROM buildings WHERE id = ANY(:i)"), {"i": [f["id"] for f in visits]})
        )
    assert grids == {world["grid_id"]}


def test_a_write_to_the_layer_makes_its_tiles_anew_and_an_unchanged_tile_is_304(world):
    z, x, y = center_tile(world, 17)
    path = f"/tiles/buildings/{z}/{x}/{y}.pbf"
    first = get(world, "planner", path)
    assert first.status_code == 200
    cache = world["client"].app.state.tile_cache
    hits = cache.hits
    again = get(world, "planner", path, **{"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and not again.content and cache.hits == hits + 1
    building = decode(first.content)["buildings"]["features"][0]["id"]
    with world["engine"].begin() as conn:
        conn.execute(text("UPDATE buildings SET name = :n WHERE id = :i"), {"n": HOSTILE, "i": building})
    changed = get(world, "planner", path, **{"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
    names = {f["id"]: f["properties"].get("name") for f in decode(changed.content)["buildings"]["features"]}
    assert names[building] == HOSTILE  # byte for byte, as data
    assert get(world, "planner", path).content == changed.content and cache.hits == hits + 2


def test_the_vectorgrid_script_is_served(world):
    response = world["client"].get("/static/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js")
    assert response.status_code == 200 and b"VectorGrid" in response.content


def test_the_tile_cache_is_bounded_by_bytes_least_recently_used_out_first():
    cache = TileCache(max_bytes=3 * (1000 + ENTRY_OVERHEAD))
    for n in range(3):
        cache.put(("buildings", 17, n, 0), "v1", Tile.of(bytes(1000)))
    assert cache.get(("buildings", 17, 0, 0), "v1") is not None  # now the most recently used
    cache.put(("buildings", 17, 3, 0), "v1", Tile.of(bytes(1000)))
    assert len(cache) == 3 and cache.size_bytes <= cache.max_bytes
    assert cache.get(("buildings", 17, 1, 0), "v1") is None  # the least recently used went
    assert cache.get(("buildings", 17, 0, 0), "v1") is not None
    assert cache.get(("buildings", 17, 0, 0), "v2") is None  # another version of the layer: not this tile
    cache.put(("buildings", 17, 9, 9), "v1", Tile.of(bytes(cache.max_bytes)))  # larger than the cache: not kept
    assert cache.get(("buildings", 17, 9, 9), "v1") is None and len(cache) == 3


def test_a_new_coverage_run_makes_the_coverage_tiles_anew(world):
    z, x, y = center_tile(world, 16)
    path = f"/tiles/coverage/{z}/{x}/{y}.pbf"
    first = get(world, "planner", path)
    cache = world["client"].app.state.tile_cache
    hits, misses = cache.hits, cache.misses
    assert get(world, "planner", path).content == first.content and cache.hits == hits + 1
    assert world["client"].post("/coverage/refresh", headers=world["headers"]["admin"]).status_code == 200
    again = get(world, "planner", path)
    assert cache.misses == misses + 1 and cache.hits == hits + 1  # drawn anew, not served from the cache
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]  # same data, same bytes


def test_a_moved_building_leaves_its_tile(world):
    z, x, y = center_tile(world, 16)
    path = f"/tiles/buildings/{z}/{x}/{y}.pbf"
    before = {f["id"] for f in decode(get(world, "planner", path).content)["buildings"]["features"]}
    moved = min(before)
    with world["engine"].begin() as conn:
        conn.execute(text("UPDATE buildings SET geom = ST_Translate(geom, 0.5, 0) WHERE id = :i"), {"i": moved})
    after = {f["id"] for f in decode(get(world, "planner", path).content)["buildings"]["features"]}
    assert after == before - {moved}
