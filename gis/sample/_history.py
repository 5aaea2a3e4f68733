"""A year of field work for the sample area (issue 12): grid workers' and party members' visits (走访) following
the visit rules (三必到五必访) with misses, hazards (隐患) and residents' requests (诉求, 微心愿) with their whole
lifecycle — so that due lists, ledgers, KPIs and the maps of hot spots have something true-looking to show.

Pure: frames in (the generated area; the visit rules, hazard categories and services as the database holds
them), frames out, the same for the same seed and `until`. The year is the 365 days before `until` in China time;
nothing happens on or after `until`'s midnight, so the history is what the system would hold on that morning. The
loader (api.storage.sample_history) passes today; tests pass a fixed day.

Visits: every (household, role, kind) that a rule asks for is a stream, visited every interval with jitter
(the shortest interval when several rules ask; a community's own rule replaces the default of its tag, role and
kind). A visit is missed with a rate of its grid's worker, branch or community (5–35 %, ~15 % on average), so the
KPIs differ by grid and some households are overdue at `until`. Office hours, fewer on weekends (party members
also visit in the evening and at weekends), 送温暖 visits to hardship households before 春节 and 中秋, a few
logged far from the building (`far`, > 200 m), and 必到 (attend) visits to disputes and security requests. Hazards
and requests: gis/sample/_hazards.py and _requests.py, places and hot spots _places.py, the calendar _clock.py.
"""

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from gis.sample._clock import DAY, HOUR, MID_AUTUMN, SPRING_FESTIVAL, Clock, client_ids, office_time
from gis.sample._frames import SampleArea
from gis.sample._hazards import hazards
from gis.sample._lifecycle import or_none
from gis.sample._people import TAGS
from gis.sample._phrases import FAR_NOTES, SEASON_NOTES, TAG_NOTES, VISIT_NOTES
from gis.sample._places import Places, hotspots
from gis.sample._requests import requests

FAR_M = 200.0  # a visit logged farther than this from the building is flagged (issue 12)
GPS_SD_M = 6.0  # phone positioning error near buildings
WEEKEND_KEPT = {"party_member": 0.6, "street_leader": 0.1}  # share of weekend visits kept; other roles 0.2
EVENING = {"party_member": 0.35}  # share of visits in the evening
JITTER = 0.12  # sd of a gap, as a share of the interval
VISIT_COLUMNS = [
    "client_id", "household_ref", "grid_ref", "role", "kind", "visited_at", "received_at", "lon", "lat",
    "distance_m", "far", "notes",
]  # fmt: skip
HAZARD_COLUMNS = [
    "client_id", "category", "severity", "grid_ref", "building_ref", "household_ref", "lon", "lat", "description",
    "state", "version", "reported_at", "deadline", "extensions", "assigned_unit", "updated_at", "closed_at",
    "hotspot",
]  # fmt: skip
REQUEST_COLUMNS = [
    "client_id", "service_code", "grid_ref", "building_ref", "household_ref", "resident_ref", "lon", "lat",
    "address", "description", "state", "version", "status_notes", "assigned_unit", "duplicate_of", "requested_at",
    "deadline", "dispatched_at", "accepted_at", "completed_at", "closed_at", "updated_at", "rating",
    "rating_comment", "hotspot",
]  # fmt: skip
HISTORY_COLUMNS = ["case_client_id", "version", "action", "from_state", "to_state", "role", "at", "note", "detail"]


@dataclass
class History:
    """The year's field work as the tables of migration 0009 hold it, places referred to by source id (``*_ref``),
    times as UTC timestamps, each case's history referring to it by client id (``case_client_id``). `hotspots`
    (kind, lon, lat, sigma_m, weight) are the centres cases cluster around, and a case's ``hotspot`` the one it
    was drawn around (-1: background): not stored — the ground truth for tests and for the hot-spot maps."""

    visits: pd.DataFrame
    hazards: pd.DataFrame
    hazard_history: pd.DataFrame
    requests: pd.DataFrame
    request_history: pd.DataFrame
    hotspots: pd.DataFrame

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ("visits", "hazards", "hazard_history", "requests",
                                                            "request_history")}  # fmt: skip


