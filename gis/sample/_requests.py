"""The sample's residents' requests (诉求) and micro-wishes (微心愿) of the year: what, from where, when, and how
each went (居民点单 → 支部下单 → 党员接单 → 群众评单).

Volume: `PER_RESIDENT` a year (../shared/domain.md §5: ~200k for 1M residents), a few more as duplicates. Mix:
livelihood, environment and facilities most; micro-wishes from hardship families, left-behind children, the
elderly and the disabled; special groups' needs from the elderly and disabled. Most come from a household (the
request lies at its building, household and requester set: the household's head, a fictional resident); some
from public places (a market's rubbish, a park's broken bench, a road's lamp). Households near the hot spots of
their kind ask more (rubbish and disputes in the villages, facilities in the old compound). Residents post more on
Monday (what the weekend left), less at weekends, mornings and evenings; environment in summer, micro-wishes
before 春节, 六一 and the school year, facilities and special groups in winter.

Lifecycle (migration 0009's states, api.workflows.requests' actions): submit → dispatch (the branch) → accept (a
party member or a co-building unit) → complete → closed by the resident's rating (mostly 4–5, lower when late)
or, unrated, closed by the branch after 7 days; a few declined and dispatched again, a few rejected, some marked
duplicate of an earlier request nearby (same service, within days, ~10 m), a few stuck past the deadline, all at
the pace of the request's community (`paces`). Deadline: requested_at + the service's hours.
"""

import numpy as np
import pandas as pd

from gis.sample._clock import DAY, HOUR, Clock, daily_cases, lognormal_hours, resident_time
from gis.sample._lifecycle import Track, first_at, json_objects, or_none, phrases, reached
from gis.sample._people import TAGS
from gis.sample._phrases import COMMENTS, REQUEST_NOTES, REQUEST_TEXT, REQUEST_UNITS
from gis.sample._places import Places, paces, spot_of

PER_RESIDENT = 0.2
# code: (share of the year's requests, share from public places)
MIX = {
    "livelihood": (0.26, 0.0),
    "environment": (0.17, 0.3),
    "facility": (0.15, 0.35),
    "micro_wish": (0.13, 0.0),
    "special_groups": (0.09, 0.0),
    "dispute": (0.08, 0.0),
    "opinion": (0.07, 0.1),
    "security": (0.05, 0.2),
}
SEASON = {
    "environment": (0.7, 0.7, 0.9, 1.0, 1.2, 1.4, 1.5, 1.4, 1.1, 0.9, 0.7, 0.6),
    "facility": (1.3, 1.2, 1.0, 0.9, 0.9, 0.9, 1.0, 1.0, 0.9, 1.0, 1.3, 1.4),
    "micro_wish": (1.6, 1.3, 0.8, 0.8, 1.1, 1.4, 0.8, 1.1, 1.2, 0.7, 0.7, 0.9),
    "dispute": (0.8, 1.1, 0.9, 0.9, 1.0, 1.2, 1.3, 1.2, 1.0, 0.9, 0.8, 0.8),
    "special_groups": (1.3, 1.2, 1.0, 0.9, 0.9, 1.0, 1.2, 1.1, 0.9, 0.9, 1.0, 1.3),
}
WEEKDAYS = (1.25, 1.05, 1.0, 1.0, 0.95, 0.85, 0.8)  # Monday first
ASKERS: dict[
    str, tuple[dict[str, float], float]
] = {  # code: (weight of a household with each tag, weight of the others)
    "special_groups": ({"elderly_alone": 10, "aged_80": 10, "disabled": 10}, 0.1),
    "micro_wish": ({"hardship": 15, "left_behind_child": 15, "elderly_alone": 4, "disabled": 4}, 0.3),
    "livelihood": ({"hardship": 4, "unemployed": 4, "elderly_alone": 2}, 1.0),
    "dispute": ({"rented": 2, "floating": 1.5}, 1.0),
}
SPOT_KINDS = {
    "environment": ("village", "market"),
    "dispute": ("village",),
    "security": ("village",),
    "livelihood": ("village",),
    "facility": ("compound",),
}
NEAR_SPOT, NEAR_RADIUS = 4.0, 1.5  # a household within 1.5 spreads of such a hot spot asks 4 times as much
PUBLIC_PLACES = {"environment": ("market",), "facility": ("sports", "elderly_care"), "opinion": ("party_center",)}
PARTY_UNITS = ("社区党员志愿服务队", "网格党支部")  # taken by a party member (党员接单); the other units by the unit
RATINGS = {False: (0.01, 0.02, 0.05, 0.24, 0.68), True: (0.07, 0.10, 0.18, 0.30, 0.35)}  # 1..5, by lateness
DUPLICATES, REJECTED, DECLINED, RATED, STUCK, ATTENDED = 0.04, 0.03, 0.03, 0.8, 0.02, 0.7
CLOSED = ("closed", "rejected", "duplicate")  # closed_at set (api.workflows.requests: rate, close, reject, duplicate)


