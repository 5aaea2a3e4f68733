"""`gridmap import-residents`: a community's register of residents (花名册, XLSX or CSV) into the database.

Prints counts only: never a name, phone or ID number (a refusal names rows, columns and addresses).
"""

import re
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import engine, fail, hash_key

COMMUNITY_CODE = re.compile(r"[0-9]{12}")


def import_residents(
    path: Annotated[Path, typer.Argument(help="The register: XLSX, or CSV in UTF-8 or GB18030")],
    community: Annotated[
        str, typer.Option(help="The community's 12-digit code: the street's 9 digits + the community's 3")
    ],
    keep_id_numbers: Annotated[
        bool, typer.Option("--keep-id-numbers", help="Store ID numbers in clear too (else only hashed and masked)")
    ] = False,
    sheet: Annotated[str | None, typer.Option(help="The workbook's sheet to read (default: the first)")] = None,
) -> None:
    """Store a community's residents, each linked to its household by 楼栋, 单元 and 房号; all or nothing."""
    from api.errors import GridmapError  # lazy: see api/cli/__init__.py
    from api.residents import read_register
    from api.storage.resident_imports import store_register

    if not COMMUNITY_CODE.fullmatch(community):
        fail(f"--community is the community's 12-digit code (street code + community code); got {community[:40]!r}")
    key = hash_key()
    db = engine()
    try:
        register = read_register(path, key=key, keep_id_number=keep_id_numbers, sheet=sheet)
        result = store_register(
            db, register.residents, community_code=community, file_name=path.name, keep_id_number=keep_id_numbers
        )
    except GridmapError as exc:  # a register refused, households or the community not found
        fail(f"{exc.detail} (nothing was stored)")
    if register.ignored_columns:
        typer.echo(f"  columns ignored: {', '.join(register.ignored_columns)}")
    typer.echo(
        f"imported: residents={result.rows} inserted={result.inserted} updated={result.updated} "
        f"unchanged={result.unchanged} moved={result.moved}"
    )
    if result.moved:
        typer.echo(f"  moved: {result.moved} had their ID number stored under another source; they are this one's now")
    if result.not_in_file:
        typer.echo(f"  kept: {result.not_in_file} from an earlier register of this community are not in this file")
