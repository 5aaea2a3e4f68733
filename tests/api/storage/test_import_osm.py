"""`gridmap import-osm` on the real extracts in ../shared/data, into a real PostGIS."""

import re

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from api.storage import layers
from tests.conftest import need_shared_data

# Whole-file reference counts from ../shared/data/README.md.
REFERENCE = {
    "zhuhai-xiangzhou.osm": (181.18, 358),
    "zhuhai-xiangzhou.osm.pbf": (181.18, 358),
    "beijing-wangjing.osm": (83.17, 226),
}
LAST_LINE = re.compile(r"^imported: walkable_km=([0-9.]+) buildings=(\d+) service_points=(\d+)$")


def run_cli(database_url: str, *args: str):
    return CliRunner().invoke(app, list(args), env={"GRIDMAP_DATABASE_URL": database_url})


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return layers.count_rows(conn)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_import_prints_reference_counts_and_is_idempotent(clean_db, database_url, name):
    path = need_shared_data() / "osm" / name
    first = run_cli(database_url, "import-osm", str(path))
    assert first.exit_code == 0, first.output
    km, buildings, service_points = LAST_LINE.match(first.output.strip().splitlines()[-1]).groups()
    ref_km, ref_buildings = REFERENCE[name]
    assert abs(float(km) - ref_km) <= 0.02 * ref_km
    assert abs(int(buildings) - ref_buildings) <= 0.02 * ref_buildings
    after_first = counts(clean_db)
    assert after_first["buildings"] == int(buildings)
    assert after_first["service_points"] == int(service_points)
    with clean_db.connect() as conn:
        stored_km = conn.scalar(text("SELECT sum(length_m) / 1000 FROM walk_edges"))
        lost = conn.scalar(text("SELECT count(*) FROM walk_edges WHERE source_node IS NULL OR target_node IS NULL"))
    assert abs(stored_km - float(km)) < 0.01 and lost == 0

    second = run_cli(database_url, "import-osm", str(path))
    assert second.exit_code == 0, second.output
    assert counts(clean_db) == after_first


def test_osm_and_pbf_of_one_area_share_rows(clean_db, database_url):
    osm = need_shared_data() / "osm"
    assert run_cli(database_url, "import-osm", str(osm / "zhuhai-xiangzhou.osm")).exit_code == 0
    once = counts(clean_db)
    assert run_cli(database_url, "import-osm", str(osm / "zhuhai-xiangzhou.osm.pbf")).exit_code == 0
    assert counts(clean_db) == once


@pytest.mark.parametrize(
    ("content", "name"),
    [(b"", "empty.osm"), (b"\x00\x01garbage\xff" * 50, "garbage.osm.pbf"), (b"<osm version='0.6'><node", "cut.osm")],
)
def test_bad_file_is_refused_and_database_unchanged(clean_db, database_url, tmp_path, content, name):
    osm = need_shared_data() / "osm"
    assert run_cli(database_url, "import-osm", str(osm / "beijing-wangjing.osm")).exit_code == 0
    before = counts(clean_db)
    bad = tmp_path / name
    bad.write_bytes(content)
    result = run_cli(database_url, "import-osm", str(bad))
    assert result.exit_code == 2
    assert name in result.output
    assert counts(clean_db) == before


def test_missing_file_is_refused(clean_db, database_url, tmp_path):
    result = run_cli(database_url, "import-osm", str(tmp_path / "nowhere.osm.pbf"))
    assert result.exit_code == 2 and "nowhere.osm.pbf" in result.output
