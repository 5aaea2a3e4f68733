"""The sample's year of field work (gis/sample/_history.py): determinism, nothing on or after `until`, visits that
follow the rules with misses and weekly rhythm, hazards with seasons and hot spots, requests with ratings and
duplicates, and case histories that add up."""

import os
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gis.sample import CHINA, History, SampleArea, generate_history, generate_sample
from gis.sample._places import metres_per_degree
from tests.field_work import default_rules, hazard_categories, services

UNTIL = date(2025, 11, 20)
SEED = 20241122
END = pd.Timestamp(datetime(UNTIL.year, UNTIL.month, UNTIL.day, tzinfo=CHINA))
START = END - pd.Timedelta(days=365)


def history_of(area: SampleArea, until: date = UNTIL, seed: int = SEED, rules: pd.DataFrame | None = None) -> History:
    return generate_history(
        area,
        until=until,
        seed=seed,
        rules=default_rules() if rules is None else rules,
        hazard_categories=hazard_categories(),
        services=services(),
    )


@pytest.fixture(scope="module")
def area() -> SampleArea:
    return generate_sample()


@pytest.fixture(scope="module")
def history(area: SampleArea) -> History:
    return history_of(area)


@pytest.fixture(scope="module")
def streams(area: SampleArea, history: History) -> pd.DataFrame:
    """Every (household, role, kind) the default rules ask for, its interval and its last visit before `until`."""
    tags = area.households[["source_id", "tags"]].explode("tags").dropna()
    asked = tags.merge(default_rules(), left_on="tags", right_on="tag")
    asked = asked.groupby(["source_id", "role", "kind"], as_index=False)["interval_days"].min()
    asked = asked.rename(columns={"source_id": "household_ref"})
    last = history.visits.groupby(["household_ref", "role", "kind"], as_index=False)["visited_at"].max()
    out = asked.merge(last, on=["household_ref", "role", "kind"], how="left")
    out["overdue"] = out["visited_at"].isna() | (out["visited_at"] + pd.to_timedelta(out["interval_days"], "D") < END)
    return out


def local(times: pd.Series) -> pd.Series:
    return times.dt.tz_convert("Asia/Shanghai")


def test_same_seed_and_until_give_identical_frames_and_another_day_another_year(area, history):
    again = history_of(area)
    for name in ("visits", "hazards", "hazard_history", "requests", "request_history", "hotspots"):
        pd.testing.assert_frame_equal(getattr(history, name), getattr(again, name), obj=name)
    later = history_of(area, until=UNTIL + timedelta(days=1))
    assert later.visits["visited_at"].max() > history.visits["visited_at"].max()
    assert not set(later.visits["client_id"]) & set(history.visits["client_id"])  # ids name the day of the load


DIGEST = """
import hashlib
import pandas as pd
from tests.gis.test_sample_history import history_of
from gis.sample import generate_sample
h = history_of(generate_sample(scale=0.3))
frames = (h.visits, h.hazards, h.hazard_history, h.requests, h.request_history)
rows = b"".join(pd.util.hash_pandas_object(f.astype(str)).to_numpy().tobytes() for f in frames)
print(hashlib.sha256(rows).hexdigest())
"""