def generate_history(
    area: SampleArea,
    *,
    until: date,
    seed: int,
    rules: pd.DataFrame,
    hazard_categories: pd.DataFrame,
    services: pd.DataFrame,
) -> History:
    """The year before `until` (see the module docstring). `rules`: tag, role, interval_days, kind, community_ref
    (None: the default of every community), active; `hazard_categories`: code, deadline_hours; `services`: code,
    deadline_hours — as migration 0009's tables hold them. Tags, categories and services the generator does not
    know are left out."""
    clock = Clock(until)

    def stream(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, 12, k])

    places = Places.of(area)
    spots = hotspots(stream(1), places)
    visits = _rule_visits(stream(2), area, places, clock, rules)
    hazard, hazard_steps = hazards(stream(3), places, clock, spots, hazard_categories)
    request, request_steps, attend = requests(stream(4), places, clock, spots, services)
    visits = pd.concat([visits, _attend_visits(stream(5), clock, attend)], ignore_index=True)
    hazard_ids = client_ids(seed, until, "hazard", len(hazard))
    request_ids = client_ids(seed, until, "request", len(request))
    return History(
        visits=_finish_visits(stream(6), places, clock, visits, seed),
        hazards=_cases(hazard, hazard_ids, places, clock, HAZARD_COLUMNS),
        hazard_history=_steps(hazard_steps, hazard_ids, clock),
        requests=_cases(request, request_ids, places, clock, REQUEST_COLUMNS),
        request_history=_steps(request_steps, request_ids, clock),
        hotspots=spots,
    )


def _rule_visits(
    rng: np.random.Generator, area: SampleArea, places: Places, clock: Clock, rules: pd.DataFrame
) -> pd.DataFrame:
    """Visits of every stream the rules ask for, with misses, moved off weekends, at office times."""
    streams = _streams(rng, places, clock, rules)
    miss = _miss_rates(rng, area, places, streams)
    interval = streams["interval_days"].to_numpy() * DAY
    begin = streams["begin"].to_numpy()
    steps = np.ceil((clock.end - begin + interval) / (0.7 * interval)).astype(np.int64) + 1
    sid = np.repeat(np.arange(len(streams)), steps)
    gap = interval[sid] * np.clip(1 + rng.normal(0, JITTER, len(sid)), 0.7, 1.35)
    first = np.cumsum(steps) - steps
    gap[first] = rng.random(len(streams)) * interval  # the first visit within an interval of the year's start
    total = np.cumsum(gap)
    t = (begin[sid] + total - (total[first] - gap[first])[sid]).astype(np.int64)
    keep = (t < clock.end) & (rng.random(len(sid)) >= miss[sid])
    sid, t = sid[keep], t[keep]
    role = streams["role"].to_numpy()[sid]
    day = _off_weekends(rng, clock, clock.day_of(t), role)
    evening = pd.Series(role).map(EVENING).fillna(0.0).to_numpy()
    at = clock.start + day * DAY + office_time(rng, len(day), evening)
    inside = (day >= 0) & (at < clock.end)
    household, kind = streams["household"].to_numpy()[sid], streams["kind"].to_numpy()[sid]
    frame = pd.DataFrame({"household": household, "role": role, "kind": kind, "at": at})[inside]
    return pd.concat([frame, _festival_visits(rng, places, clock)], ignore_index=True)


def _streams(rng: np.random.Generator, places: Places, clock: Clock, rules: pd.DataFrame) -> pd.DataFrame:
    """One row per (household, role, kind) some rule asks for: the shortest interval, and `begin`, the start of
    the time it is asked for (the year, or a hospital stay that began in its last weeks)."""
    rules = rules.assign(community_ref=rules["community_ref"].astype(object).where(rules["community_ref"].notna()))
    defaults = rules[rules["community_ref"].isna()]
    own = rules[rules["community_ref"].notna()]
    community = places.household_community
    key = ["tag", "role", "kind"]
    parts = []
    for ref in [None, *sorted(set(own["community_ref"]) & set(community))]:
        members = np.flatnonzero(
            community == ref if ref is not None else ~np.isin(community, own["community_ref"].to_numpy())
        )
        table = defaults if ref is None else pd.concat([own[own["community_ref"] == ref], defaults])
        table = table.drop_duplicates(key)  # a community's own rule first: it replaces the default
        for rule in table[table["active"].astype(bool) & table["tag"].isin(TAGS)].itertuples():
            tagged = members[places.tags[members, TAGS.index(rule.tag)]]
            parts.append(
                pd.DataFrame(
                    {"household": tagged, "role": rule.role, "kind": rule.kind, "interval_days": rule.interval_days}
                ).assign(hospital=rule.tag == "hospitalized")
            )
    streams = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["household", "hospital"])
    stay = rng.integers(2, 30, places.n) * DAY  # the current stay of a 住院 household began this long ago
    streams["begin"] = np.where(
        streams["hospital"].astype(bool), clock.end - stay[streams["household"].to_numpy(int)], clock.start
    )
    streams = streams.groupby(["household", "role", "kind"], as_index=False).agg(
        interval_days=("interval_days", "min"), begin=("begin", "min")
    )
    return streams.sort_values(["household", "role", "kind"], ignore_index=True)


