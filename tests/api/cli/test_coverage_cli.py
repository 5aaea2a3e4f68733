"""`gridmap coverage` file mode on the real Zhuhai extract: the CSV contract, and the map."""

import json

import pandas as pd
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import need_shared_data

SERVICES = [  # written down here: OSM has few service points (../shared/data/README.md)
    ("e1", "elderly_care", "梅华养老服务站", 113.530, 22.272),
    ("e2", "elderly_care", "翠香日间照料中心", 113.545, 22.280),
    ("c1", "clinic", "社区卫生服务站", 113.538, 22.276),
    ("far", "clinic", "海上诊所", 113.600, 22.200),  # far from every road: reaches nobody
]


def write_services(path) -> None:
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [lon, lat]},
            "properties": {"id": i, "type": t, "name": n},
        }
        for i, t, n, lon, lat in SERVICES
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))


def test_coverage_csv_and_map(tmp_path):
    osm = need_shared_data() / "osm" / "zhuhai-xiangzhou.osm.pbf"
    services = tmp_path / "services.geojson"
    write_services(services)
    out, page = tmp_path / "result.csv", tmp_path / "result.html"
    result = CliRunner().invoke(
        app,
        ["coverage", "--osm", str(osm), "--services", str(services), "--out", str(out), "--profile", "elderly",
         "--map", str(page), "--map-type", "elderly_care"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"service_id": str})
    assert list(table.columns) == [
        "building_id", "service_type", "service_id", "walk_m", "walk_min", "covered_5", "covered_10", "covered_15",
    ]  # fmt: skip
    assert len(table) == 358 * 2  # every building × both types
    assert table["building_id"].str.fullmatch(r"(way|relation)/\d+").all()
    assert "far" not in set(table["service_id"].dropna())
    reached = table.dropna(subset=["walk_m"])
    assert (reached["walk_min"] - reached["walk_m"] / 0.8 / 60).abs().max() < 0.01
    assert (reached["covered_15"] == (reached["walk_m"] <= 15 * 60 * 0.8)).all()
    unreached = table[table["walk_m"].isna()]
    assert unreached["service_id"].isna().all() and not unreached["covered_15"].any()
    html = page.read_text()
    assert "OpenStreetMap" in html and "cdn.jsdelivr" not in html


def test_coverage_refuses_unknown_profile_and_bad_services(tmp_path):
    osm = need_shared_data() / "osm" / "zhuhai-xiangzhou.osm.pbf"
    bad = tmp_path / "services.geojson"
    no_geometry = {"type": "Feature", "geometry": None, "properties": {"id": "x", "type": "clinic"}}
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [no_geometry]}))
    runner = CliRunner()
    out = str(tmp_path / "r.csv")
    profile = runner.invoke(
        app, ["coverage", "--osm", str(osm), "--services", str(bad), "--out", out, "--profile", "fast"]
    )
    assert profile.exit_code == 2 and "--profile" in profile.output
    services = runner.invoke(app, ["coverage", "--osm", str(osm), "--services", str(bad), "--out", out])
    assert services.exit_code == 2 and "services.geojson" in services.output