def requests(rng: np.random.Generator, places: Places, clock: Clock, spots: pd.DataFrame, services: pd.DataFrame):
    """(requests, their steps, the households a grid worker goes to at once): places by index, times in seconds."""
    table = services.set_index("code")
    codes = [c for c in MIX if c in table.index]
    if not codes:
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame(columns=["household", "at"])
    day, si = daily_cases(
        rng, clock, PER_RESIDENT * places.residents, codes, [MIX[c][0] for c in codes], SEASON, WEEKDAYS
    )
    code = np.array(codes, dtype=object)[si]
    t0 = clock.start + day * DAY + resident_time(rng, len(day))
    cases = _where(rng, places, spots, code).assign(service_code=code, t0=t0, duplicate_of=-1)
    cases = _with_duplicates(rng, places, clock, cases)
    n = len(cases)
    code, t0 = cases["service_code"].to_numpy(object), cases["t0"].to_numpy(np.int64)
    deadline = t0 + (table["deadline_hours"].reindex(code).to_numpy(float) * HOUR).astype(np.int64)
    unit = phrases(rng, REQUEST_UNITS, code)
    pace = paces(rng, places)[cases["grid"].to_numpy()]
    track, notes, rating, comment = _lifecycle(rng, clock, cases, deadline, unit, pace)
    steps = track.history()
    state = track.state
    status = np.full(n, None, dtype=object)  # Open311's status_notes: what the resident is told
    for states, note in ((["rejected"], "reject"), (["completed", "closed"], "complete")):  # a duplicate's: storage
        status[np.isin(state, states)] = notes[note][np.isin(state, states)]
    out = cases.drop(columns=["t0"]).assign(
        description=phrases(rng, REQUEST_TEXT, code),
        state=state,
        version=steps.groupby("case").size().reindex(range(n), fill_value=0).to_numpy(),
        status_notes=status,
        assigned_unit=or_none(reached(steps, "dispatch", n), unit),
        requested_at=t0,
        deadline=deadline,
        dispatched_at=np.where(state == "submitted", np.nan, first_at(steps, ("dispatched",), n, last=True)),
        accepted_at=first_at(steps, ("accepted",), n),
        completed_at=first_at(steps, ("completed",), n),
        closed_at=first_at(steps, CLOSED, n),
        updated_at=track.t,
        rating=pd.Series(rating).where(rating > 0).astype("Int64"),
        rating_comment=or_none(rating > 0, comment),
    )
    attend = (
        np.isin(code, ["dispute", "security"])
        & (cases["household"].to_numpy() >= 0)
        & (cases["duplicate_of"].to_numpy() < 0)
        & (rng.random(n) < ATTENDED)
    )
    return out, steps, pd.DataFrame({"household": cases["household"].to_numpy()[attend], "at": t0[attend]})


