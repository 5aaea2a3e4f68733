"""Grids (网格) on the stored layers: check them, or draw them for a community that has none.

gis.grids does the work (`check_grids`, `partition_community`) on what api.storage.grids reads; a partition is
stored by api.storage.grids.store_partition.
"""

from __future__ import annotations

import pandas as pd

from api.errors import GridsError, UnknownCommunity
from api.storage import Connection
from api.storage import grids as grids_db
from gis.errors import GridCodeError
from gis.grids import Partition, check_grids, partition_community


def check_stored(
    conn: Connection, *, community_id: int | None = None, min_households: int = 300, max_households: int = 500
) -> pd.DataFrame:
    """`check_grids` on the stored grids (of one community, or all), with household counts from the stored
    households; ``grid_id`` is the stored grid id. An unknown community is an `UnknownCommunity`."""
    grids = grids_db.read_grids(conn, community_id)
    communities = grids_db.read_communities(conn, community_id)
    if community_id is not None and not len(communities):
        raise UnknownCommunity(f"no community {community_id}")
    if not len(grids) and not len(communities):  # nothing stored yet: nothing to check
        return pd.DataFrame(columns=["grid_id", "community", "code", "households", "area_m2", "problems", "ok"])
    households = grids_db.read_household_points(conn, community_id)
    return check_grids(
        grids,
        communities,
        households=households,
        min_households=min_households,
        max_households=max_households,
    )


def partition_stored(
    conn: Connection,
    community_id: int,
    *,
    profile: str = "DB11_15",
    min_households: int = 300,
    max_households: int = 500,
) -> Partition:
    """Grids for one stored community from its roads and its buildings' households (nothing stored)."""
    communities = grids_db.read_communities(conn, community_id)
    if not len(communities):
        raise UnknownCommunity(f"no community {community_id}")
    community = communities.iloc[0]
    street_code = community["street_code"]
    if not street_code or not community["code"]:
        raise GridsError(
            f"community {community_id} needs its 3-digit code and a street with a 9-digit code to number grids"
        )
    roads = grids_db.read_roads(conn, community_id)
    buildings = grids_db.read_buildings(conn, community_id)
    try:
        return partition_community(
            communities.iloc[[0]].geometry,
            roads=roads,
            households=buildings,
            district_code=street_code[:6],
            street_code=street_code[6:],
            community_code=community["code"],
            profile=profile,
            community_ref=community["stored_source_id"],
            name_prefix=community["name"] or "",
            min_households=min_households,
            max_households=max_households,
            source=grids_db.PARTITION_SOURCE,
        )
    except GridCodeError as exc:  # e.g. more grids than the code's sequence can number: targets too small
        raise GridsError(f"community {community_id}: {exc}") from exc
