"""The four ledgers (四本台账) as XLSX workbooks: 承诺 (commitments), 践诺 (fulfilment), 困难群众帮扶 (hardship
households and help given), 意见诉求 (residents' opinions and requests). Pure: the records come from
api.storage.ledgers; docs/fieldwork.md lists each ledger's columns."""

from datetime import date
from typing import Any

from api.ledgers.periods import CHINA, MAX_DAYS, Period, china_local, china_today, period
from api.ledgers.sheets import LEDGER_NAMES, LEDGERS, Ledger, ledger_rows
from api.ledgers.workbook import Column, build_workbook, safe_text

__all__ = [
    "CHINA",
    "LEDGERS",
    "LEDGER_NAMES",
    "MAX_DAYS",
    "Column",
    "Ledger",
    "Period",
    "build_workbook",
    "china_local",
    "china_today",
    "ledger_workbook",
    "period",
    "safe_text",
]


def ledger_workbook(
    name: str, place: str, span: Period, records: list[dict[str, Any]], *, unmasked: bool, today: date
) -> bytes:
    """The ledger `name` of `place` (its name, as the title shows it) over `span`, as XLSX bytes."""
    ledger = LEDGERS[name]
    title = f"{place} {ledger.title}（{span.label()}）"
    rows = ledger_rows(name, records, unmasked=unmasked, today=today)
    return build_workbook(title, ledger.sheet, ledger.columns, rows)