def _where(rng: np.random.Generator, places: Places, spots: pd.DataFrame, code: np.ndarray) -> pd.DataFrame:
    """Each request's household (-1: a public place), building (-1: none), resident, point and address."""
    n = len(code)
    household, building = np.full(n, -1), np.full(n, -1)
    lon, lat = np.zeros(n), np.zeros(n)
    address = np.full(n, None, dtype=object)
    public = rng.random(n) < np.array([MIX[c][1] for c in code])
    for c in sorted(set(code)):  # sorted: the draws must not follow the hash order of strings
        mine = np.flatnonzero((code == c) & ~public)
        if len(mine):
            household[mine] = rng.choice(places.n, size=len(mine), p=_askers(places, spots, c))
        spots_of = np.flatnonzero((code == c) & public)
        pool = np.flatnonzero(np.isin(places.sp_type, PUBLIC_PLACES.get(c, ())))
        at_point = spots_of[rng.random(len(spots_of)) < (0.6 if len(pool) else 0.0)]
        pick = rng.choice(pool, size=len(at_point)) if len(pool) else np.zeros(0, int)
        lon[at_point], lat[at_point] = places.sp_lon[pick], places.sp_lat[pick]
        address[at_point] = places.sp_name[pick]
        on_road = np.setdiff1d(spots_of, at_point)
        node = rng.integers(0, len(places.node_lon), len(on_road))
        lon[on_road], lat[on_road] = places.node_lon[node], places.node_lat[node]
    homes = household >= 0
    building[homes] = places.hh_building[household[homes]]
    lon[homes], lat[homes] = places.building_centre(building[homes])
    address[homes] = places.b_name[building[homes]]
    lon[~homes], lat[~homes] = places.offset(
        lon[~homes], lat[~homes], rng.normal(0, 6, (~homes).sum()), rng.normal(0, 6, (~homes).sum())
    )
    resident = or_none(homes, places.head_ref[np.maximum(household, 0)])
    grid = places.grid_at(lon, lat, building)
    spot = np.full(n, -1)
    for c in sorted(set(code)):
        mine = np.flatnonzero(code == c)
        spot[mine] = spot_of(places, spots, SPOT_KINDS.get(c, ()), lon[mine], lat[mine], NEAR_RADIUS)
    return pd.DataFrame(
        {"grid": grid, "building": building, "household": household, "resident_ref": resident, "lon": lon,
         "lat": lat, "address": address, "spot": spot}
    )  # fmt: skip


def _askers(places: Places, spots: pd.DataFrame, code: str) -> np.ndarray:
    """Probability of each household to post a request of `code`."""
    factors, base = ASKERS.get(code, ({}, 1.0))
    weight = np.full(places.n, base)
    for tag, factor in factors.items():
        weight = np.maximum(weight, np.where(places.tags[:, TAGS.index(tag)], factor, 0))
    near = spot_of(places, spots, SPOT_KINDS.get(code, ()), places.hh_lon, places.hh_lat, NEAR_RADIUS)
    weight *= np.where(near >= 0, NEAR_SPOT, 1.0)
    return weight / weight.sum()


def _with_duplicates(rng: np.random.Generator, places: Places, clock: Clock, cases: pd.DataFrame) -> pd.DataFrame:
    """A few requests posted again by a neighbour within days (same service and building, a few metres off), in
    time order; `duplicate_of` is the original's row."""
    n = len(cases)
    original = np.flatnonzero(rng.random(n) < DUPLICATES)
    again = cases.iloc[original].copy()
    again["t0"] += (HOUR + rng.random(len(again)) * 4 * DAY).astype(np.int64)
    lon, lat = places.offset(
        again["lon"].to_numpy(), again["lat"].to_numpy(), rng.normal(0, 8, len(again)), rng.normal(0, 8, len(again))
    )
    again = again.assign(lon=lon, lat=lat, household=-1, resident_ref=None, duplicate_of=original)
    cases = pd.concat([cases, again[again["t0"] < clock.end]], ignore_index=True)
    order = np.argsort(cases["t0"].to_numpy(), kind="stable")
    new_row = np.empty(len(order), dtype=np.int64)
    new_row[order] = np.arange(len(order))
    cases = cases.iloc[order].reset_index(drop=True)
    dup = cases["duplicate_of"].to_numpy()
    cases["duplicate_of"] = np.where(dup >= 0, new_row[np.maximum(dup, 0)], -1)
    return cases


