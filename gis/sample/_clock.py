"""The calendar of the sample's year of field work: its 365 days in China time ending at `until`, times of day
for office work and for residents, the weekday and season of a time, and deterministic client ids (uuid5).

Times are int64 seconds since the Unix epoch (UTC) throughout, so that millions of them are numpy arithmetic;
they become timestamps only in the frames handed out.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd

CHINA = timezone(timedelta(hours=8))  # Asia/Shanghai: no daylight saving since 1991
DAY = 86_400
HOUR = 3_600
YEAR_DAYS = 365
NAMESPACE = uuid.UUID("6f1c2d3e-9a4b-5c6d-8e7f-0a1b2c3d4e5f")  # the sample's client ids: uuid5 under this
# 春节 and 中秋节 (lunar festivals): 送温暖 visits come before them. Years outside the table take a typical day.
SPRING_FESTIVAL = {2024: "02-10", 2025: "01-29", 2026: "02-17", 2027: "02-06", 2028: "01-26", 2029: "02-13"}
MID_AUTUMN = {2024: "09-17", 2025: "10-06", 2026: "09-25", 2027: "09-15", 2028: "10-03", 2029: "09-22"}


@dataclass(frozen=True)
class Clock:
    """The year: days 0..364 from `until` − 365 days, each starting at midnight China time; `end` is `until`'s
    midnight, before which everything happens."""

    until: date

    @property
    def first_day(self) -> date:
        return self.until - timedelta(days=YEAR_DAYS)

    @property
    def start(self) -> int:
        d = self.first_day
        return int(datetime(d.year, d.month, d.day, tzinfo=CHINA).timestamp())

    @property
    def end(self) -> int:
        return self.start + YEAR_DAYS * DAY

    def day_of(self, t: np.ndarray) -> np.ndarray:
        return (np.asarray(t, dtype=np.int64) - self.start) // DAY

    def weekday(self, day: np.ndarray) -> np.ndarray:
        """0 = Monday … 6 = Sunday of day indexes."""
        return (self.first_day.weekday() + np.asarray(day)) % 7

    def month(self, day: np.ndarray) -> np.ndarray:
        """1..12 of day indexes."""
        dates = np.datetime64(self.first_day, "D") + np.asarray(day).astype("timedelta64[D]")
        return dates.astype("datetime64[M]").astype(np.int64) % 12 + 1

    def days(self) -> np.ndarray:
        return np.arange(YEAR_DAYS)

    def festivals(self, table: dict[int, str], default: str) -> list[int]:
        """Day indexes of a yearly festival that fall within the year."""
        found = []
        for year in (self.first_day.year, self.until.year):
            day = date.fromisoformat(f"{year}-{table.get(year, default)}")
            index = (day - self.first_day).days
            if 0 <= index < YEAR_DAYS:
                found.append(index)
        return found

    def working(
        self, rng: np.random.Generator, t: np.ndarray, weekend_share: float = 0.3, until_hour: float = 18.5
    ) -> np.ndarray:
        """`t` moved into working hours (08:00 to `until_hour` China time): a later or night time to the next
        morning, and most weekend times to Monday morning (`weekend_share` of them stay: someone on duty)."""
        t = np.asarray(t, dtype=np.int64).copy()
        local = (t - self.start) % DAY
        morning = rng.integers(0, int(1.5 * HOUR), len(t))
        early, late = local < 8 * HOUR, local >= int(until_hour * HOUR)
        t[early] += 8 * HOUR - local[early] + morning[early]
        t[late] += DAY - local[late] + 8 * HOUR + morning[late]
        weekday = self.weekday(self.day_of(t))
        move = (weekday >= 5) & (rng.random(len(t)) >= weekend_share)
        local = (t - self.start) % DAY
        t[move] += (7 - weekday[move]) * DAY - local[move] + 8 * HOUR + morning[move]
        return t

    def stamps(self, t: np.ndarray) -> pd.Series:
        """Seconds to timezone-aware UTC timestamps."""
        return pd.Series(pd.to_datetime(np.asarray(t, dtype=np.int64), unit="s", utc=True))


def office_time(rng: np.random.Generator, n: int, evening_share: float | np.ndarray = 0.0) -> np.ndarray:
    """Seconds after local midnight of office work: mornings around 10:00, afternoons around 15:30 (a lunch
    break between), and with `evening_share` an evening around 19:30 (party members after their own work)."""
    morning = np.clip(rng.normal(10 * HOUR, 0.9 * HOUR, n), 8.5 * HOUR, 11.9 * HOUR)
    afternoon = np.clip(rng.normal(15.5 * HOUR, HOUR, n), 14 * HOUR, 17.6 * HOUR)
    evening = np.clip(rng.normal(19.5 * HOUR, 0.75 * HOUR, n), 18.5 * HOUR, 21 * HOUR)
    u = rng.random(n)
    out = np.where(u < 0.55, morning, afternoon)
    out = np.where(rng.random(n) < evening_share, evening, out)
    return out.astype(np.int64)


def resident_time(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after local midnight when residents post: mornings and evenings (after work), 07:00–22:30."""
    morning = rng.normal(9.5 * HOUR, 1.3 * HOUR, n)
    afternoon = rng.normal(15 * HOUR, 1.5 * HOUR, n)
    evening = rng.normal(20 * HOUR, 1.2 * HOUR, n)
    u = rng.random(n)
    out = np.select([u < 0.4, u < 0.65], [morning, afternoon], evening)
    return np.clip(out, 7 * HOUR, 22.5 * HOUR).astype(np.int64)