def test_the_same_frames_in_another_process_whatever_its_string_hashes():
    """Nothing may follow the order of a set of strings, which changes from process to process."""
    root = Path(__file__).resolve().parents[2]

    def digest(hash_seed: str) -> str:
        env = os.environ | {"PYTHONHASHSEED": hash_seed}
        run = subprocess.run([sys.executable, "-c", DIGEST], cwd=root, env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    assert digest("1") == digest("2")


def test_nothing_happens_on_or_after_until_nor_before_the_year(history):
    times = [
        history.visits["visited_at"],
        history.visits["received_at"],
        history.hazard_history["at"],
        history.request_history["at"],
        *(history.hazards[c].dropna() for c in ("reported_at", "updated_at", "closed_at")),
        *(history.requests[c].dropna() for c in ("requested_at", "completed_at", "closed_at", "updated_at")),
    ]
    for column in times:
        assert column.max() < END and column.min() >= START
    assert history.visits["visited_at"].max() > END - pd.Timedelta(days=3)  # the year runs up to `until`


def test_client_ids_are_unique_uuid5(history):
    for frame in (history.visits, history.hazards, history.requests):
        ids = frame["client_id"]
        assert ids.is_unique
        assert {uuid.UUID(i).version for i in ids.sample(200, random_state=1)} == {5}


def test_volumes_per_resident(area, history):
    residents = int(area.households["size"].sum())
    assert 0.04 < len(history.hazards) / residents < 0.06  # hazards: a quarter of the requests' rate
    assert 0.18 < len(history.requests) / residents < 0.23  # ../shared/domain.md §5: ~0.2 a resident a year
    # the 三必到五必访 rules ask ~3 visits a resident a year here (a weekly visit to every 独居老人 household)
    assert 2.0 < len(history.visits) / residents < 4.0


def test_visits_follow_the_rules_roles_and_intervals(history, streams):
    ruled = history.visits[history.visits["kind"].isin(["routine", "care"])]
    keys = ["household_ref", "role", "kind"]
    asked = ruled.merge(streams[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    assert (asked["_merge"] == "both").all()  # no routine or care visit that no rule asks for
    assert set(history.visits["role"]) <= {"grid_worker", "community_secretary", "street_leader", "party_member"}
    gaps = ruled.sort_values("visited_at").groupby(keys)["visited_at"].diff().dt.total_seconds() / 86_400
    interval = ruled[keys].merge(streams, on=keys, how="left")["interval_days"].to_numpy()
    ratio = pd.Series(gaps.to_numpy() / interval).dropna()
    assert 0.95 < ratio.median() < 1.1  # roughly every interval, with jitter
    assert (ratio > 1.6).mean() > 0.05  # and misses: a gap of two intervals


def test_misses_differ_by_grid_and_some_households_are_overdue_at_until(history, streams):
    assert 0.08 < streams["overdue"].mean() < 0.35
    assert streams.loc[streams["interval_days"] == 7, "overdue"].sum() > 20  # the due lists have work in them
    weekly = history.visits[(history.visits["kind"] == "routine") & (history.visits["role"] == "grid_worker")]
    per_household = weekly.groupby(["grid_ref", "household_ref"]).size()
    per_grid = per_household.groupby("grid_ref").median()
    assert per_grid.max() - per_grid.min() >= 6  # some grid workers miss far more than others


def test_visits_are_on_weekdays_in_working_hours(history):
    at = local(history.visits["visited_at"])
    weekday = at.dt.day_of_week
    per_weekday, per_weekend = (weekday < 5).sum() / 5, (weekday >= 5).sum() / 2
    assert per_weekday > 2.5 * per_weekend > 0
    hour = at.dt.hour + at.dt.minute / 60
    assert hour.between(8, 21.5).all()
    party = history.visits["role"] == "party_member"
    assert (hour[party] >= 18).mean() > 0.2 > (hour[~party] >= 18).mean()  # party members also come after work


def test_far_visits_are_flagged_and_few(history):
    visits = history.visits
    assert (visits["far"] == (visits["distance_m"] > 200)).all()
    assert 0.002 < visits["far"].mean() < 0.05
    assert visits.loc[~visits["far"], "distance_m"].quantile(0.95) < 25


def test_festival_help_and_attend_visits(history, area):
    help_ = history.visits[history.visits["kind"] == "help"]
    hardship = set(area.households.loc[area.households["tags"].map(lambda t: "hardship" in t), "source_id"])
    assert len(help_) and set(help_["household_ref"]) <= hardship
    attend = history.visits[history.visits["kind"] == "attend"]
    asked = history.requests[history.requests["service_code"].isin(["dispute", "security"])]
    assert len(attend) and set(attend["household_ref"]) <= set(asked["household_ref"].dropna())


def test_a_communitys_own_rule_replaces_the_default(area, history):
    community = area.grids["community_ref"].iloc[0]
    own = pd.DataFrame(
        [
            {"tag": "elderly_alone", "role": "grid_worker", "interval_days": 28, "kind": "routine", "active": True},
            {"tag": "disabled", "role": "party_member", "interval_days": 30, "kind": "routine", "active": False},
        ]
    ).assign(community_ref=community, label=None)
    changed = history_of(area, rules=pd.concat([own, default_rules()], ignore_index=True))
    grids = set(area.grids.loc[area.grids["community_ref"] == community, "source_id"])

    def weekly_gap(h: History, inside: bool) -> float:
        v = h.visits[(h.visits["role"] == "grid_worker") & (h.visits["kind"] == "routine")]
        v = v[v["grid_ref"].isin(grids) == inside].sort_values("visited_at")
        return float(v.groupby("household_ref")["visited_at"].diff().dt.days.median())

    assert weekly_gap(changed, inside=True) > 20 and weekly_gap(history, inside=True) < 10
    assert weekly_gap(changed, inside=False) < 10
    disabled = set(area.households.loc[area.households["tags"].map(lambda t: t == ["disabled"]), "source_id"])
    party = changed.visits[(changed.visits["role"] == "party_member") & changed.visits["grid_ref"].isin(grids)]
    assert not set(party["household_ref"]) & disabled  # the community turned that rule off


def test_hazard_seasons_and_weekly_rhythm(history):
    h = history.hazards
    month = local(h["reported_at"]).dt.month
    flooding = month[h["category"] == "flooding"]
    assert flooding.isin([6, 7, 8]).mean() > 0.75
    for category in ("gas", "electric"):
        m = month[h["category"] == category]
        assert m.isin([12, 1, 2]).sum() > 1.5 * m.isin([6, 7, 8]).sum()
    weekday = local(h["reported_at"]).dt.day_of_week
    assert (weekday < 5).sum() / 5 > 2 * (weekday >= 5).sum() / 2
    counts = h["category"].value_counts()
    assert counts["fire_lane"] > 3 * counts["gas"] and counts["sanitation"] > 3 * counts["gas"]


def _within(frame: pd.DataFrame, lon: float, lat: float, radius: float) -> np.ndarray:
    east, north = metres_per_degree(lat)
    return np.hypot((frame["lon"] - lon) * east, (frame["lat"] - lat) * north).to_numpy() < radius


def test_hazards_cluster_around_the_hot_spots(area, history):
    hazards, spots = history.hazards, history.hotspots
    lon0, lat0, lon1, lat1 = area.streets.total_bounds
    east, north = metres_per_degree((lat0 + lat1) / 2)
    area_m2 = (lon1 - lon0) * east * (lat1 - lat0) * north
    background = len(hazards) / area_m2
    for spot in spots[spots["kind"].isin(["village", "market"])].itertuples():
        radius = 1.5 * spot.sigma_m
        near = _within(hazards, spot.lon, spot.lat, radius).sum()
        assert near / (np.pi * radius**2) > 4 * background, spot
    drawn = hazards["hotspot"] >= 0
    assert 0.35 < drawn.mean() < 0.65
    flooding = hazards[hazards["category"] == "flooding"]
    assert (flooding["hotspot"].map(spots["kind"]) == "lowland").mean() > 0.6


def _check_histories(cases: pd.DataFrame, steps: pd.DataFrame, final: tuple[str, ...]) -> pd.DataFrame:
    """Versions 1..n in time order, each from the state before; the case's state and version are its last row's;
    closed_at is set in the `final` states (as the workflows set it)."""
    steps = steps.sort_values(["case_client_id", "version"])
    by_case = steps.groupby("case_client_id")
    assert (by_case["version"].transform(lambda v: (v == np.arange(1, len(v) + 1)).all())).all()
    assert (by_case["at"].diff().dropna() >= pd.Timedelta(0)).all()
    previous = by_case["to_state"].shift()
    assert (steps["from_state"].isna() == (steps["version"] == 1)).all()
    assert (steps["from_state"].dropna() == previous.dropna()).all()
    last = by_case.tail(1).set_index("case_client_id")
    c = cases.set_index("client_id")
    assert (c["state"] == last.loc[c.index, "to_state"]).all()
    assert (c["version"] == last.loc[c.index, "version"]).all()
    assert (c["updated_at"] == last.loc[c.index, "at"]).all()
    assert (c["closed_at"].notna() == c["state"].isin(final)).all()
    assert set(final) <= set(c["state"])
    return steps


def test_hazard_histories_add_up_and_deadlines_follow_the_categories(history):
    h, steps = history.hazards, _check_histories(history.hazards, history.hazard_history, ("closed", "rejected"))
    hours = hazard_categories().set_index("code")["deadline_hours"]
    extended = steps[steps["action"] == "extend"].groupby("case_client_id").size()
    assert (h["extensions"] == h["client_id"].map(extended).fillna(0)).all()
    expected = h["reported_at"] + pd.to_timedelta(h["category"].map(hours) * (1 + h["extensions"]), unit="h")
    assert (h["deadline"] == expected).all()
    states = h["state"].value_counts(normalize=True)
    assert states["closed"] > 0.85 and 0.01 < states["rejected"] < 0.08
    closed = h[h["state"] == "closed"]
    late = (closed["closed_at"] > closed["deadline"]).mean()
    assert 0.03 < late < 0.25  # most closed within the deadline, some overdue
    still_open = h[~h["state"].isin(["closed", "rejected"])]
    assert len(still_open) and (still_open["deadline"] < END).any() and (still_open["deadline"] >= END).any()
    assert {"send_back", "extend", "reject"} <= set(steps["action"])
    back = steps[steps["action"] == "send_back"]["version"].to_numpy()
    after = steps.set_index(["case_client_id", "version"])["action"]
    sent_back = steps.loc[steps["action"] == "send_back", ["case_client_id", "version"]]
    followed = [after.get((case, version + 1)) for case, version in sent_back.itertuples(index=False)]
    assert len(back) and set(followed) - {None} <= {"dispatch", "reject"}  # from sent_back: dispatch or reject


def test_request_histories_ratings_and_duplicates(history):
    r, steps = (
        history.requests,
        _check_histories(history.requests, history.request_history, ("closed", "rejected", "duplicate")),
    )
    hours = services().set_index("code")["deadline_hours"]
    assert (r["deadline"] == r["requested_at"] + pd.to_timedelta(r["service_code"].map(hours), unit="h")).all()
    rated = r["rating"].dropna()
    assert (rated.isin([4, 5])).mean() > 0.75 and (rated <= 2).sum() > 0
    closed = r[r["state"] == "closed"]
    assert 0.1 < closed["rating"].isna().mean() < 0.3  # some never rated: closed by the system
    assert (r["rating"].notna() == (r["client_id"].isin(steps.loc[steps["action"] == "rate", "case_client_id"]))).all()
    for column, state in (("dispatched_at", "dispatched"), ("completed_at", "completed")):
        reached = steps.loc[steps["to_state"] == state, "case_client_id"]
        assert (r[column].notna() == (r["client_id"].isin(reached) & (r["state"] != "submitted"))).all()
    assert {"decline", "duplicate", "reject", "rate", "close"} <= set(steps["action"])
    duplicates = r[r["duplicate_of"].notna()]
    assert (duplicates["state"] == "duplicate").all() and len(duplicates) > 0.02 * len(r)
    original = r.set_index("client_id").loc[duplicates["duplicate_of"]]
    assert (original["service_code"].to_numpy() == duplicates["service_code"].to_numpy()).all()
    lag = duplicates["requested_at"].reset_index(drop=True) - original["requested_at"].reset_index(drop=True)
    assert (lag > pd.Timedelta(0)).all() and (lag < pd.Timedelta(days=7)).all()
    east, north = metres_per_degree(duplicates["lat"].to_numpy())
    apart = np.hypot(
        (duplicates["lon"].to_numpy() - original["lon"].to_numpy()) * east,
        (duplicates["lat"].to_numpy() - original["lat"].to_numpy()) * north,
    )
    assert np.quantile(apart, 0.9) < 50
    assert r["state"].isin(["submitted", "dispatched", "accepted", "completed"]).any()  # still open at `until`


def test_closure_and_overdue_rates_differ_from_community_to_community(area, history):
    community = area.grids.set_index("source_id")["community_ref"]
    h = history.hazards[history.hazards["state"] == "closed"]
    late = (h["closed_at"] > h["deadline"]).groupby(h["grid_ref"].map(community)).mean()
    assert late.max() > 1.5 * late.min()  # the choropleth of overdue rates has something to show
    r = history.requests[history.requests["completed_at"].notna()]
    slow = (r["completed_at"] - r["requested_at"]).dt.total_seconds().groupby(r["grid_ref"].map(community)).median()
    assert slow.max() > 1.3 * slow.min()


def test_requests_come_from_households_or_public_places_with_their_rhythm(area, history):
    r = history.requests
    homes = r["household_ref"].notna()
    assert 0.75 < homes.mean() < 0.9
    assert r.loc[homes, "resident_ref"].notna().mean() > 0.99 and r.loc[homes, "building_ref"].notna().all()
    assert r.loc[~homes, "resident_ref"].isna().all()
    assert "requester_name" not in r and "requester_phone" not in r  # nobody's name or phone, not even fictional
    wishes = r[(r["service_code"] == "micro_wish") & homes]
    tagged = area.households.set_index("source_id").loc[wishes["household_ref"], "tags"]
    wishing = {"hardship", "left_behind_child", "elderly_alone", "disabled"}
    assert tagged.map(lambda t: bool(wishing & set(t))).mean() > 0.5
    weekday = local(r["requested_at"]).dt.day_of_week.value_counts()
    assert weekday[0] > 1.2 * weekday[6]
    month = local(r["requested_at"]).dt.month
    environment = month[r["service_code"] == "environment"]
    assert environment.isin([6, 7, 8]).sum() > 1.5 * environment.isin([12, 1, 2]).sum()