def _miss_rates(rng: np.random.Generator, area: SampleArea, places: Places, streams: pd.DataFrame) -> np.ndarray:
    """Per stream, the share of its visits missed: the grid worker's (some are worse), the grid's party members',
    the community secretary's; leaders miss few."""
    grids = area.grids["source_id"].to_numpy()
    worker = np.zeros(len(grids))
    for refs in area.grid_workers["grid_refs"]:
        worker[np.isin(grids, refs)] = 0.04 + 0.35 * rng.beta(1.6, 3.5)
    party = 0.06 + 0.3 * rng.beta(2.0, 4.0, len(grids))
    communities = area.communities["source_id"].to_numpy()
    secretary = pd.Series(0.05 + 0.2 * rng.beta(2.0, 3.0, len(communities)), index=communities)
    household = streams["household"].to_numpy(int)
    grid = places.household_grid[household]
    by_role = {
        "grid_worker": worker[grid],
        "party_member": party[grid],
        "community_secretary": secretary.reindex(places.household_community[household]).fillna(0.1).to_numpy(),
    }
    role = streams["role"].to_numpy()
    rate = np.full(len(streams), 0.08)
    for name, values in by_role.items():
        rate = np.where(role == name, values, rate)
    return rate


def _off_weekends(rng: np.random.Generator, clock: Clock, day: np.ndarray, role: np.ndarray) -> np.ndarray:
    """Most visits that fall on a weekend move to the Friday before or the Monday after."""
    kept = pd.Series(role).map(WEEKEND_KEPT).fillna(0.2).to_numpy()
    weekday = clock.weekday(day)
    move = (weekday >= 5) & (rng.random(len(day)) >= kept)
    back = rng.random(len(day)) < 0.5
    shift = np.where(back, 4 - weekday, 7 - weekday)  # Saturday: −1 or +2; Sunday: −2 or +1
    return np.where(move, day + shift, day)


def _festival_visits(rng: np.random.Generator, places: Places, clock: Clock) -> pd.DataFrame:
    """送温暖: the community visits hardship households with gifts in the ten days before 春节 and 中秋."""
    hardship = np.flatnonzero(places.tags[:, TAGS.index("hardship")])
    parts = []
    for day in clock.festivals(SPRING_FESTIVAL, "02-05") + clock.festivals(MID_AUTUMN, "09-20"):
        visit_day = day - rng.integers(1, 11, len(hardship))
        at = clock.start + visit_day * DAY + office_time(rng, len(hardship))
        parts.append(pd.DataFrame({"household": hardship, "role": "community_secretary", "kind": "help", "at": at}))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["household", "role", "kind", "at"])
    return frame[(frame["at"] >= clock.start) & (frame["at"] < clock.end)]


def _attend_visits(rng: np.random.Generator, clock: Clock, attend: pd.DataFrame) -> pd.DataFrame:
    """必到: the grid worker goes to a dispute or a security request at a household within hours."""
    soon = (0.5 * HOUR + rng.random(len(attend)) * 5 * HOUR).astype(np.int64)
    at = clock.working(rng, attend["at"].to_numpy(np.int64) + soon)
    frame = pd.DataFrame({"household": attend["household"].to_numpy(), "role": "grid_worker", "kind": "attend"})
    frame["at"] = at
    return frame[frame["at"] < clock.end]


