"""`gridmap sample` with its year of field work: ending on the day asked for, left out with --no-history, and a
day that is not one refused in one line before anything is generated."""

from sqlalchemy import text
from typer.testing import CliRunner

from api.cli import app
from tests.conftest import empty_tables


def test_the_sample_comes_with_a_year_of_field_work_up_to_the_day_asked(engine, database_url, monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", database_url)
    empty_tables(engine)
    try:
        result = CliRunner().invoke(app, ["sample", "--scale", "0.1", "--until", "2026-01-15"])
        assert result.exit_code == 0, result.output
        loaded = dict(part.split("=") for part in result.output.split("loaded: ")[1].strip().split(", "))
        with engine.connect() as conn:
            visits, last = conn.execute(text("SELECT count(*), max(visited_at) FROM visits")).one()
            requests = conn.scalar(text("SELECT count(*) FROM requests WHERE source = 'sample'"))
        assert int(loaded["visits"]) == visits > 0 and int(loaded["requests"]) == requests > 0
        assert last.isoformat() < "2026-01-14T16:00:00+00:00"  # before 2026-01-15 00:00 in China
        result = CliRunner().invoke(app, ["sample", "--scale", "0.1", "--no-history"])
        assert result.exit_code == 0 and "visits=" not in result.output
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM visits")) == visits  # left as it was
    finally:
        empty_tables(engine)


def test_a_day_that_is_not_one_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", "postgresql+psycopg2://nobody@127.0.0.1:1/none")  # never reached
    result = CliRunner().invoke(app, ["sample", "--until", "2026-02-30"])
    assert result.exit_code == 2 and "'2026-02-30' is not a day (YYYY-MM-DD)" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
