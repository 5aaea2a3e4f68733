"""A ledger (四本台账) of a stored place: read, audited, built as XLSX. Shared by GET /ledgers/{name}.xlsx (a
signed-in user, under their scope) and `gridmap ledger` (the operator, under gridmap's own scope).

A ledger holds personal data, so each download is written to the audit log in the transaction that read it: who,
the ledger, place and period, and the ids of the rows it holds (ids only). A place outside the user's own is
answered as one that is not stored (404, same text)."""

from dataclasses import dataclass

from api.access import Place, in_places, managed_grids
from api.accounts.roles import Principal
from api.errors import NotFound
from api.ledgers import Period, china_today, ledger_workbook
from api.storage import SYSTEM, Connection, Engine, transaction, user_scope
from api.storage import ledgers as ledgers_db
from api.storage.audit import record
from api.storage.places import place_id_by_code

COMMAND_LINE = "(command line)"
# The table each ledger's rows come from (the fulfilment ledger: a row's kind says which).
ROW_TABLES = {"commitments": "commitments", "hardship": "households", "requests": "requests"}


@dataclass(frozen=True)
class LedgerFile:
    content: bytes
    rows: int
    filename: str  # ASCII: ledger, place code and period


def place_grids_of(conn: Connection, kind: Place, code: str, principal: Principal | None) -> tuple[int, list[int]]:
    """The id and grids of the place a code names, if stored and (with a user) wholly within their places: a
    street of which a secretary has one community is not theirs (its ledger would be titled for the street and
    hold one community). Else 404, worded the same either way."""
    place_id = place_id_by_code(conn, kind, code)
    grids = [] if place_id is None else ledgers_db.place_grids(conn, kind, place_id)
    if place_id is not None and principal is not None:
        mine = managed_grids(conn, principal)
        if not in_places(conn, principal, kind, place_id) or (mine is not None and not set(grids) <= mine):
            place_id = None
    if place_id is None:
        raise NotFound(f"no {kind} {code}")
    return place_id, grids


def _row_ids(name: str, records: list[dict]) -> dict[str, list[int]]:
    if name == "fulfilment":
        ids: dict[str, list[int]] = {"commitments": [], "requests": []}
        for r in records:
            ids["commitments" if r["kind"] == "commitment" else "requests"].append(int(r["id"]))
        return ids
    return {ROW_TABLES[name]: [int(r["id"]) for r in records]}


def export_ledger(
    engine: Engine,
    name: str,
    kind: Place,
    code: str,
    span: Period,
    *,
    principal: Principal | None = None,
    unmasked: bool = False,
    reason: str | None = None,
) -> LedgerFile:
    """Ledger `name` of the place `kind` `code` over `span`, audited; `principal` None: the command line."""
    scope = SYSTEM if principal is None else user_scope(principal.user_id)
    with transaction(engine, scope=scope) as conn:
        place_id, grids = place_grids_of(conn, kind, code, principal)
        place = ledgers_db.place_name(conn, kind, place_id)
        records = ledgers_db.ledger_records(conn, name, grids, span.start, span.end)
        detail = {
            "ledger": name,
            "place": f"{kind}:{code}",
            "from": span.first.isoformat(),
            "to": span.last.isoformat(),
            "rows": len(records),
        }
        for table, ids in _row_ids(name, records).items():
            record(
                conn,
                user_id=None if principal is None else principal.user_id,
                login=COMMAND_LINE if principal is None else principal.login,
                action="read_unmasked" if unmasked else "export",
                object_table=table,
                object_ids=ids,
                reason=reason,
                detail=detail,
            )
    content = ledger_workbook(name, place, span, records, unmasked=unmasked, today=china_today())
    filename = f"{name}_{code}_{span.first.isoformat()}_{span.last.isoformat()}.xlsx"
    return LedgerFile(content, len(records), filename)
