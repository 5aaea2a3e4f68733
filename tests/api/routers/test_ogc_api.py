"""/ogc (OGC API Features) against a live server: GDAL's OAPIF driver as Debian ships it (`ogrinfo`, `ogr2ogr`) lists
the collections of the user's role and reads a layer over several pages with PostGIS's count; in Python: the
landing page, conformance, bbox, limit, paging, single items, 400/403/404, planners without personal collections
and a grid worker with the households of their grid only."""

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text

from api.routers.ogc import LIMIT_DEFAULT, LIMIT_MAX
from api.settings import Settings
from tests.conftest import ServerThread, sample_loaded
from tests.signing import bearer_headers

KEY = "a signing key for the ogc tests, 0123456789abcdef"
HOSTILE = "<script>window.__pwned=1</script>{{7*7}}'; DROP TABLE buildings; --"
PUBLIC = {"streets", "communities", "grids", "compounds", "buildings", "service_points"}
PERSONAL = {"households", "hazards", "requests"}
needs_gdal = pytest.mark.skipif(
    shutil.which("ogrinfo") is None and not os.environ.get("CI"), reason="gdal-bin is not installed"
)


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine, history=True):
        with engine.begin() as conn:
            street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
            grid, grid_code = conn.execute(
                text(
                    "SELECT g.id, g.code FROM grids g WHERE EXISTS (SELECT 1 FROM households h WHERE h.grid_id = g.id)"
                    " ORDER BY g.id LIMIT 1"
                )
            ).one()
            hostile_building = conn.scalar(text("SELECT min(id) FROM buildings"))
            conn.execute(text("UPDATE buildings SET name = :n WHERE id = :id"), {"n": HOSTILE, "id": hostile_building})
        settings = Settings(database_url=database_url, tiles="none", secret_key=KEY)
        with ServerThread(settings) as server:
            headers = {
                "admin": bearer_headers(server.url, engine, "admin"),
                "planner": bearer_headers(server.url, engine, "planner", [f"street:{street}"]),
                "grid_worker": bearer_headers(server.url, engine, "grid_worker", [f"grid:{grid_code}"]),
            }
            with httpx.Client(timeout=60) as http:
                yield {
                    "server": server,
                    "http": http,
                    "headers": headers,
                    "engine": engine,
                    "grid": grid,
                    "hostile_building": hostile_building,
                }


def _get(world: dict, role: str | None, path: str, **params) -> httpx.Response:
    url = f"{world['server'].url}/ogc{path}"  # not the client's base URL, which would end /ogc/ in a redirect
    return world["http"].get(url, params=params, headers=world["headers"].get(role, {}))


def _sql(world: dict, sql: str, **params) -> list:
    with world["engine"].connect() as conn:
        return list(conn.execute(text(sql), params))


