"""`gridmap ledger`: one of the four ledgers (四本台账) of a street, community or grid over a period, as XLSX.

The code the API runs (api.stored_ledgers), under gridmap's own scope; the export is audited as the command line's.
Prints the file and its row count, nothing personal.
"""

import re
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import engine, fail

DIGITS = {"street": 9, "community": 12, "grid": 15}
NAMES = ("commitments", "fulfilment", "hardship", "requests")


def _day(option: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} is a day YYYY-MM-DD; got {value[:40]!r}")


def ledger_command(
    name: Annotated[
        str, typer.Argument(help="commitments (承诺), fulfilment (践诺), hardship (困难群众帮扶), requests (意见诉求)")
    ],
    first: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (China time)")],
    last: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD, inclusive; at most 366 days")],
    out: Annotated[Path, typer.Option("-o", "--out", help="The XLSX file to write")],
    community: Annotated[str | None, typer.Option(help="A community's 12-digit code")] = None,
    street: Annotated[str | None, typer.Option(help="A street's 9-digit code")] = None,
    grid: Annotated[str | None, typer.Option(help="A grid's 15-digit code")] = None,
) -> None:
    """Write a ledger of one place over a period as XLSX with Chinese headers (names masked)."""
    from api.errors import GridmapError  # lazy: see api/cli/__init__.py
    from api.ledgers import period
    from api.stored_ledgers import export_ledger

    if name not in NAMES:
        fail(f"unknown ledger {name[:40]!r}; one of {', '.join(NAMES)}")
    places = [(k, c) for k, c in (("community", community), ("street", street), ("grid", grid)) if c is not None]
    if len(places) != 1:
        fail("give exactly one of --community, --street, --grid")
    kind, code = places[0]
    if not re.fullmatch(f"[0-9]{{{DIGITS[kind]}}}", code):
        fail(f"--{kind} is the {kind}'s {DIGITS[kind]}-digit code; got {code[:40]!r}")
    try:
        span = period(_day("--from", first), _day("--to", last))
        ledger = export_ledger(engine(), name, kind, code, span)  # type: ignore[arg-type]
    except GridmapError as exc:
        fail(exc.detail)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(ledger.content)
    typer.echo(f"ledger written: {out} ({ledger.rows} rows)")
