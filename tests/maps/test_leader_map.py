"""GET /maps/leader on the sample street with its year of field work (real PostGIS): who may open it and which places
they see, 4xx for bad parameters, suppression of small counts, no resident's data, hostile labels escaped, the page
cache, the page's size; and `gridmap leader-map`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.main import create_app
from api.settings import Settings
from maps.base import external_urls
from tests.chromium import ARTIFACTS
from tests.conftest import HISTORY_UNTIL, sample_loaded
from tests.signing import signed_in

FROM, TO = "2025-12-01", HISTORY_UNTIL.isoformat()
PAGE_BUDGET = 1_000_000  # bytes, street scope
HOSTILE_CATEGORY = "<img src=x onerror=\"window.__pwned='category'\">"
HOSTILE_GRID = "<script>window.__pwned='grid'</script>"


@pytest.fixture(scope="module")
def world(engine, database_url) -> Iterator[dict]:
    with sample_loaded(engine, history=True):
        with engine.begin() as conn:
            street = conn.scalar(text("SELECT code FROM streets ORDER BY id LIMIT 1"))
            communities = conn.execute(
                text(
                    "SELECT c.id, st.code || c.code AS code FROM communities c JOIN streets st ON st.id = c.street_id "
                    "ORDER BY c.id"
                )
            ).all()
            conn.execute(
                text("INSERT INTO services (code, name, group_name, kind, deadline_hours, description) "
                     "VALUES ('hostile', :name, 'x', 'request', 24, 'x') "
                     "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name"),
                {"name": HOSTILE_CATEGORY},
            )  # fmt: skip
            grid_id = conn.scalar(text("SELECT id FROM grids WHERE community_id = :c ORDER BY id LIMIT 1"),
                                  {"c": communities[0].id})  # fmt: skip
            conn.execute(text("UPDATE grids SET name = :n WHERE id = :g"), {"n": HOSTILE_GRID, "g": grid_id})
        yield {"street": street, "communities": communities, "database_url": database_url, "grid_id": grid_id}
        with engine.begin() as conn:  # the catalogue is not emptied with the layers: leave it as it was
            conn.execute(text("DELETE FROM services WHERE code = 'hostile'"))


@contextmanager
def _client(world: dict, role: str, scopes: list[str] | None) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=world["database_url"], tiles="none"))
    with TestClient(app) as client:
        yield signed_in(client, role, scopes)


@pytest.fixture(scope="module")
def leader(world) -> Iterator[TestClient]:
    with _client(world, "street_leader", [f"street:{world['street']}"]) as client:
        yield client


def _raw(client: TestClient, **params: str) -> str:
    response = client.get("/maps/leader", params={"from": FROM, "to": TO, **params})
    assert response.status_code == 200, response.text[:500]
    return response.text


def _page(client: TestClient, **params: str) -> str:
    """The page with JSON's \\uXXXX escapes undone: the text the scripts hand to Leaflet and innerHTML."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), _raw(client, **params))


def _grid_codes(page: str) -> set[str]:
    return set(re.findall(r'"code": "(\d{15})"', page))


def test_street_leader_page_has_every_layer_and_fits_the_budget(leader, world):
    started = time.perf_counter()
    page = _raw(leader)
    size = len(page.encode("utf-8"))
    print(f"leader map, street scope: {size} bytes, first request {time.perf_counter() - started:.2f} s")
    (ARTIFACTS / "leader-map-street.html").parent.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "leader-map-street.html").write_text(page, encoding="utf-8")
    assert size < PAGE_BUDGET
    for name in ("诉求热力（按周）", "诉求热点（Gi* 显著）", "网格诉求办结率", "网格隐患逾期率", "隐患（聚合）"):
        assert json.dumps(name) in page  # in the layer control
    assert "TDHeatmap" in page and "markerClusterGroup" in page
    assert "/static/vendor/leader/leaflet.markercluster.js" in page
    assert external_urls(page) == []  # tiles off: nothing from any other host
    assert "cdn" not in page.lower()


def test_no_resident_data_and_small_counts_suppressed(leader, engine):
    page = _page(leader)
    with engine.connect() as conn:
        descriptions = conn.scalars(text("SELECT description FROM requests LIMIT 50")).all()
        names = conn.scalars(text("SELECT name FROM residents WHERE name IS NOT NULL LIMIT 50")).all()
    assert not any(d and d in page for d in descriptions)
    assert not any(n and len(n) > 1 and f'"{n}"' in page for n in names)
    for field in ("requester_name", "requester_phone", "household_id", "resident_id", "description"):
        assert f'"{field}"' not in page
    # every drawn count is "<5" or at least 5
    shown = re.findall(r'"shown": "([^"]+)"', page)
    assert all(s == "&lt;5" or int(s) >= 5 for s in shown)
    rates = re.findall(r'"(?:closure|overdue)": "([^"]+)"', page)
    assert rates
    for rate in rates:
        match = re.search(r"（(\d+)/(\d+)）", rate)
        assert match is None or int(match.group(2)) >= 5, rate
        assert match is not None or rate.startswith("&lt;5")
    # heat weights only (cells, not points): every heat point is a cell centre with weight in (0, 1]
    heat = json.loads(re.search(r"new TDHeatmap\((.*?), \{centres: ", page, re.S).group(1))
    weights = [p[1] for week in heat for p in week]
    assert weights and all(0 < w <= 1 for w in weights)


