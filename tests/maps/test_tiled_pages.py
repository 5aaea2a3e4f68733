"""The street- and district-wide map pages draw from the vector tiles: their HTML stays under the budget (300 KB) on
the sample street and on the district sample, hostile names never reach the page (they are in the tiles, shown as
text by the page's own code), and the coverage tiles carry the walk metres the planner map colours by."""

from collections.abc import Iterator

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.main import create_app
from api.settings import Settings
from tests.api.routers.test_tiles_api import tile_of
from tests.chromium import ARTIFACTS
from tests.conftest import ID_HASH_KEY, empty_tables, sample_loaded
from tests.signing import signed_in

KEY = "a signing key for the tiled page tests, 0123456789abcdef"
BUDGET = 300_000  # bytes of HTML
HOSTILE = "<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"
PAGES = ("/maps/overview", "/maps/coverage?service_type=clinic")


def page_sizes(client: TestClient, keep_as: str | None = None) -> dict[str, int]:
    """Bytes of each page's HTML; `keep_as`: also saved as tests/artifacts/<keep_as>-<page>.html."""
    sizes = {}
    for path in PAGES:
        response = client.get(path, headers={"Accept-Encoding": "identity"})
        assert response.status_code == 200, response.text[:300]
        assert "/static/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js" in response.text
        sizes[path] = len(response.content)
        if keep_as:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / f"{keep_as}-{path.split('/')[2].split('?')[0]}.html").write_bytes(response.content)
    return sizes


@pytest.fixture(scope="module")
def street(engine, database_url) -> Iterator[TestClient]:
    with sample_loaded(engine):
        with engine.begin() as conn:
            for table in ("buildings", "service_points"):
                first = f"(SELECT min(id) FROM {table})"
                conn.execute(text(f"UPDATE {table} SET name = :n WHERE id = {first}"), {"n": HOSTILE})
        settings = Settings(database_url=database_url, tiles="openstreetmap", secret_key=KEY)
        with TestClient(create_app(settings), follow_redirects=False) as client:
            client = signed_in(client)
            assert client.post("/coverage/refresh").status_code == 200
            yield client


def test_street_maps_are_drawn_from_tiles_within_the_budget(street):
    sizes = page_sizes(street)
    print("street page sizes (bytes):", sizes)
    assert all(size < BUDGET for size in sizes.values()), sizes
    for path in PAGES:
        page = street.get(path).text
        assert "__pwned" not in page  # the names are in the tiles, not in the page


def test_coverage_tiles_carry_walk_metres_per_type(street, engine):
    with engine.connect() as conn:
        building, lon, lat, walk_m = conn.execute(
            text(
                "SELECT b.id, ST_X(ST_PointOnSurface(b.geom)), ST_Y(ST_PointOnSurface(b.geom)), c.walk_m"
                " FROM buildings b JOIN building_coverage c ON c.building_id = b.id"
                " WHERE c.service_type = 'clinic' AND c.walk_m IS NOT NULL ORDER BY b.id LIMIT 1"
            )
        ).one()
    x, y = tile_of(lon, lat, 16)
    response = street.get(f"/tiles/coverage/16/{x}/{y}.pbf")
    assert response.status_code == 200
    features = mapbox_vector_tile.decode(response.content)["coverage"]["features"]
    found = next(f for f in features if f["id"] == building)
    assert found["properties"]["clinic_m"] == round(walk_m)


@pytest.mark.slow
def test_district_maps_stay_within_the_budget(engine, database_url):
    """The district sample (gis.sample.DISTRICT_SCALE, ~100k buildings): the pages are as small as on a street."""
    from api.storage.imports import load_sample
    from gis.sample import DISTRICT_SCALE, generate_sample

    empty_tables(engine)
    try:
        load_sample(engine, generate_sample(scale=DISTRICT_SCALE), id_hash_key=ID_HASH_KEY, history=False)
        settings = Settings(database_url=database_url, tiles="openstreetmap", secret_key=KEY)
        with TestClient(create_app(settings), follow_redirects=False) as client:
            sizes = page_sizes(signed_in(client), keep_as="district")
        print("district page sizes (bytes):", sizes)
        assert all(size < BUDGET for size in sizes.values()), sizes
    finally:
        empty_tables(engine)