def _lifecycle(
    rng: np.random.Generator, clock: Clock, cases: pd.DataFrame, deadline: np.ndarray, unit: np.ndarray, pace
):
    """The steps of every request (module docstring and api.workflows.requests: the branch acts for a unit), the
    work taking `pace` times as long as usual; the notes written, the rating (0: none) and its comment."""
    n = len(cases)
    t0 = cases["t0"].to_numpy(np.int64)
    manager = "community_secretary"
    by_worker = or_none(rng.random(n) < 0.6, "grid_worker")  # logged by a worker for the resident, else an app's
    track = Track.open(clock, rng, t0, "submit", "submitted", by_worker, detail='{"source": "sample"}')
    notes = {"reject": _notes(rng, "reject", n), "complete": _notes(rng, "complete", n)}
    wish = cases["service_code"].to_numpy() == "micro_wish"
    notes["complete"][wish] = _notes(rng, "wish_come_true", n)[wish]
    duplicate = cases["duplicate_of"].to_numpy() >= 0  # its note and detail name the original's id: the storage's
    track.step(duplicate, "duplicate", "duplicate", track.after(lognormal_hours(rng, 4, 0.8, n)), manager)
    track.stop(duplicate)
    rejected = rng.random(n) < REJECTED
    track.step(rejected, "reject", "rejected", track.after(lognormal_hours(rng, 4, 0.8, n)), manager, notes["reject"])
    track.stop(rejected)
    everyone = np.ones(n, dtype=bool)
    hours = (deadline - t0) / HOUR
    to_unit = json_objects(assigned_unit=unit)
    taker = np.where(np.isin(unit, PARTY_UNITS), "party_member", manager).astype(object)  # 党员接单, or for a unit
    branch = lognormal_hours(rng, np.clip(0.04 * hours, 1, 8), 0.9, n)  # 支部下单
    track.step(everyone, "dispatch", "dispatched", track.after(branch), manager, detail=to_unit)
    soon = lognormal_hours(rng, np.clip(0.05 * hours, 1, 12), 0.9, n)
    declines = rng.random(n) < DECLINED  # declined (time, skills) and dispatched again, to the team's next member
    track.step(declines, "decline", "submitted", track.after(soon, weekend_share=0.5), taker,
               _notes(rng, "decline", n), json_objects(unit=unit))  # fmt: skip
    track.step(declines, "dispatch", "dispatched", track.after(branch), manager, detail=to_unit)
    track.step(everyone, "accept", "accepted", track.after(soon, weekend_share=0.5), taker)
    took = lognormal_hours(rng, 0.3 * hours * pace, 0.8, n)
    stuck = rng.random(n) < STUCK * pace
    took[stuck] = (took[stuck] * rng.uniform(3, 15, stuck.sum())).astype(np.int64)
    work = track.after(lognormal_hours(rng, np.maximum(0.25 * took / HOUR, 0.5), 0.6, n), weekend_share=0.5)
    done = np.maximum(clock.working(rng, t0 + took, weekend_share=0.5), work)
    completed = track.step(everyone, "complete", "completed", done, taker, notes["complete"])
    late = track.t > deadline
    rating = np.zeros(n, dtype=np.int64)
    for is_late, shares in RATINGS.items():
        mask = late == is_late
        rating[mask] = rng.choice(np.arange(1, 6), size=mask.sum(), p=shares)
    comment = np.full(n, None, dtype=object)
    for stars, options in COMMENTS.items():
        mask = rating == stars
        comment[mask] = np.array(options, dtype=object)[rng.integers(0, len(options), mask.sum())]
    rates = completed & (rng.random(n) < RATED)
    rater = or_none(rng.random(n) < 0.4, "grid_worker")  # the resident in the app, or a worker for them
    rated = track.step(rates, "rate", "closed", track.after(lognormal_hours(rng, 20, 1.0, n), working=False), rater,
                       comment, json_objects(rating=rating))  # fmt: skip
    track.step(completed & ~rates, "close", "closed", track.after(7 * DAY * np.ones(n, np.int64)), manager)
    return track, notes, np.where(rated, rating, 0), comment


def _notes(rng: np.random.Generator, action: str, n: int) -> np.ndarray:
    options = np.array(REQUEST_NOTES[action], dtype=object)
    return options[rng.integers(0, len(options), n)]
