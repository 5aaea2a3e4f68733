"""`gridmap users add | list | disable | reset`: accounts, their role and places, their passwords.

A password is read from standard input (--password-stdin) or typed at a hidden prompt, never given on the command
line, where other users of the machine and the shell history would see it. Every refusal is one line, exit code 2,
and stores nothing."""

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import engine, fail
from api.errors import AccountError
from api.settings import PROJECT_ROOT

PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input (one line)")
]


def read_password(from_stdin: bool) -> str:
    """The password from standard input, else from a hidden prompt at a terminal; refused otherwise (a password
    piped in without --password-stdin is likely a mistake worth stopping at)."""
    if from_stdin:
        text = sys.stdin.readline()
        return text.removesuffix("\n").removesuffix("\r")
    if sys.stdin.isatty():
        return typer.prompt("password", hide_input=True, confirmation_prompt=True)
    fail("give the password on standard input with --password-stdin (standard input is not a terminal)")


def add(
    login: Annotated[str, typer.Argument(help="Login (at most 64 characters, no spaces; case does not matter)")],
    role: Annotated[
        str, typer.Option(help="admin | street_leader | community_secretary | grid_worker | party_member | planner")
    ],
    scope: Annotated[
        list[str] | None,
        typer.Option(help="LEVEL:CODE, repeatable: street:110105001, community:110105001001, grid:110105001001001"),
    ] = None,
    center_household: Annotated[
        int | None, typer.Option("--center-household", help="A party member's 中心户 (center household id)")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create an account with one role and the places it covers."""
    from api.accounts.users import add_user  # lazy: see api/cli/__init__.py

    password = read_password(password_stdin)
    db = engine()
    try:
        add_user(db, login, role=role, scopes=scope or [], password=password, center_household_id=center_household)
    except AccountError as exc:
        fail(f"{exc}; nothing was stored")
    typer.echo(f"user added: {login} ({role})")


def list_users() -> None:
    """Every account: login, role, scopes, disabled."""
    from api.accounts.users import list_accounts  # lazy: see api/cli/__init__.py

    accounts = list_accounts(engine())
    rows = [("login", "role", "scopes", "disabled")]
    for a in accounts:
        scopes = " ".join(a.scopes) + (f" 中心户:{a.center_household_id}" if a.center_household_id else "")
        rows.append((a.login, a.role, scopes or "-", "yes" if a.disabled else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])
    typer.echo(f"{len(accounts)} user(s)")


def disable(login: Annotated[str, typer.Argument(help="Login of the account")]) -> None:
    """Disable an account: it cannot sign in, and its sessions and tokens stop working at once."""
    from api.accounts.users import disable_user  # lazy: see api/cli/__init__.py

    try:
        ended = disable_user(engine(), login)
    except AccountError as exc:
        fail(str(exc))
    typer.echo(f"user disabled: {login} ({ended} session(s) ended)")


def reset(
    login: Annotated[str, typer.Argument(help="Login of the account")], password_stdin: PasswordStdin = False
) -> None:
    """Set a new password; the account's sessions end."""
    from api.accounts.users import reset_password  # lazy: see api/cli/__init__.py

    password = read_password(password_stdin)
    try:
        ended = reset_password(engine(), login, password)
    except AccountError as exc:
        fail(f"{exc}; nothing was stored")
    typer.echo(f"password reset: {login} ({ended} session(s) ended)")


DEMO_USERS_FILE = PROJECT_ROOT / ".gridmap" / "demo-users.txt"
DEMO_ROLES = ("admin", "street_leader", "community_secretary", "grid_worker", "party_member", "planner")


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only its owner can read or write (0600), also when it existed with a wider mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(text)


def demo_users(path: Path) -> None:
    """One account of each role (demo-admin, demo-street_leader, …) on the first grid, its community and street,
    with new random passwords written to `path` (0600). Run again, it resets them: the file always holds the
    passwords that work."""
    import secrets

    from api.accounts.users import first_places, put_user  # lazy: see api/cli/__init__.py

    db = engine()
    places = first_places(db)
    if places is None:
        fail("no grid with a community and a street is stored: the demo accounts need one")
    scopes = {
        "admin": [],
        "street_leader": [("street", places["street"])],
        "community_secretary": [("community", places["community"])],
        "grid_worker": [("grid", places["grid"])],
        "party_member": [("grid", places["grid"])],
        "planner": [("street", places["street"])],
    }
    lines = ["# gridmap demo accounts: login, role, password (sign in at /login). Made again by `gridmap demo`."]
    for role in DEMO_ROLES:
        login, password = f"demo-{role}", secrets.token_urlsafe(12)
        center = places["center_household_id"] if role == "party_member" else None
        put_user(db, login, role=role, scopes=scopes[role], password=password, center_household_id=center)
        lines.append(f"{login}\t{role}\t{password}")
    write_private(path, "\n".join(lines) + "\n")
    typer.echo(f"demo accounts ({len(DEMO_ROLES)}, one per role) and their passwords: {path} (readable by you only)")


def allow_unmasked(
    login: Annotated[str, typer.Argument(help="Login of the account")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the permission back")] = False,
) -> None:
    """Let the account read residents' names, phones and ID numbers unmasked (each read states a reason and is
    audited), or take that back with --revoke."""
    from api.accounts.users import allow_unmasked as allow  # lazy: see api/cli/__init__.py

    try:
        allow(engine(), login, not revoke)
    except AccountError as exc:
        fail(f"{exc}; nothing was changed")
    typer.echo(f"{login}: unmasked reads {'not allowed' if revoke else 'allowed'}")
