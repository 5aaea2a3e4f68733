"""Map pages rendered once per version of the layers they draw, served with an ETag.

Against the sample street in a real PostGIS: the renderer is counted through a wrapper of the router's
``render_html``; a write to a drawn layer (a service point's or a compound's name) must give a new page and ETag
(the service points' names themselves are in the vector tiles the pages draw from).
"""

import gzip
import threading

import httpx
import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api import map_cache
from api.main import create_app
from api.map_cache import MapPageCache, Page, etag_matches
from api.routers import maps as maps_router
from api.settings import Settings
from tests.api.routers.test_tiles_api import tile_of
from tests.conftest import ServerThread, sample_loaded
from tests.signing import bearer_headers, signed_in


@pytest.fixture(scope="module")
def area(engine):
    with sample_loaded(engine) as area:
        yield area


@pytest.fixture(scope="module")
def app(area, database_url):
    return create_app(Settings(database_url=database_url, tiles="none"))


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as client:
        yield signed_in(client)


@pytest.fixture
def renders(app, monkeypatch) -> list[int]:
    """Pages rendered from now on (one item per call of the real renderer); the cache starts empty."""
    app.state.map_cache.clear()
    calls: list[int] = []
    real = maps_router.render_html

    def counting(fmap):
        calls.append(1)
        return real(fmap)

    monkeypatch.setattr(maps_router, "render_html", counting)
    return calls


def _rename(engine, table: str, name: str) -> int:
    """Rename the first row of `table` (a committed write, as an import or an edit would be); returns its id."""
    with engine.begin() as conn:
        row_id = conn.scalar(text(f"SELECT min(id) FROM {table}"))
        conn.execute(text(f"UPDATE {table} SET name = :n WHERE id = :i"), {"n": name, "i": row_id})
    return int(row_id)


def _tile_names(client, engine, table: str, row_id: int) -> set[str]:
    """Names in the z16 vector tile of `table` that holds the row (the pages draw service points from the tiles)."""
    with engine.connect() as conn:
        lon, lat = conn.execute(
            text(f"SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM {table} WHERE id = :i) t"),
            {"i": row_id},
        ).one()
    x, y = tile_of(lon, lat, 16)
    response = client.get(f"/tiles/{table}/16/{x}/{y}.pbf")
    return {f["properties"].get("name") for f in mapbox_vector_tile.decode(response.content)[table]["features"]}
    return row_id


