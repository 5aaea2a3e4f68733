"""The sample's hazards (隐患) of the year: what, where, when, and how each went.

Volume: `PER_RESIDENT` a year (a quarter of the requests' rate of ../shared/domain.md §5). Mix: fire lanes and
sanitation common, gas and structure rare. Seasons: flooding in the rainy season (June–August, most in July and
August), gas and electric wiring (飞线充电, heaters) in winter, falling objects in the spring winds. Grid workers
find them on their rounds, so few on weekends. Where: about half around the hot spots of their kind
(gis/sample/_places.py), the rest spread over the households (and, for public facilities and flooding, the roads).

Lifecycle (migration 0009's states): report → accept → dispatch → start (rectifying) → finish (rectified) →
verify → close as api.workflows.hazards allows, a few rejected at once, some sent back once after a failed check
and dispatched again, some given one extension (deadline + the category's hours) when the work runs late; a few
stuck for weeks. The work takes longer in some communities than in others (`paces`). Deadline: reported_at + the
category's hours × (1 + extensions).
"""

import numpy as np
import pandas as pd

from gis.sample._clock import DAY, HOUR, Clock, daily_cases, lognormal_hours, office_time
from gis.sample._lifecycle import STAYS, Track, first_at, json_objects, or_none, phrases, reached
from gis.sample._phrases import HAZARD_NOTES, HAZARD_TEXT, HAZARD_UNITS
from gis.sample._places import Places, paces, spread

PER_RESIDENT = 0.05
SEVERITIES = np.array(["low", "medium", "high"], dtype=object)
# code: (share of the year's hazards, share around hot spots, severity shares low / medium / high)
MIX = {
    "fire_lane": (0.24, 0.5, (0.2, 0.65, 0.15)),
    "sanitation": (0.23, 0.55, (0.6, 0.35, 0.05)),
    "electric": (0.13, 0.5, (0.1, 0.55, 0.35)),
    "public_facility": (0.10, 0.3, (0.4, 0.5, 0.1)),
    "flooding": (0.07, 0.8, (0.2, 0.5, 0.3)),
    "falling_objects": (0.07, 0.45, (0.1, 0.5, 0.4)),
    "structure": (0.04, 0.6, (0.1, 0.5, 0.4)),
    "gas": (0.04, 0.4, (0.05, 0.45, 0.5)),
    "other": (0.08, 0.3, (0.5, 0.45, 0.05)),
}
SEASON = {  # by month, January first
    "flooding": (0, 0, 0.05, 0.1, 0.4, 1.6, 4.0, 3.6, 0.6, 0.1, 0, 0),
    "gas": (1.9, 1.7, 1.2, 0.8, 0.6, 0.5, 0.5, 0.5, 0.6, 0.9, 1.4, 1.9),
    "electric": (1.6, 1.5, 1.1, 0.9, 0.8, 0.8, 1.0, 1.0, 0.8, 0.9, 1.2, 1.6),
    "sanitation": (0.8, 1.0, 0.9, 1.0, 1.1, 1.2, 1.2, 1.2, 1.0, 1.0, 0.9, 0.8),
    "fire_lane": (1.2, 1.3, 1.0, 1.0, 1.0, 0.9, 0.9, 0.9, 1.0, 1.1, 1.0, 1.1),
    "falling_objects": (0.8, 0.9, 1.4, 1.5, 1.2, 1.0, 1.1, 1.0, 0.9, 0.8, 0.8, 0.8),
}
WEEKDAYS = (1.0, 1.05, 1.0, 1.0, 0.95, 0.3, 0.25)  # Monday first: found on rounds
AFFINITY = {  # hot-spot kind → how much each category gathers there
    "village": {"fire_lane": 1.0, "electric": 1.3, "sanitation": 1.0, "structure": 1.5, "gas": 1.0, "other": 0.5},
    "market": {"sanitation": 1.5, "fire_lane": 1.0, "gas": 0.8, "public_facility": 0.4},
    "compound": {"falling_objects": 1.5, "electric": 1.0, "fire_lane": 0.8, "public_facility": 0.7},
    "lowland": {"flooding": 3.0},
}
ON_ROADS = ("public_facility", "flooding")  # away from hot spots these lie on the roads, not at a building
INDOOR = ("gas", "electric")  # at a household when found in one
REJECTED, STUCK, EXTENDED, SENT_BACK = 0.04, 0.04, 0.45, 0.07  # shares of hazards (extended: of the late ones)
WEEKEND, EVENING = 0.8, 21.0  # hazards do not wait: most weekend steps happen then, and work goes on until 21:00
CLOSED = ("closed", "rejected")  # closed_at set (api.workflows.hazards: close and reject)
REPORTERS = np.array(["grid_worker"] * 17 + ["party_member"] * 2 + ["community_secretary"], dtype=object)


