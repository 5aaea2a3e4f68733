"""`gridmap demo` on a new database: every map it writes, the 中心户 map included, and the API then serves every
map page (the 中心户 map used to be a JSON error because the demo never ran the assignment); one account per role,
whose passwords only the owner of the file can read."""

import stat

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app
from api.main import create_app
from api.settings import Settings

MAPS = (
    "overview.html",
    "coverage-elderly_care.html",
    "centers.html",
    "leader.html",
    "worker-demo-grid_worker.html",
)


def test_demo_writes_and_serves_every_map(empty_database, monkeypatch, tmp_path):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", empty_database)
    monkeypatch.setenv("GRIDMAP_OUTPUT_DIR", str(tmp_path))
    users_file = tmp_path / "private" / "demo-users.txt"
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--users-file", str(users_file)])
    assert result.exit_code == 0, result.output
    assert str(users_file) in result.output and stat.S_IMODE(users_file.stat().st_mode) == 0o600
    accounts = [line.split("\t") for line in users_file.read_text().splitlines() if not line.startswith("#")]
    assert sorted(role for _, role, _ in accounts) == sorted(
        ["admin", "street_leader", "community_secretary", "grid_worker", "party_member", "planner"]
    )
    for name in MAPS:
        assert (tmp_path / name).stat().st_size > 100_000, name
        assert f"map written: {tmp_path / name}" in result.output
    assert "assigned in" in result.output and "uncovered=" in result.output
    with TestClient(create_app(Settings(database_url=empty_database, tiles="none"))) as client:
        for page in ("/maps/overview", "/maps/coverage?service_type=elderly_care&profile=elderly", "/maps/centers"):
            response = client.get(page)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/html"), page
        for login, role, password in accounts:
            token = client.post("/auth/token", data={"username": login, "password": password}).json()["access_token"]
            me = client.get("/me", headers={"Authorization": f"Bearer {token}"}).json()
            assert me["login"] == login and me["role"] == role and (me["scopes"] != []) == (role != "admin")
            if role == "street_leader":  # the leader map of the demo's year of requests, for the street's leader
                leader = client.get("/maps/leader", headers={"Authorization": f"Bearer {token}"})
                assert leader.status_code == 200 and "TDHeatmap" in leader.text
