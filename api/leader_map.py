"""The leader map (/maps/leader and `gridmap leader-map`): its parameters checked, the user's grids, and what
api.storage.leader and the KPI counts read, handed to gis (heat, hotspots) and maps.leader.

Scope: a street leader's or community secretary's grids (api.storage.kpis.user_grids, as GET /kpis), an admin's
every grid; `community_id` narrows it to one community wholly within them (else 404, as for one not stored).
The rates per grid are the KPIs' own counts (api.storage.kpis: request closure, hazard overdue at `as_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import folium
import geopandas as gpd
import pandas as pd

from api.errors import InvalidParameter, InvalidPeriod, NotFound
from api.ledgers import period
from api.ledgers.kpis import place_kpis
from api.ledgers.periods import CHINA, Period, china_today
from api.storage import Connection
from api.storage import kpis as kpis_db
from api.storage import leader as leader_db
from api.storage import maps as maps_db
from api.workflows.hazards import STATE_LABELS
from gis.heat import monday, weekly_heat
from gis.hotspots import hotspots
from maps.basemaps import BaseMap
from maps.leader import LeaderView, leader_map

# The stored layers the page draws (api.map_cache); the case tables have no counter: api.storage.leader's
# fingerprint stands for them.
LEADER_DRAWS = ("buildings", "communities", "grids", "walk_edges")
DEFAULT_DAYS = 365  # the last 12 months, today included
SEVERITY_LABELS = {"low": "低", "medium": "中", "high": "高"}
CATEGORY_MAX = 64
YEARS = (1900, 2200)  # as api.params.Instant


@dataclass(frozen=True)
class LeaderQuery:
    span: Period
    community_id: int | None
    category: str | None

    def key(self) -> tuple:
        return (self.span.first, self.span.last, self.community_id, self.category)


def _day(name: str, value: str | None) -> date | None:
    if value is None or value.strip() == "":
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidPeriod(f"{name} must be a day YYYY-MM-DD; got {value[:40]!r}") from None
    if not YEARS[0] <= day.year <= YEARS[1]:  # the edge years overflow when moved to UTC
        raise InvalidPeriod(f"{name} must be a day of the years {YEARS[0]}–{YEARS[1]}; got {value[:40]!r}")
    return day


def leader_query(
    first: str | None, last: str | None, community_id: str | None, category: str | None, today: date | None = None
) -> LeaderQuery:
    """The page's query parameters as given (strings: the filter form sends empty ones for 'all'), checked: days
    YYYY-MM-DD, from ≤ to, at most a year (default: the 12 months up to today, China time)."""
    to = _day("to", last) or today or china_today()
    start = _day("from", first) or to - timedelta(days=DEFAULT_DAYS - 1)
    community = None
    if community_id is not None and community_id.strip() != "":
        text = community_id.strip()
        if not (text.isascii() and text.isdigit() and 0 < len(text) <= 18 and int(text) > 0):
            raise InvalidParameter(f"community_id must be a stored community's id; got {community_id[:40]!r}")
        community = int(text)
    cat = None if category is None or category.strip() == "" else category.strip()
    if cat is not None and len(cat) > CATEGORY_MAX:
        raise InvalidParameter(f"category is at most {CATEGORY_MAX} characters")
    return LeaderQuery(period(start, to), community, cat)


def scope_grids(
    conn: Connection, user_id: int, *, admin: bool, community_id: int | None
) -> tuple[list[int], list[int]]:
    """The user's grids, and those the map covers: all of them, or the community's when it lies wholly within
    them (else 404, as for a community not stored)."""
    mine = kpis_db.user_grids(conn, user_id, admin=admin)
    if community_id is None:
        return sorted(mine), sorted(mine)
    grids = leader_db.community_grids(conn, community_id)
    if grids is None or not grids or not grids <= mine:
        raise NotFound(f"no community {community_id}")
    return sorted(mine), sorted(grids)


def check_category(categories: pd.DataFrame, category: str | None) -> None:
    if category is not None and category not in set(categories["code"]):
        codes = ", ".join(categories["code"])
        raise InvalidParameter(f"category must be one of {codes}; got {category!r}")


def grid_frame(conn: Connection, grid_ids: list[int], span: Period, as_of: datetime) -> gpd.GeoDataFrame:
    """The grids with the KPIs' request and hazard counts over the period."""
    grids = leader_db.scope_grids(conn, grid_ids)
    counts = kpis_db.kpi_counts(
        conn, "grid", grid_ids, span.start, span.end, span.days, as_of, families=("hazards", "requests")
    )
    rows = []
    for grid_id in grids["grid_id"]:
        kpi = place_kpis(None, counts["hazards"].get(int(grid_id)), counts["requests"].get(int(grid_id)))
        rows.append(
            {
                "requests_counted": kpi["requests"]["counted"],
                "requests_closed": kpi["requests"]["closed"],
                "hazards_reported": kpi["hazards"]["reported"],
                "hazards_overdue": kpi["hazards"]["overdue"],
            }
        )
    columns = ["requests_counted", "requests_closed", "hazards_reported", "hazards_overdue"]
    return grids.join(pd.DataFrame(rows, index=grids.index, columns=columns))


def _local_days(times: pd.Series) -> list[date]:
    return [t.date() for t in pd.to_datetime(times, utc=True).dt.tz_convert(CHINA)]


def leader_map_from_db(
    conn: Connection,
    grid_ids: list[int],
    query: LeaderQuery,
    *,
    tiles: str | BaseMap,
    asset_base_url: str | None,
    form: bool,
    as_of: datetime | None = None,
    user_grids: list[int] | None = None,
) -> folium.Map:
    """The leader map of `grid_ids` for `query` (checked by `leader_query`; the category is checked here). The
    filter form offers the communities of `user_grids` (default `grid_ids`)."""
    as_of = as_of or datetime.now(UTC)
    span = query.span
    categories = leader_db.categories(conn)
    check_category(categories, query.category)
    grids = grid_frame(conn, grid_ids, span, as_of)
    requests = leader_db.request_points(conn, grid_ids, span.start, span.end, query.category)
    heat = weekly_heat(requests.geometry, pd.Series(_local_days(requests["requested_at"])), span.first, span.last)
    spots = hotspots(requests.geometry, grids.geometry)
    hazards = leader_db.hazard_points(conn, grid_ids, span.start, span.end)
    hazards["state_label"] = hazards["state"].map(STATE_LABELS).fillna(hazards["state"])
    hazards["severity_label"] = hazards["severity"].map(SEVERITY_LABELS).fillna(hazards["severity"])
    hazards["week"] = [f"{monday(d).isoformat()} 当周" for d in _local_days(hazards["reported_at"])]
    hidden = leader_db.hazards_at_households(conn, grid_ids, span.start, span.end)
    communities = leader_db.scope_communities(conn, user_grids if user_grids is not None else grid_ids)
    names = dict(communities)
    view = LeaderView(
        first=span.first,
        last=span.last,
        category=query.category,
        community_id=query.community_id,
        categories=list(categories.itertuples(index=False, name=None)),
        communities=communities,
        scope_label=names.get(query.community_id, "") if query.community_id else "辖区",
        form=form,
    )
    return leader_map(
        grids=grids,
        heat=heat,
        spots=spots,
        hazards=hazards,
        hidden_hazards=hidden,
        view=view,
        tiles=tiles,
        asset_base_url=asset_base_url,
        osm_data=maps_db.osm_source(conn),
    )
