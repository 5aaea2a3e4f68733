"""Workload per grid and per grid worker (网格员): households, special-care households, center households.

Counts only: no household is named. Which tags make a household special-care and the flag rule are gis.workload's;
what an open endpoint may show of them (no per-tag counts, small counts suppressed, masked names) is api.privacy's.
"""

import json
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.access import MANAGING, managed_grids, require_place
from api.deps import ConnectionDep, PrincipalDep, require_role
from api.params import Id
from api.privacy import open_workload
from api.storage import Connection
from api.storage import workload as workload_db
from gis.workload import grid_workload, worker_workload

router = APIRouter(prefix="/workload", tags=["workload 工作量"], dependencies=[Depends(require_role(*MANAGING))])

FactorQuery = Annotated[float, Query(gt=1, le=10, description="Flag loads above factor × the median")]


def _grid_table(conn: Connection, factor: float) -> pd.DataFrame:
    households, grids, centers = workload_db.grid_inputs(conn)
    table = grid_workload(households, grids=grids, center_households=centers, factor=factor)
    return table.merge(grids.rename(columns={"source_id": "grid_ref"})[["grid_ref", "code"]], on="grid_ref")


def _json(frame: pd.DataFrame) -> Response:
    """Records with NaN as null (pandas' JSON writer does that; the ids go back to numbers)."""
    return Response(frame.to_json(orient="records", force_ascii=False), media_type="application/json")


@router.get("/grids")
def grids(
    conn: ConnectionDep, principal: PrincipalDep, factor: FactorQuery = 1.5, community_id: Id | None = None
) -> Response:
    """Per grid of the user's places: households, special-care households (per tag too), centers, load and the
    flag against the community median."""
    require_place(conn, "community", community_id, principal)
    table = _grid_table(conn, factor)
    if community_id is not None:
        table = table[table["community_ref"] == str(community_id)]
    mine = managed_grids(conn, principal)
    if mine is not None:
        table = table[table["grid_ref"].astype(int).isin(mine)]
    table = table.rename(columns={"grid_ref": "grid_id", "community_ref": "community_id"})
    for column in ("grid_id", "community_id"):
        table[column] = pd.to_numeric(table[column])
    return _json(open_workload(table))


@router.get("/workers")
def workers(conn: ConnectionDep, principal: PrincipalDep, factor: FactorQuery = 1.5) -> Response:
    """Per grid worker of the user's places: grids (shared ones split evenly), households, special care, centers,
    load and the flag (households outside the user's places are not counted)."""
    people = workload_db.grid_workers(conn)
    mine = managed_grids(conn, principal)
    if mine is not None:
        ours = {str(g) for g in mine}
        people = people[people["grid_refs"].map(lambda refs: bool(ours & {str(r) for r in refs}))]
    table = worker_workload(_grid_table(conn, factor), people, factor=factor)
    table = table.rename(columns={"worker_ref": "worker_id"})
    table["worker_id"] = pd.to_numeric(table["worker_id"])
    table["unknown_grids"] = table["unknown_grids"].map(json.dumps)
    return _json(open_workload(table))
