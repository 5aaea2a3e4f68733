"""The period a ledger or a KPI covers: whole days in China time (Asia/Shanghai), from the first to the last day
inclusive, at most a year (366 days: a leap year's ledger)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from api.errors import InvalidPeriod

CHINA = ZoneInfo("Asia/Shanghai")
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    first: date  # the first day, inclusive
    last: date  # the last day, inclusive

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start(self) -> datetime:
        """Midnight at the start of the first day, China time."""
        return datetime.combine(self.first, time(), CHINA)

    @property
    def end(self) -> datetime:
        """Midnight after the last day, China time (exclusive)."""
        return datetime.combine(self.last + timedelta(days=1), time(), CHINA)

    def label(self) -> str:
        return f"{self.first.isoformat()} 至 {self.last.isoformat()}"


def period(first: date, last: date) -> Period:
    """The period from `first` to `last`; refused (naming the problem) when it ends before it starts or is longer
    than a year."""
    if last < first:
        raise InvalidPeriod(f"to ({last.isoformat()}) is before from ({first.isoformat()})")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise InvalidPeriod(f"from {first.isoformat()} to {last.isoformat()} is {days} days; at most {MAX_DAYS}")
    return Period(first, last)


def china_today() -> date:
    return datetime.now(CHINA).date()


def china_local(value: datetime) -> datetime:
    """An aware time as the naive China time a spreadsheet shows (XLSX has no time zones)."""
    return value.astimezone(CHINA).replace(tzinfo=None)
