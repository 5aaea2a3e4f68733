"""Commands that need gridmap's tables say in one line what to run when the database lacks them, instead of a
traceback from the first query (a new user pointing GRIDMAP_DATABASE_URL at a new empty database)."""

import os

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from api.cli import app
from api.storage import database, migrate

MINIMAL_OSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6">
  <node id="1" lat="22.27" lon="113.55"/><node id="2" lat="22.271" lon="113.551"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way>
</osm>
"""


def _run(url: str, monkeypatch, *args: str):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", url)
    return CliRunner().invoke(app, list(args))


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_import_osm_on_an_empty_database_says_to_run_db_init(empty_database, monkeypatch, tmp_path):
    osm = tmp_path / "tiny.osm"
    osm.write_text(MINIMAL_OSM)
    line = _one_line_error(_run(empty_database, monkeypatch, "import-osm", str(osm)))
    assert "no gridmap tables" in line and "`gridmap db init`" in line and "compounds" not in line


@pytest.mark.parametrize(
    "args",
    [
        ["refresh-coverage"],
        ["coverage-map"],
        ["assign-centers"],
        ["centers-map"],
        ["check-grids"],
        ["partition-grids", "1"],
        ["overview-map"],
        ["sample", "--scale", "0.1"],
    ],
)
def test_every_command_that_needs_the_schema_says_so(empty_database, monkeypatch, tmp_path, args):
    monkeypatch.setenv("GRIDMAP_OUTPUT_DIR", str(tmp_path))
    line = _one_line_error(_run(empty_database, monkeypatch, *args))
    assert "`gridmap db init`" in line


def test_an_older_schema_says_to_migrate(empty_database, monkeypatch):
    database.create_extensions(empty_database)
    migrate.upgrade(empty_database, "0003")
    line = _one_line_error(_run(empty_database, monkeypatch, "check-grids"))
    assert "at migration 0003" in line and "`gridmap db init`" in line


def test_a_missing_database_is_one_line(database_url, monkeypatch):
    url = make_url(database_url).set(database=f"gridmap_test_{os.getpid()}_absent").render_as_string(False)
    line = _one_line_error(_run(url, monkeypatch, "check-grids"))
    assert "does not exist" in line and "`gridmap db init`" in line


def test_after_db_init_the_command_runs(empty_database, monkeypatch):
    assert _run(empty_database, monkeypatch, "db", "init").exit_code == 0
    result = _run(empty_database, monkeypatch, "check-grids")
    assert result.exit_code == 0 and "checked: grids=0" in result.output, result.output