def _gdal(world: dict, role: str, *args: str) -> str:
    """A GDAL command on the live server, signed in as `role` by the header GDAL sends with every request."""
    env = os.environ | {"GDAL_HTTP_HEADERS": f"Authorization: {world['headers'][role]['Authorization']}"}
    done = subprocess.run(list(args), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _oapif(world: dict) -> str:
    return f"OAPIF:{world['server'].url}/ogc"


def _ogr2ogr(world: dict, role: str, layer: str, page_size: int, out: Path) -> list[dict]:
    """`layer` copied to GeoJSON by ogr2ogr, `page_size` features a request (the FIDs kept: gridmap's ids)."""
    options = ["-preserve_fid", "-f", "GeoJSON", "-oo", f"PAGE_SIZE={page_size}"]
    _gdal(world, role, "ogr2ogr", *options, str(out), _oapif(world), layer)
    return json.loads(out.read_text())["features"]


# --- GDAL's OAPIF driver, unmodified ---------------------------------------------------------------------------


@needs_gdal
def test_ogrinfo_lists_the_collections_of_the_role(world):
    listed = {}
    for role in ("admin", "planner", "grid_worker"):
        out = _gdal(world, role, "ogrinfo", "-ro", "-q", _oapif(world))
        listed[role] = {line.split(": ", 1)[1].split(" ", 1)[0] for line in out.splitlines() if ": " in line}
    assert listed["admin"] == PUBLIC | PERSONAL
    assert listed["planner"] == PUBLIC
    assert listed["grid_worker"] == PERSONAL


@needs_gdal
def test_ogr2ogr_reads_every_building_over_several_pages(world, tmp_path: Path):
    count = _sql(world, "SELECT count(*) FROM buildings")[0][0]
    assert count > 2 * LIMIT_DEFAULT  # so that a page of the default size is not the whole layer
    summary = _gdal(world, "planner", "ogrinfo", "-ro", "-so", "-al", _oapif(world), "buildings")
    assert f"Feature Count: {count}" in summary
    # a page size that makes GDAL follow the next links several times
    features = _ogr2ogr(world, "planner", "buildings", 150, tmp_path / "buildings.geojson")
    assert len(features) == count
    ids = {f["id"] for f in features}
    assert ids == {row[0] for row in _sql(world, "SELECT id FROM buildings")}
    assert any(f["properties"]["name"] == HOSTILE for f in features)


@needs_gdal
def test_ogr2ogr_gives_a_grid_worker_the_households_of_their_grid(world, tmp_path: Path):
    expected = {row[0] for row in _sql(world, "SELECT id FROM households WHERE grid_id = :g", g=world["grid"])}
    features = _ogr2ogr(world, "grid_worker", "households", 40, tmp_path / "households.geojson")
    assert len(features) == len(expected) > 40
    assert {f["properties"]["grid_id"] for f in features} == {world["grid"]}


# --- the API in Python --------------------------------------------------------------------------------------------


def test_landing_page_and_conformance(world):
    landing = _get(world, "planner", "")
    assert landing.status_code == 200 and landing.headers["content-type"].startswith("application/json")
    rels = {link["rel"]: link for link in landing.json()["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["data"]["href"].endswith("/ogc/collections")
    conforms = _get(world, "planner", "/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conforms


@pytest.mark.parametrize("path", ["", "/conformance", "/collections", "/collections/buildings/items"])
def test_signed_in_only(world, path):
    response = _get(world, None, path)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_collections_describe_their_extent_and_links(world):
    body = _get(world, "admin", "/collections").json()
    by_id = {c["id"]: c for c in body["collections"]}
    assert set(by_id) == PUBLIC | PERSONAL
    buildings = by_id["buildings"]
    x0, y0, x1, y1 = buildings["extent"]["spatial"]["bbox"][0]
    assert 73 < x0 < x1 < 136 and 3 < y0 < y1 < 54
    rels = {(link["rel"], link["type"]) for link in buildings["links"]}
    assert {("self", "application/json"), ("items", "application/geo+json")} <= rels
    one = _get(world, "admin", "/collections/buildings")
    assert one.status_code == 200 and one.json()["id"] == "buildings"


def test_a_planner_sees_no_personal_collection(world):
    ids = {c["id"] for c in _get(world, "planner", "/collections").json()["collections"]}
    assert ids == PUBLIC
    for name in PERSONAL:
        for path in (f"/collections/{name}", f"/collections/{name}/items", f"/collections/{name}/items/1"):
            response = _get(world, "planner", path)
            assert response.status_code == 403, (path, response.text)
            assert "features" not in response.text


def test_a_grid_worker_sees_only_their_households_hazards_and_requests(world):
    grid = world["grid"]
    households = _get(world, "grid_worker", "/collections/households/items", limit=LIMIT_MAX).json()
    expected = {row[0] for row in _sql(world, "SELECT id FROM households WHERE grid_id = :g", g=grid)}
    assert {f["id"] for f in households["features"]} == expected and households["numberMatched"] == len(expected)
    other = _sql(world, "SELECT id FROM households WHERE grid_id <> :g ORDER BY id LIMIT 1", g=grid)[0][0]
    assert _get(world, "grid_worker", f"/collections/households/items/{other}").status_code == 404
    mine = min(expected)
    assert _get(world, "grid_worker", f"/collections/households/items/{mine}").json()["id"] == mine
    assert _get(world, "grid_worker", "/collections/buildings/items").status_code == 403
    for name in ("hazards", "requests"):
        page = _get(world, "grid_worker", f"/collections/{name}/items", limit=LIMIT_MAX).json()
        everyone = _get(world, "admin", f"/collections/{name}/items", limit=1).json()["numberMatched"]
        assert page["numberReturned"] > 0 and page["numberMatched"] < everyone
        for feature in page["features"]:
            assert feature["properties"]["grid_id"] == grid or feature["properties"]["grid_id"] is None
            assert not {"description", "address", "requester_name", "household_id"} & set(feature["properties"])


def test_items_default_page_and_paging_by_next_links(world):
    first = _get(world, "planner", "/collections/buildings/items")
    assert first.status_code == 200 and first.headers["content-type"] == "application/geo+json"
    body = first.json()
    total = _sql(world, "SELECT count(*) FROM buildings")[0][0]
    assert body["type"] == "FeatureCollection" and body["numberMatched"] == total
    assert body["numberReturned"] == len(body["features"]) == LIMIT_DEFAULT
    assert body["timeStamp"].endswith("Z")
    rels = {link["rel"] for link in body["links"]}
    assert {"self", "alternate", "collection", "next"} <= rels
    seen = [f["id"] for f in body["features"]]
    url = next(link["href"] for link in body["links"] if link["rel"] == "next")
    while url:
        page = world["http"].get(url, headers=world["headers"]["planner"]).json()
        seen += [f["id"] for f in page["features"]]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert len(seen) == len(set(seen)) == total and seen == sorted(seen)


def test_limit_is_capped_not_refused(world):
    body = _get(world, "admin", "/collections/households/items", limit=LIMIT_MAX * 10).json()
    assert body["numberReturned"] == min(LIMIT_MAX, body["numberMatched"])
    follow = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert f"limit={LIMIT_MAX}" in follow


def test_bbox_returns_exactly_the_features_it_intersects(world):
    centre = "ST_Centroid(ST_Extent(geom))"
    x, y = _sql(world, f"SELECT ST_X({centre}), ST_Y({centre}) FROM buildings")[0]
    box = (x - 0.002, y - 0.002, x + 0.002, y + 0.002)
    expected = {
        row[0]
        for row in _sql(
            world,
            "SELECT id FROM buildings WHERE ST_Intersects(geom, ST_MakeEnvelope(:a, :b, :c, :d, 4326))",
            a=box[0],
            b=box[1],
            c=box[2],
            d=box[3],
        )
    }
    body = _get(world, "planner", "/collections/buildings/items", bbox=",".join(map(str, box)), limit=LIMIT_MAX).json()
    assert {f["id"] for f in body["features"]} == expected and 0 < len(expected) < body["numberMatched"] + 1
    assert body["numberMatched"] == len(expected)


def test_a_single_item_and_its_text_byte_for_byte(world):
    building = world["hostile_building"]
    response = _get(world, "planner", f"/collections/buildings/items/{building}")
    assert response.status_code == 200 and response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == building
    assert feature["properties"]["name"] == HOSTILE and feature["geometry"]["type"] == "MultiPolygon"
    assert {link["rel"] for link in feature["links"]} >= {"self", "collection"}
    as_json = _get(world, "planner", f"/collections/buildings/items/{building}", f="json")
    assert as_json.headers["content-type"] == "application/json" and as_json.json()["id"] == building


@pytest.mark.parametrize(
    ("path", "params", "status", "named"),
    [
        ("/collections/nothing", {}, 404, "nothing"),
        ("/collections/nothing/items", {}, 404, "nothing"),
        ("/collections/buildings/items/999999999", {}, 404, "999999999"),
        ("/collections/buildings/items/abc", {}, 404, "abc"),
        ("/collections/buildings/items/99999999999999999999999", {}, 404, "9999"),
        ("/collections/buildings/items", {"bbox": "1,2,3"}, 400, "bbox"),
        ("/collections/buildings/items", {"bbox": "a,b,c,d"}, 400, "bbox"),
        ("/collections/buildings/items", {"bbox": "10,10,5,5"}, 400, "bbox"),
        ("/collections/buildings/items", {"limit": "0"}, 400, "limit"),
        ("/collections/buildings/items", {"limit": "ten"}, 400, "limit"),
        ("/collections/buildings/items", {"offset": "-1"}, 400, "offset"),
        ("/collections/buildings/items", {"offset": str(2**70)}, 400, "offset"),
        ("/collections/buildings/items", {"f": "html"}, 400, "f"),
    ],
)
def test_errors_name_the_problem(world, path, params, status, named):
    response = _get(world, "admin", path, **params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert named in response.json()["detail"]


def test_hostile_collection_names_come_back_as_text(world):
    name = "<img src=x onerror=alert(1)>{{7*7}}'; DROP TABLE buildings; --"  # no slash: it would be another path
    response = _get(world, "admin", f"/collections/{quote(name, safe='')}/items")
    assert response.status_code == 404 and repr(name)[:30] in response.json()["detail"]
    assert response.headers["content-type"].startswith("application/json")