def lognormal_hours(rng: np.random.Generator, median: float | np.ndarray, sigma: float, n: int) -> np.ndarray:
    """Delays in seconds, log-normal around `median` hours (a few long ones, as real queues have)."""
    return (np.asarray(median) * HOUR * np.exp(rng.normal(0, sigma, n))).astype(np.int64)


def client_ids(seed: int, until: date, kind: str, n: int) -> np.ndarray:
    """uuid5 (RFC 4122 name-based, SHA-1) of '<seed>:<until>:<kind>:<row>' under `NAMESPACE`: the same sample and
    day give the same ids. Hashed with hashlib and formatted with numpy: uuid.uuid5 per row took 8 s a million."""
    prefix = NAMESPACE.bytes + f"{seed}:{until.isoformat()}:{kind}:".encode()
    sha1 = hashlib.sha1
    digest = b"".join([sha1(prefix + name).digest() for name in np.arange(n).astype("S").tolist()])
    raw = np.frombuffer(digest, dtype=np.uint8).reshape(n, 20)[:, :16].copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x50  # version 5
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hexed = np.frombuffer(raw.tobytes().hex().encode(), dtype=np.uint8).reshape(n, 32)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for (a, b), at in zip(((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)), (0, 9, 14, 19, 24), strict=True):
        out[:, at : at + b - a] = hexed[:, a:b]
    return np.ascontiguousarray(out).view("S36").ravel().astype("U36").astype(object)


def daily_cases(
    rng: np.random.Generator, clock: Clock, total: float, codes: list[str], shares, seasons, weekdays
) -> tuple[np.ndarray, np.ndarray]:
    """(day, code index) of each case: Poisson counts per day and code with the code's share of `total`, its
    monthly profile and the weekly one."""
    days = clock.days()
    month, weekday = clock.month(days) - 1, clock.weekday(days)
    monthly = np.array([seasons.get(c, (1.0,) * 12) for c in codes], dtype=float)
    profile = monthly[:, month] * np.asarray(weekdays)[weekday]
    shares = np.asarray(shares, dtype=float) / np.sum(shares)
    lam = total * shares[:, None] * profile / np.maximum(profile.sum(axis=1, keepdims=True), 1e-12)
    counts = rng.poisson(lam)
    code, day = np.nonzero(counts)
    reps = counts[code, day]
    return np.repeat(day, reps), np.repeat(code, reps)