def hazards(rng: np.random.Generator, places: Places, clock: Clock, spots: pd.DataFrame, categories: pd.DataFrame):
    """(hazards, their steps, for `_history`): one row per hazard with places by index, times in seconds."""
    hours = categories.set_index("code")["deadline_hours"]
    codes = [c for c in MIX if c in hours.index]
    if not codes:
        return pd.DataFrame(), pd.DataFrame()
    day, ci = daily_cases(
        rng, clock, PER_RESIDENT * places.residents, codes, [MIX[c][0] for c in codes], SEASON, WEEKDAYS
    )
    order = np.lexsort((ci, day))
    day, ci = day[order], ci[order]
    n = len(day)
    code = np.array(codes, dtype=object)[ci]
    t0 = clock.start + day * DAY + office_time(rng, n)
    lon, lat, building, household, spot = _where(rng, places, spots, code)
    grid = places.grid_at(lon, lat, building)
    sev = np.array([MIX[c][2] for c in codes])[ci]
    severity = SEVERITIES[(rng.random(n)[:, None] > np.cumsum(sev, axis=1)).sum(axis=1).clip(0, 2)]
    deadline_h = hours.reindex(code).to_numpy(float)
    unit = np.array([HAZARD_UNITS[c][k] for c, k in zip(code, rng.integers(0, 2, n), strict=True)], dtype=object)
    pace = paces(rng, places)[grid]
    reported = json_objects(category=code, severity=severity)
    track, extended = _lifecycle(rng, clock, t0, deadline_h, unit, reported, pace)
    steps = track.history()
    frame = pd.DataFrame(
        {
            "category": code,
            "severity": severity,
            "grid": grid,
            "building": building,
            "household": household,
            "spot": spot,
            "lon": lon,
            "lat": lat,
            "description": phrases(rng, HAZARD_TEXT, code),
            "state": track.state,
            "version": steps.groupby("case").size().reindex(range(n), fill_value=0).to_numpy(),
            "reported_at": t0,
            "deadline": t0 + (deadline_h * HOUR).astype(np.int64) * (1 + extended),
            "extensions": extended,
            "assigned_unit": or_none(reached(steps, "dispatch", n), unit),
            "updated_at": track.t,
            "closed_at": first_at(steps, CLOSED, n),
        }
    )
    return frame, steps


def _where(rng: np.random.Generator, places: Places, spots: pd.DataFrame, code: np.ndarray):
    """Each hazard's point, building (-1: none), household (-1) and hot spot (-1: background)."""
    n = len(code)
    codes = sorted(set(code))
    affinity = np.array([[AFFINITY[k].get(c, 0.0) for k in spots["kind"].tolist()] for c in codes], dtype=float)
    weight = affinity[np.searchsorted(codes, code)] * spots["weight"].to_numpy()[None, :]
    hot_share = np.array([MIX[c][1] for c in code])
    hot = (rng.random(n) < hot_share) & (weight.sum(axis=1) > 0)
    spot = np.full(n, -1)
    cum = np.cumsum(weight[hot], axis=1)
    spot[hot] = (rng.random(hot.sum())[:, None] * cum[:, -1:] > cum).sum(axis=1)
    lon, lat = np.zeros(n), np.zeros(n)
    lon[hot], lat[hot] = spread(rng, places, spots, spot[hot])
    building = np.full(n, -1)
    building[hot] = places.building_near(lon[hot], lat[hot], 35.0)
    household = np.full(n, -1)
    roads = ~hot & np.isin(code, ON_ROADS)
    node = rng.integers(0, len(places.node_lon), roads.sum())
    lon[roads], lat[roads] = places.offset(
        places.node_lon[node], places.node_lat[node], rng.normal(0, 4, len(node)), rng.normal(0, 4, len(node))
    )
    homes = ~hot & ~roads
    chosen = rng.integers(0, places.n, homes.sum())  # households alike: where people live
    building[homes] = places.hh_building[chosen]
    lon[homes], lat[homes] = places.building_centre(building[homes])
    indoor = homes & np.isin(code, INDOOR) & (rng.random(n) < 0.5)
    household[indoor] = chosen[indoor[homes]]
    return lon, lat, building, household, spot


