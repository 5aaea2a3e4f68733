"""The API on a real PostGIS: health, GeoJSON layers with bbox and pagination, clear errors, the map page."""

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, box

from api.main import create_app
from api.settings import Settings
from api.storage.imports import load_frames
from tests.signing import signed_in

LON, LAT = 116.47, 39.93


def small_area() -> dict[str, gpd.GeoDataFrame]:
    """A street with one community, two grids, three buildings and two service points."""
    street = box(LON, LAT, LON + 0.01, LAT + 0.01)
    crs = "EPSG:4326"
    return {
        "streets": gpd.GeoDataFrame(
            {"source_id": ["s"], "code": ["110105001"], "name": ["示范街道"]}, geometry=[street], crs=crs
        ),
        "communities": gpd.GeoDataFrame(
            {"source_id": ["c"], "street_ref": ["s"], "code": ["001"], "name": ["一社区"]}, geometry=[street], crs=crs
        ),
        "grids": gpd.GeoDataFrame(
            {
                "source_id": ["g1", "g2"],
                "community_ref": ["c", "c"],
                "code": ["110105001001001", "110105001001002"],
                "code_profile": ["DB11_15"] * 2,
                "district_code": ["110105"] * 2,
                "street_code": ["001"] * 2,
                "community_code": ["001"] * 2,
                "seq_code": ["001", "002"],
                "name": ["一网格", "二网格"],
            },
            geometry=[box(LON, LAT, LON + 0.005, LAT + 0.01), box(LON + 0.005, LAT, LON + 0.01, LAT + 0.01)],
            crs=crs,
        ),
        "buildings": gpd.GeoDataFrame(
            {
                "source_id": ["b1", "b2", "b3"],
                "grid_ref": ["g1", "g1", "g2"],
                "kind": ["apartments"] * 3,
                "name": ["1号楼", "2号楼", "<script>alert(1)</script>"],
                "floors": [6, 18, 33],
                "households": [36, 72, 132],
            },
            geometry=[
                box(LON + 0.001, LAT + 0.001, LON + 0.0015, LAT + 0.0013),
                box(LON + 0.001, LAT + 0.006, LON + 0.0015, LAT + 0.0063),
                box(LON + 0.007, LAT + 0.006, LON + 0.0075, LAT + 0.0063),
            ],
            crs=crs,
        ),
        "service_points": gpd.GeoDataFrame(
            {"source_id": ["p1", "p2"], "type": ["party_center", "clinic"], "name": ["党群服务中心", "卫生站"]},
            geometry=[Point(LON + 0.002, LAT + 0.002), Point(LON + 0.008, LAT + 0.008)],
            crs=crs,
        ),
    }


@pytest.fixture
def client(clean_db, database_url):
    with clean_db.begin() as conn:
        load_frames(conn, small_area(), source="test")
    app = create_app(Settings(database_url=database_url, tiles="none", page_size_max=100))
    with TestClient(app) as client:
        yield signed_in(client)


def test_health(client):
    body = client.get("/health").json()
    assert body["status"] == "ok" and body["postgis"].startswith("3.")


def test_health_without_database():
    app = create_app(Settings(database_url="postgresql+psycopg2://postgres@127.0.0.1:1/none", tiles="none"))
    with TestClient(app) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"


def test_layers_as_geojson_with_bbox_and_pages(client):
    grids = client.get("/collections/grids/items").json()
    assert grids["type"] == "FeatureCollection" and grids["numberMatched"] == 2
    assert {f["properties"]["code"] for f in grids["features"]} == {"110105001001001", "110105001001002"}
    east = client.get("/collections/buildings/items", params={"bbox": f"{LON + 0.006},{LAT},{LON + 0.01},{LAT + 0.01}"})
    assert [f["properties"]["floors"] for f in east.json()["features"]] == [33]
    page = client.get("/collections/buildings/items", params={"limit": 2}).json()
    assert page["numberReturned"] == 2 and page["numberMatched"] == 3
    second = client.get(page["links"][0]["href"]).json()
    assert second["numberReturned"] == 1
    assert {f["id"] for f in page["features"]}.isdisjoint({f["id"] for f in second["features"]})


@pytest.mark.parametrize(
    ("path", "params", "status", "words"),
    [
        ("/collections/households/items", {}, 404, "unknown layer"),
        ("/collections/grids/items", {"bbox": "1,2,3"}, 400, "four numbers"),
        ("/collections/grids/items", {"bbox": "a,b,c,d"}, 400, "four numbers"),
        ("/collections/grids/items", {"bbox": "10,10,5,5"}, 400, "min ≤ max"),
        ("/collections/grids/items", {"limit": 0}, 422, "limit"),
        ("/collections/grids/items", {"limit": 101}, 400, "at most 100"),
    ],
)
def test_bad_requests_name_the_problem(client, path, params, status, words):
    response = client.get(path, params=params)
    assert response.status_code == status
    assert words in response.json()["detail"]


def test_no_resident_data_is_served(client):
    assert client.get("/collections/households/items").status_code == 404
    assert "households" not in {c["id"] for c in client.get("/collections").json()["collections"]}


def test_overview_map_page_uses_local_assets_and_escapes(client):
    html = client.get("/maps/overview").text
    assert "/static/vendor/leaflet.js" in html
    assert "cdn.jsdelivr" not in html and "<script>alert(1)</script>" not in html
    assert client.get("/static/vendor/leaflet.js").status_code == 200