def test_category_filter_narrows_the_heat(leader):
    all_page = _page(leader)
    one = _page(leader, category="micro_wish")
    assert one != all_page
    assert "微心愿" in one


def test_community_secretary_sees_only_their_community(world, leader):
    (first_id, first_code), (second_id, _) = world["communities"][0], world["communities"][1]
    with _client(world, "community_secretary", [f"community:{first_code}"]) as client:
        page = _page(client)
        assert client.get("/maps/leader", params={"community_id": str(second_id)}).status_code == 404
        assert client.get("/maps/leader", params={"community_id": str(first_id)}).status_code == 200
    street_page = _page(leader)
    mine, all_codes = _grid_codes(page), _grid_codes(street_page)
    assert mine and mine < all_codes
    assert all(code.startswith(first_code) for code in mine)


def test_grid_worker_and_planner_refused(world):
    grid = "".join(world["communities"][0].code) + "001"
    with _client(world, "grid_worker", [f"grid:{grid}"]) as client:
        response = client.get("/maps/leader", follow_redirects=False)
        assert response.status_code == 403
    app = create_app(Settings(database_url=world["database_url"], tiles="none"))
    with TestClient(app) as anonymous:
        response = anonymous.get("/maps/leader", follow_redirects=False)
        assert response.status_code == 303 and "/login" in response.headers["location"]


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"from": "2026-13-01"}, 422, "from"),
        ({"to": "yesterday"}, 422, "to"),
        ({"from": "2026-05-01", "to": "2026-04-01"}, 422, "before"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, 422, "366"),
        ({"from": "0001-01-01", "to": "0001-01-02"}, 422, "1900"),
        ({"from": "9999-12-30", "to": "9999-12-31"}, 422, "1900"),
        ({"to": "9999-12-31"}, 422, "to"),
        ({"from": "", "to": ""}, 200, "TDHeatmap"),
        ({"category": "", "community_id": ""}, 200, "TDHeatmap"),
        ({"category": "no_such_thing"}, 400, "category"),
        ({"category": "x" * 500}, 400, "category"),
        ({"community_id": "abc"}, 400, "community_id"),
        ({"community_id": "99999999"}, 404, "community"),
        ({"community_id": "-3"}, 400, "community_id"),
    ],
)
def test_bad_parameters_are_4xx(leader, params, status, says):
    response = leader.get("/maps/leader", params=params)
    assert response.status_code == status, response.text[:300]
    assert says in response.text


def test_hostile_labels_are_text(leader, world):
    page = _page(leader) + _page(leader, category="hostile")  # a category with no request: empty heat, no hotspot
    assert HOSTILE_CATEGORY not in page and HOSTILE_GRID not in page
    assert "&lt;img src=x onerror=" in page and "&lt;script&gt;window.__pwned" in page


def test_page_is_kept_and_moves_with_the_cases(leader, engine):
    period = {"from": FROM, "to": TO}
    cache = leader.app.state.map_cache  # type: ignore[attr-defined]
    first = leader.get("/maps/leader", params=period)
    renders = cache.renders
    again = leader.get("/maps/leader", params=period, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and cache.renders == renders
    with engine.begin() as conn:  # a request changes state: the page is drawn anew
        conn.execute(text("UPDATE requests SET updated_at = now() WHERE id = (SELECT min(id) FROM requests)"))
    leader.get("/maps/leader", params=period)
    assert cache.renders == renders + 1
    leader.get("/maps/leader", params=period)
    assert cache.renders == renders + 1  # and kept again


def test_cli_writes_the_leader_map(world, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from api.cli import app

    out = tmp_path / "leader.html"
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", world["database_url"])
    monkeypatch.setenv("GRIDMAP_TILES", "none")
    result = CliRunner().invoke(app, ["leader-map", "--from", FROM, "--to", TO, "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert json.dumps("诉求热点（Gi* 显著）") in page and "TDHeatmap" in page
    assert "<form" not in page  # no filter form in a file
    bad = CliRunner().invoke(app, ["leader-map", "--category", "nope", "--out", str(out)])
    assert bad.exit_code != 0 and "category" in bad.output
