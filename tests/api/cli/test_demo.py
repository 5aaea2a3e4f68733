"""`gridmap demo` on a new database: every map it writes, the 中心户 map included, and the API then serves every
map page (the 中心户 map used to be a JSON error because the demo never ran the assignment)."""

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app
from api.main import create_app
from api.settings import Settings

MAPS = ("overview.html", "coverage-elderly_care.html", "centers.html")


def test_demo_writes_and_serves_every_map(empty_database, monkeypatch, tmp_path):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", empty_database)
    monkeypatch.setenv("GRIDMAP_OUTPUT_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    for name in MAPS:
        assert (tmp_path / name).stat().st_size > 100_000, name
        assert f"map written: {tmp_path / name}" in result.output
    assert "assigned in" in result.output and "uncovered=" in result.output
    with TestClient(create_app(Settings(database_url=empty_database, tiles="none"))) as client:
        for page in ("/maps/overview", "/maps/coverage?service_type=elderly_care&profile=elderly", "/maps/centers"):
            response = client.get(page)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/html"), page