def _lifecycle(
    rng: np.random.Generator, clock: Clock, t0, deadline_h, unit, reported, pace
) -> tuple[Track, np.ndarray]:
    """Every hazard's steps (module docstring and api.workflows.hazards: a manager records the work of a unit
    that has no account), the work taking `pace` times as long as usual; returns the track and the extensions
    granted (0 or 1)."""
    n = len(t0)
    hours = np.asarray(deadline_h, dtype=float)
    manager = "community_secretary"

    def soon(share: float, lo: float, hi: float, sigma: float = 0.8) -> np.ndarray:
        """A delay of about `share` of the deadline, within lo..hi hours: urgent categories move faster."""
        delay = lognormal_hours(rng, np.clip(share * hours, lo, hi), sigma, n)
        return track.after(delay, weekend_share=WEEKEND, until_hour=EVENING)

    reporter = REPORTERS[rng.integers(0, len(REPORTERS), n)]
    track = Track.open(clock, rng, t0, "report", "reported", reporter, detail=reported)
    everyone = np.ones(n, dtype=bool)
    rejected = rng.random(n) < REJECTED
    track.step(rejected, "reject", "rejected", soon(0.05, 1, 6), manager, _notes(rng, "reject", n))
    track.stop(rejected)
    track.step(everyone, "accept", "accepted", soon(0.03, 0.3, 3), manager)
    dispatched = json_objects(assigned_unit=unit, assigned_user_id=np.full(n, None, dtype=object))
    track.step(everyone, "dispatch", "dispatched", soon(0.03, 0.3, 4), manager, detail=dispatched)
    track.step(everyone, "start", "rectifying", soon(0.05, 0.5, 12), manager)
    # time from the report to the work done: mostly well within the deadline, a tail beyond it, a few stuck
    took = lognormal_hours(rng, 0.2 * hours * pace, 0.7, n)
    stuck = rng.random(n) < STUCK * pace
    took[stuck] = (took[stuck] * rng.uniform(5, 40, stuck.sum())).astype(np.int64)
    first_deadline = t0 + (hours * HOUR).astype(np.int64)
    ask_at = np.minimum(track.t + lognormal_hours(rng, 4, 0.7, n), first_deadline - HOUR)
    # asked for before the deadline, so that it moves the deadline by the category's hours (not from "now")
    asks = (t0 + 1.2 * took > first_deadline) & (rng.random(n) < EXTENDED) & (ask_at > track.t + 60)
    moved = json_objects(
        hours=hours.astype(np.int64), deadline_before=_iso(first_deadline), deadline=_iso(first_deadline + hours * HOUR)
    )
    extended = track.step(asks, "extend", STAYS, ask_at, manager, _notes(rng, "extend", n), moved)
    work = np.maximum(clock.working(rng, t0 + took, WEEKEND, EVENING), soon(0.05, 0.5, 24, 0.6))  # at least some work
    track.step(everyone, "finish", "rectified", work, manager, _notes(rng, "finish", n))
    back = rng.random(n) < SENT_BACK  # 核查不通过: back to the managers, dispatched again
    track.step(back, "send_back", "sent_back", soon(0.05, 1, 12), manager, _notes(rng, "send_back", n))
    track.step(back, "dispatch", "dispatched", soon(0.03, 0.5, 6), manager, detail=dispatched)
    track.step(back, "start", "rectifying", soon(0.03, 0.5, 6), manager)
    track.step(back, "finish", "rectified", soon(0.15, 2, 72), manager, _notes(rng, "finish", n))
    track.step(everyone, "verify", "verified", soon(0.03, 0.5, 24), manager, _notes(rng, "verify", n))
    track.step(everyone, "close", "closed", soon(0.02, 0.3, 8), manager, _notes(rng, "close", n))
    return track, extended.astype(np.int64)


def _iso(t: np.ndarray) -> np.ndarray:
    """Seconds as ISO 8601 in China time, as the workflows write them in a history's detail."""
    stamps = pd.to_datetime(np.asarray(t, dtype=np.int64), unit="s", utc=True).tz_convert("Asia/Shanghai")
    return np.asarray(stamps.strftime("%Y-%m-%dT%H:%M:%S+08:00"), dtype=object)


def _notes(rng: np.random.Generator, action: str, n: int) -> np.ndarray:
    phrases = np.array(HAZARD_NOTES[action], dtype=object)
    return phrases[rng.integers(0, len(phrases), n)]