def _finish_visits(
    rng: np.random.Generator, places: Places, clock: Clock, visits: pd.DataFrame, seed: int
) -> pd.DataFrame:
    """Positions (GPS noise; a few far away), distance to the building, notes, when the server got them (some
    after a while offline), ids; in time order."""
    visits = visits.sort_values(["at", "household", "role", "kind"], kind="stable", ignore_index=True)
    n = len(visits)
    household = visits["household"].to_numpy(int)
    at = visits["at"].to_numpy(np.int64)
    lon, lat = places.hh_lon[household], places.hh_lat[household]
    far_rate = 0.004 + 0.03 * rng.beta(1.2, 4.0, len(places.grid_ref))  # a few workers log from elsewhere
    far = rng.random(n) < far_rate[places.household_grid[household]]
    east, north = rng.normal(0, GPS_SD_M, n), rng.normal(0, GPS_SD_M, n)
    angle, away = rng.random(n) * 2 * np.pi, 250 + rng.random(n) * 1000
    east = np.where(far, away * np.cos(angle), east)
    north = np.where(far, away * np.sin(angle), north)
    lon, lat = places.offset(lon, lat, east, north)
    distance = places.distance_to_building(lon, lat, places.hh_building[household])
    notes = _visit_notes(rng, clock, visits["kind"].to_numpy(), household, at, places)
    notes = np.where(distance > FAR_M, np.array(FAR_NOTES, object)[rng.integers(0, len(FAR_NOTES), n)], notes)
    offline = rng.random(n) < 0.12
    delay = np.where(offline, HOUR + rng.random(n) * 9 * HOUR, 5 + rng.random(n) * 300).astype(np.int64)
    received = np.minimum(at + delay, clock.end - 1)
    out = pd.DataFrame(
        {
            "client_id": client_ids(seed, clock.until, "visit", n),
            "household_ref": places.hh_ref[household],
            "grid_ref": places.grid_ref[places.household_grid[household]],
            "role": visits["role"].to_numpy(object),
            "kind": visits["kind"].to_numpy(object),
            "visited_at": clock.stamps(at),
            "received_at": clock.stamps(received),
            "lon": lon,
            "lat": lat,
            "distance_m": np.round(distance, 1),
            "far": distance > FAR_M,
            "notes": notes,
        }
    )
    return out[VISIT_COLUMNS]


def _visit_notes(
    rng: np.random.Generator, clock: Clock, kind: np.ndarray, household: np.ndarray, at: np.ndarray, places: Places
) -> np.ndarray:
    """A phrase of the visit's kind; now and then one of the season or of the household's situation."""
    n = len(kind)
    notes = np.full(n, "", dtype=object)
    for name, phrases in VISIT_NOTES.items():
        mask = kind == name
        notes[mask] = np.array(phrases, object)[rng.integers(0, len(phrases), mask.sum())]
    routine = kind == "routine"
    month = clock.month(clock.day_of(at))
    season = pd.Series(month).map(SEASON_NOTES).to_numpy(object)
    use = routine & pd.notna(season) & (rng.random(n) < 0.2)
    notes[use] = season[use]
    for tag, phrase in TAG_NOTES.items():
        use = routine & places.tags[household, TAGS.index(tag)] & (rng.random(n) < 0.3)
        notes[use] = phrase
    return notes


def _cases(cases: pd.DataFrame, ids: np.ndarray, places: Places, clock: Clock, columns: list[str]) -> pd.DataFrame:
    """Cases with their client ids, places by source id, times as timestamps, a duplicate naming its original's
    client id."""
    if cases.empty:
        return pd.DataFrame(columns=columns)
    out = cases.assign(
        client_id=ids,
        grid_ref=_refs(places.grid_ref, cases["grid"]),
        building_ref=_refs(places.b_ref, cases["building"]),
        household_ref=_refs(places.hh_ref, cases["household"]),
        hotspot=cases["spot"],
    )
    if "duplicate_of" in out:
        out["duplicate_of"] = _refs(ids, out["duplicate_of"])
    for column in [c for c in columns if c.endswith("_at") or c == "deadline"]:
        values = out[column].to_numpy(dtype=float)
        stamps = clock.stamps(np.nan_to_num(values, nan=0).astype(np.int64))
        out[column] = stamps.where(~np.isnan(values), pd.NaT)
    return out[columns]


def _refs(refs: np.ndarray, index: pd.Series) -> np.ndarray:
    """Indexes to source ids (-1: None)."""
    i = index.to_numpy(dtype=np.int64)
    return or_none(i >= 0, refs[np.maximum(i, 0)])


def _steps(steps: pd.DataFrame, ids: np.ndarray, clock: Clock) -> pd.DataFrame:
    if steps.empty:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    out = steps.assign(case_client_id=ids[steps["case"].to_numpy(int)], at=clock.stamps(steps["at"].to_numpy()))
    return out[HISTORY_COLUMNS]