def test_second_request_is_served_from_cache_with_etag_and_304(client, renders):
    first = client.get("/maps/overview")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert first.headers["cache-control"] == "private, no-cache"  # never in a shared cache; always revalidated
    second = client.get("/maps/overview")
    assert second.status_code == 200 and second.content == first.content and second.headers["etag"] == etag
    assert len(renders) == 1

    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = client.get("/maps/overview", headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b"" and again.headers["etag"] == etag
        assert again.headers["cache-control"] == "private, no-cache"
    assert client.get("/maps/overview", headers={"If-None-Match": '"other"'}).status_code == 200
    assert len(renders) == 1


def test_a_layer_write_changes_the_page_and_its_etag(client, engine, renders):
    before = client.get("/maps/overview")
    assert len(renders) == 1
    point = _rename(engine, "service_points", "renamed-post-cache-test")
    after = client.get("/maps/overview")
    assert after.status_code == 200 and len(renders) == 2
    assert "renamed-post-cache-test" in _tile_names(client, engine, "service_points", point)  # drawn from the tiles
    assert after.headers["etag"] != before.headers["etag"]
    stale = client.get("/maps/overview", headers={"If-None-Match": before.headers["etag"]})
    assert stale.status_code == 200 and stale.headers["etag"] == after.headers["etag"]
    # compounds are drawn too, and counted since migration 0005
    _rename(engine, "compounds", "renamed-compound-cache-test")
    compound = client.get("/maps/overview")
    assert len(renders) == 3 and b"renamed-compound-cache-test" in compound.content
    assert compound.headers["etag"] != after.headers["etag"]
    assert client.get("/maps/overview").headers["etag"] == compound.headers["etag"] and len(renders) == 3


def test_a_write_rolled_back_leaves_the_page(client, engine, renders):
    etag = client.get("/maps/overview").headers["etag"]
    with engine.connect() as conn, conn.begin() as transaction:
        conn.execute(
            text("UPDATE service_points SET name = 'rolled back' WHERE id = (SELECT min(id) FROM service_points)")
        )
        transaction.rollback()
    assert client.get("/maps/overview", headers={"If-None-Match": etag}).status_code == 304
    assert len(renders) == 1


def test_planner_map_cached_per_parameters_and_renewed_by_a_write(client, engine, renders):
    path = "/maps/coverage?service_type=elderly_care&profile=elderly&suggest=1"
    first = client.get(path)
    assert first.status_code == 200 and len(renders) == 1
    assert client.get(path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    other = client.get("/maps/coverage?service_type=elderly_care&profile=standard&suggest=1")
    assert other.status_code == 200 and len(renders) == 2 and other.headers["etag"] != first.headers["etag"]
    with engine.connect() as conn:
        point_id = conn.scalar(text("SELECT min(id) FROM service_points WHERE type = 'elderly_care'"))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE service_points SET name = 'renamed-elderly-cache-test' WHERE id = :i"), {"i": point_id}
        )
    renewed = client.get(path)
    assert renewed.status_code == 200 and len(renders) == 3 and renewed.headers["etag"] != first.headers["etag"]
    assert "renamed-elderly-cache-test" in _tile_names(client, engine, "service_points", point_id)


def test_concurrent_first_requests_render_once(app, renders, engine):
    results: list[tuple[int, str]] = []
    start = threading.Barrier(8)

    def fetch(url: str, headers: dict) -> None:
        start.wait()
        response = httpx.get(url + "/maps/overview", headers=headers, timeout=60)
        results.append((response.status_code, response.headers["etag"]))

    with ServerThread(app.state.settings, app=app) as server:
        headers = bearer_headers(server.url, engine)
        threads = [threading.Thread(target=fetch, args=(server.url, headers)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert len(results) == 8 and {status for status, _ in results} == {200}
    assert len({etag for _, etag in results}) == 1
    assert len(renders) == 1


def _page(size: int, fill: str = "x") -> str:
    return fill * size


def test_cache_is_bounded_in_entries_and_bytes():
    one = Page.of(_page(100)).size  # the body and its gzip copy
    cache = MapPageCache(max_entries=3, max_bytes=10 * one)
    for i in range(5):
        cache.page(("map", i), (("layer", 1, "1"),), lambda: _page(100), lambda: True)
    assert len(cache) == 3 and cache.size_bytes == 3 * one  # the two least recently used went
    assert cache.get(("map", 0), (("layer", 1, "1"),)) is None and cache.get(("map", 4), (("layer", 1, "1"),))
    cache.page(("map", 9), (("layer", 1, "1"),), lambda: _page(1000), lambda: True)  # over 8 small ones: evicts
    assert cache.size_bytes <= 10 * one and cache.get(("map", 9), (("layer", 1, "1"),)) is not None
    cache.page(
        ("big",), (), lambda: _page(10 * one + 1), lambda: True
    )  # larger than the whole budget: served, not kept
    assert cache.get(("big",), ()) is None and cache.size_bytes <= 10 * one
    # newer counters replace a variant's page: stale versions do not pile up
    cache.page(("map", 9), (("layer", 2, "2"),), lambda: _page(700, "y"), lambda: True)
    assert cache.get(("map", 9), (("layer", 1, "1"),)) is None
    assert cache.get(("map", 9), (("layer", 2, "2"),)).body == b"y" * 700
    assert sum(1 for _ in cache._items) == len(cache) <= 3 and not cache._rendering


def test_page_not_kept_when_a_layer_moved_while_rendering():
    cache = MapPageCache()
    page = cache.page(("map",), (("layer", 1, "1"),), lambda: "<p>", lambda: False)
    assert page.body == b"<p>" and cache.get(("map",), (("layer", 1, "1"),)) is None
    cache.page(("map",), None, lambda: "<p>", lambda: True)  # no versions: never kept
    assert len(cache) == 0 and cache.renders == 2


def test_etag_is_the_body_hash_and_matching():
    page = Page.of("<html>地图</html>")
    assert page == Page.of("<html>地图</html>") and page.etag != Page.of("<html></html>").etag
    assert etag_matches(page.etag, page.etag) and etag_matches(f"W/{page.etag}", page.etag)
    assert not etag_matches(None, page.etag) and not etag_matches('"abc"', page.etag)
    assert map_cache.CACHE_CONTROL.startswith("private")


def test_gzip_served_to_clients_that_accept_it_with_its_own_etag(client, renders):
    plain = client.get("/maps/overview", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    with client.stream("GET", "/maps/overview", headers={"Accept-Encoding": "gzip"}) as packed:
        compressed = b"".join(packed.iter_raw())
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    assert gzip.decompress(compressed) == plain.content and len(compressed) < len(plain.content) / 4
    assert packed.headers["etag"] != plain.headers["etag"]  # two representations, two strong ETags
    for etag in (plain.headers["etag"], packed.headers["etag"]):  # either revalidates the page
        assert client.get("/maps/overview", headers={"If-None-Match": etag}).status_code == 304
    assert len(renders) == 1


def test_accept_encoding_parsed():
    assert map_cache.accepts_gzip("gzip, deflate, br") and map_cache.accepts_gzip("br;q=1.0, GZIP;q=0.5")
    assert map_cache.accepts_gzip("*") and not map_cache.accepts_gzip(None) and not map_cache.accepts_gzip("br")
    assert not map_cache.accepts_gzip("gzip;q=0") and not map_cache.accepts_gzip("identity")
