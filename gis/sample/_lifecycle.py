"""Cases' lifecycles (hazards 隐患, requests 诉求) for the sample's year, many cases at once.

A `Track` holds every case's state and the time of its last step. Each `step` moves the cases of a mask that are
still going on: it happens when its time is before the end of the year (`until`), and then appends a history row
(version n+1, from the case's state to the new one); a step that would come later stops the case where it is, so
cases reported near `until` are still open, exactly as they would be on that day. Times never go back.
"""

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gis.sample._clock import Clock

STAYS = None  # a step's state: the case stays in its state (an extension, a note)


@dataclass
class Track:
    clock: Clock
    rng: np.random.Generator
    t: np.ndarray  # per case: seconds of its last step
    state: np.ndarray  # per case: its state now
    alive: np.ndarray  # per case: its path goes on
    rows: list[dict] = field(default_factory=list)

    @classmethod
    def open(
        cls, clock: Clock, rng: np.random.Generator, t0: np.ndarray, action: str, state: str, role, detail=None
    ) -> "Track":
        """Every case's first step (version 1) at `t0`, which must lie in the year."""
        n = len(t0)
        t0 = np.asarray(t0, dtype=np.int64)
        if n and (t0.max() >= clock.end or t0.min() < clock.start):
            raise ValueError("cases must open within the year")
        track = cls(clock, rng, t0 - 60, np.full(n, None, object), np.ones(n, bool))
        track.step(np.ones(n, bool), action, state, t0, role, detail=detail)
        return track

    def after(
        self, delay: np.ndarray, *, working: bool = True, weekend_share: float = 0.3, until_hour: float = 18.5
    ) -> np.ndarray:
        """The time `delay` (seconds, per case) after each case's last step, moved into working hours if
        `working` (Clock.working)."""
        at = self.t + np.asarray(delay, dtype=np.int64)
        return self.clock.working(self.rng, at, weekend_share, until_hour) if working else at

    def step(self, mask: np.ndarray, action, state: str | None, at: np.ndarray, role=None, note=None, detail=None):
        """Move the going cases of `mask` to `state` (STAYS: keep theirs) at `at` (at least a minute after their
        last step); the ones whose time falls at or after `until` stop. Returns the mask of cases moved.
        `action`, `role`, `note` and `detail` (JSON text) are one value or one per case."""
        active = np.asarray(mask, bool) & self.alive
        at = np.maximum(np.asarray(at, dtype=np.int64), self.t + 60)
        moved = active & (at < self.clock.end)
        self.alive &= ~(active & ~moved)
        idx = np.flatnonzero(moved)
        to_state = self.state[idx] if state is STAYS else np.full(len(idx), state, object)
        self.rows.append(
            {
                "case": idx,
                "action": _pick(action, idx),
                "from_state": self.state[idx],
                "to_state": to_state,
                "role": _pick(role, idx),
                "at": at[idx],
                "note": _pick(note, idx),
                "detail": _pick("{}" if detail is None else detail, idx),
            }
        )
        self.state[idx] = to_state
        self.t[idx] = at[idx]
        return moved

    def stop(self, mask: np.ndarray) -> None:
        """Cases of `mask` go no further (rejected, merged as duplicates, left waiting)."""
        self.alive &= ~np.asarray(mask, bool)

    def history(self) -> pd.DataFrame:
        """One row per step: case (index), version 1..n in order, action, from_state, to_state, role, at (seconds),
        note, detail."""
        parts = [pd.DataFrame(r) for r in self.rows if len(r["case"])]
        rows = pd.concat(parts, ignore_index=True)  # steps in the order taken: per case, in time order
        rows = rows.iloc[np.argsort(rows["case"].to_numpy(), kind="stable")].reset_index(drop=True)
        rows.insert(1, "version", rows.groupby("case").cumcount().to_numpy() + 1)
        for column in ("action", "from_state", "to_state", "role", "note", "detail"):
            rows[column] = rows[column].astype(object).where(rows[column].notna(), None)
        return rows


def _pick(value, idx: np.ndarray) -> np.ndarray:
    """One value for all, or the values of the cases `idx` from a per-case array."""
    if isinstance(value, np.ndarray):
        return value[idx]
    return np.full(len(idx), value, dtype=object)


def phrases(rng: np.random.Generator, table: dict[str, tuple[str, ...]], codes: np.ndarray) -> np.ndarray:
    """One phrase of each row's code, drawn from `table`."""
    out = np.full(len(codes), "", dtype=object)
    for code, options in table.items():
        mask = codes == code
        out[mask] = np.array(options, dtype=object)[rng.integers(0, len(options), mask.sum())]
    return out


def reached(steps: pd.DataFrame, action: str, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[steps.loc[steps["action"] == action, "case"].to_numpy(int)] = True
    return out


def first_at(steps: pd.DataFrame, to_states: tuple[str, ...], n: int, *, last: bool = False) -> np.ndarray:
    """Seconds of each case's first (or `last`) step into one of `to_states` (NaN: never)."""
    at = np.full(n, np.nan)
    rows = steps[steps["to_state"].isin(to_states)].drop_duplicates("case", keep="last" if last else "first")
    at[rows["case"].to_numpy(int)] = rows["at"].to_numpy(float)
    return at


def json_objects(**columns: np.ndarray) -> np.ndarray:
    """One JSON object text per row from columns of strings (quoted, without escapes: the generator's own words)
    or numbers; None values are JSON null."""
    n = len(next(iter(columns.values())))
    out = np.full(n, "{", dtype=object)
    for k, (key, values) in enumerate(columns.items()):
        if values.dtype == object:
            text = np.where(pd.isna(values), "null", '"' + values.astype(str) + '"')
        else:
            text = values.astype(str)
        out = out + ("" if k == 0 else ", ") + f'"{key}": ' + text.astype(object)
    return out + "}"


def or_none(mask: np.ndarray, values) -> np.ndarray:
    """`values` (one, or one per row) where `mask`, None elsewhere, as an object array."""
    out = np.full(len(mask), None, dtype=object)
    out[mask] = values[mask] if isinstance(values, np.ndarray) else values
    return out
