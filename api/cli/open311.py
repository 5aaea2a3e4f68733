"""`gridmap open311-partners add | list | revoke`: the partner apps that post residents' requests through Open311.

`add` prints the new api_key once: gridmap keeps only its SHA-256, so a lost key is revoked and a new partner made.
Every refusal is one line, exit code 2, and stores nothing."""

from typing import Annotated

import typer

from api.cli.common import engine, fail
from api.errors import InvalidParameter


def add(name: Annotated[str, typer.Argument(help="The partner app's name (e.g. 'resident-miniprogram')")]) -> None:
    """Make a partner and print its api_key (shown this once)."""
    from api.open311.partners import add_partner  # lazy: see api/cli/__init__.py

    try:
        key = add_partner(engine(), name)
    except InvalidParameter as exc:
        fail(f"{exc}; nothing was stored")
    typer.echo(f"partner added: {name.strip()}")
    typer.echo(f"api_key (shown once, keep it secret): {key}")


def list_partners() -> None:
    """Every partner: name, when made, revoked or not, requests posted."""
    from api.open311.partners import list_partners as partners  # lazy: see api/cli/__init__.py

    rows = partners(engine())
    for row in rows:
        revoked = "revoked " + row["revoked_at"].date().isoformat() if row["revoked_at"] else "active"
        typer.echo(f"{row['name']}\t{row['created_at'].date().isoformat()}\t{revoked}\t{row['posted']} request(s)")
    typer.echo(f"{len(rows)} partner(s)")


def revoke(name: Annotated[str, typer.Argument(help="The partner app's name")]) -> None:
    """Revoke a partner's api_key at once (the requests it posted stay)."""
    from api.open311.partners import revoke_partner  # lazy: see api/cli/__init__.py

    try:
        revoke_partner(engine(), name)
    except InvalidParameter as exc:
        fail(str(exc))
    typer.echo(f"api_key revoked: {name}")
