"""`gridmap users …`: accounts made, listed, disabled and reset; every refusal one line, exit code 2, nothing
stored; passwords only from standard input and never echoed; the demo's accounts."""

import os
import stat

import pytest
from typer.testing import CliRunner

from api.accounts.sessions import sign_in
from api.cli import app
from api.cli.users import demo_users
from api.errors import NotAuthenticated
from tests.api.accounts.helpers import COMMUNITY, GRID, PASSWORD, STREET, count, load_places, settings_for
from tests.conftest import sample_loaded


@pytest.fixture
def places(clean_db, database_url, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    load_places(clean_db)
    return clean_db


def run(*args: str, password: str | None = PASSWORD):
    return CliRunner().invoke(app, ["users", *args], input=None if password is None else password + "\n")


def _sign_in(engine, database_url, login: str, password: str = PASSWORD):
    settings = settings_for(database_url)
    return sign_in(
        engine, settings, login=login, password=password, address="cli-test", user_agent=None, kind="refresh"
    )


def test_add_and_list(places):
    added = [
        run("add", "Wang.Fang", "--role", "grid_worker", "--scope", f"grid:{GRID}", "--password-stdin"),
        run("add", "boss", "--role", "admin", "--password-stdin"),
        run(
            "add",
            "planner",
            "--role",
            "planner",
            "--scope",
            f"street:{STREET}",
            "--scope",
            f"community:{COMMUNITY}",
            "--password-stdin",
        ),  # fmt: skip
        run("add", "张三", "--role", "community_secretary", "--scope", f"community:{COMMUNITY}", "--password-stdin"),
        run("add", "<script>x</script>", "--role", "admin", "--password-stdin"),  # data, like any other name
    ]
    for result in added:
        assert result.exit_code == 0, result.output
        assert PASSWORD not in result.output
    listing = run("list", password=None)
    assert listing.exit_code == 0
    lines = listing.output.splitlines()
    assert lines[0].split() == ["login", "role", "scopes", "disabled"]
    assert any(line.split() == ["Wang.Fang", "grid_worker", f"grid:{GRID}", "no"] for line in lines)
    assert any(
        line.split() == ["planner", "planner", f"community:{COMMUNITY}", f"street:{STREET}", "no"] for line in lines
    )
    assert any(line.split() == ["<script>x</script>", "admin", "-", "no"] for line in lines)
    assert any(line.startswith("张三") for line in lines) and lines[-1] == "5 user(s)"
    assert "argon2" not in listing.output
    assert _sign_in(places, places.url.render_as_string(False), "wang.fang").role == "grid_worker"


@pytest.mark.parametrize(
    ("args", "password", "words"),
    [
        (["x1", "--role", "root"], PASSWORD, "unknown role 'root'"),
        (["x1", "--role", "grid_worker", "--scope", f"grid-{GRID}"], PASSWORD, "LEVEL:CODE"),
        (["x1", "--role", "grid_worker", "--scope", "district:110105"], PASSWORD, "LEVEL:CODE"),
        (["x1", "--role", "grid_worker", "--scope", "grid:abc"], PASSWORD, "digits"),
        (["x1", "--role", "grid_worker", "--scope", "grid:110105001001999"], PASSWORD, "grid:110105001001999"),
        (["x1", "--role", "community_secretary", "--scope", "community:001"], PASSWORD, "12-digit"),
        (["x1", "--role", "grid_worker"], PASSWORD, "needs at least one --scope grid:CODE"),
        (["x1", "--role", "street_leader", "--scope", f"grid:{GRID}"], PASSWORD, "holds street scopes"),
        (["x1", "--role", "admin", "--scope", f"street:{STREET}"], PASSWORD, "holds no scopes"),
        (["x1", "--role", "party_member", "--scope", f"grid:{GRID}", "--center-household", "999"], PASSWORD, "999"),
        (
            ["x1", "--role", "grid_worker", "--scope", f"grid:{GRID}", "--center-household", "1"],
            PASSWORD,
            "party_member",
        ),
        (["x1", "--role", "admin"], "short", "at least 10 characters"),
        (["x1", "--role", "admin"], "", "at least 10 characters"),
        (["exists", "--role", "admin"], PASSWORD, "is taken"),
        (["EXISTS", "--role", "admin"], PASSWORD, "is taken"),
        (["x" * 65, "--role", "admin"], PASSWORD, "at most 64"),
        (["two words", "--role", "admin"], PASSWORD, "no spaces"),
        (["tab\there", "--role", "admin"], PASSWORD, "no spaces"),
    ],
)
def test_add_refusals(places, args, password, words):
    assert run("add", "exists", "--role", "admin", "--password-stdin").exit_code == 0
    before = count(places, "users"), count(places, "user_scopes")
    result = run("add", *args, "--password-stdin", password=password)
    assert result.exit_code == 2 and words in result.output, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: ") and "Traceback" not in result.output
    assert (count(places, "users"), count(places, "user_scopes")) == before
    assert password == "" or password not in result.output


def test_the_password_never_comes_from_a_pipe_without_password_stdin(places):
    result = run("add", "x1", "--role", "admin")  # standard input is not a terminal in the runner
    assert result.exit_code == 2 and "--password-stdin" in result.output and PASSWORD not in result.output
    assert count(places, "users") == 0
    assert run("reset", "x1").exit_code == 2


def test_disable_ends_sessions_and_sign_in(places):
    url = places.url.render_as_string(False)
    assert run("add", "li", "--role", "grid_worker", "--scope", f"grid:{GRID}", "--password-stdin").exit_code == 0
    _sign_in(places, url, "li")
    _sign_in(places, url, "li")
    result = run("disable", "LI", password=None)
    assert result.exit_code == 0 and "2 session(s) ended" in result.output
    with pytest.raises(NotAuthenticated):
        _sign_in(places, url, "li")
    assert "yes" in [line for line in run("list", password=None).output.splitlines() if line.startswith("li ")][0]
    unknown = run("disable", "nobody", password=None)
    assert unknown.exit_code == 2 and "'nobody'" in unknown.output


def test_reset_changes_the_password_and_ends_sessions(places):
    url = places.url.render_as_string(False)
    assert run("add", "zhao", "--role", "admin", "--password-stdin").exit_code == 0
    _sign_in(places, url, "zhao")
    refused = run("reset", "zhao", "--password-stdin", password="short")
    assert refused.exit_code == 2 and "at least 10" in refused.output
    _sign_in(places, url, "zhao")  # the refused reset changed nothing
    result = run("reset", "zhao", "--password-stdin", password="a brand new password")
    assert result.exit_code == 0 and "2 session(s) ended" in result.output
    assert "a brand new password" not in result.output
    with pytest.raises(NotAuthenticated):
        _sign_in(places, url, "zhao")
    assert _sign_in(places, url, "zhao", "a brand new password").login == "zhao"
    assert run("reset", "nobody", "--password-stdin").exit_code == 2


def test_demo_users_are_reset_on_a_second_run(engine, database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    path = tmp_path / "demo-users.txt"
    path.write_text("old\n")
    os.chmod(path, 0o644)  # a file left readable by others is made private again
    with sample_loaded(engine):
        demo_users(path)
        first = {line.split("\t")[0]: line.split("\t")[2] for line in path.read_text().splitlines()[1:]}
        demo_users(path)
        second = {line.split("\t")[0]: line.split("\t")[2] for line in path.read_text().splitlines()[1:]}
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert set(first) == set(second) and len(second) == 6
        assert all(first[login] != second[login] for login in first)
        member = _sign_in(engine, database_url, "demo-party_member", second["demo-party_member"])
        assert member.role == "party_member"
        with pytest.raises(NotAuthenticated):
            _sign_in(engine, database_url, "demo-admin", first["demo-admin"])
        listing = run("list", password=None).output
        assert "中心户:" in listing  # the sample's first grid has a 中心户 for the party member


def test_serve_refuses_a_placeholder_key_in_production(database_url, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    monkeypatch.setenv("GRIDMAP_ENVIRONMENT", "production")
    monkeypatch.setenv("GRIDMAP_SECRET_KEY", "change-me")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2 and "GRIDMAP_SECRET_KEY is shorter than 32 bytes" in result.output
    assert result.output.count("\n") == 1 and "gridmap API:" not in result.output
