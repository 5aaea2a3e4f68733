"""网格 grids: check the stored grids, or draw grids along the roads for a community that has none."""

from typing import Literal

import pandas as pd
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field, model_validator

from api.access import MANAGING, managed_grids, require_place
from api.deps import AggregatesConnectionDep, EngineDep, PrincipalDep, require_role
from api.errors import InvalidParameter
from api.openapi import GeoJSONResponse
from api.params import Households, Id
from api.storage import SYSTEM, transaction
from api.storage.grids import store_partition
from api.stored_grids import check_stored, partition_stored

router = APIRouter(prefix="/grids", tags=["grids 网格"], dependencies=[Depends(require_role(*MANAGING))])


@router.get("/check")
def check(
    conn: AggregatesConnectionDep,
    principal: PrincipalDep,
    community_id: Id | None = None,
    min_households: Households = 300,
    max_households: Households = 500,
    only_problems: bool = False,
) -> dict:
    """Per grid of the user's places: gaps, overlaps, crossing community lines, invalid or duplicate codes,
    households off target (household counts only)."""
    if min_households > max_households:
        raise InvalidParameter("min_households must not exceed max_households")
    require_place(conn, "community", community_id, principal)
    table = check_stored(conn, community_id=community_id, min_households=min_households, max_households=max_households)
    mine = managed_grids(conn, principal)
    if mine is not None:  # a gap of a community outside the user's places has no grid_id: it goes too
        table = table[pd.to_numeric(table["grid_id"], errors="coerce").isin(list(mine))]
    if only_problems:
        table = table[~table["ok"]]
    rows = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    for row in rows:
        if row["grid_id"] is not None:
            row["grid_id"] = int(row["grid_id"])
    return {"grids": len(table), "with_problems": int((~table["ok"]).sum()), "rows": rows}


class PartitionRequest(BaseModel):
    community_id: Id
    profile: Literal["DB11_15", "CJT213_14"] = "DB11_15"
    min_households: Households = 300
    max_households: Households = 500
    store: bool = Field(default=False, description="Store the grids (only for a community without grids)")

    @model_validator(mode="after")
    def _range(self) -> "PartitionRequest":
        if self.min_households > self.max_households:
            raise ValueError("min_households must not exceed max_households")
        return self


@router.post("/partition", response_class=GeoJSONResponse)
def partition(body: PartitionRequest, engine: EngineDep, principal: PrincipalDep) -> Response:
    """Grids of 300–500 households along the community's roads, numbered west→east, north→south (GeoJSON with
    per-grid households and notes). With ``store`` they are stored, linked and tiling-checked in one transaction."""
    with transaction(engine, scope=SYSTEM) as conn:  # household counts per block: no personal row leaves
        require_place(conn, "community", body.community_id, principal)
        result = partition_stored(
            conn,
            body.community_id,
            profile=body.profile,
            min_households=body.min_households,
            max_households=body.max_households,
        )
        if body.store:
            store_partition(conn, body.community_id, result)
    frame = result.grids.merge(result.stats, on="code")[
        ["code", "name", "seq", "households", "area_m2", "blocks", "note", "geometry"]
    ]
    frame["stored"] = body.store
    return Response(frame.to_json(drop_id=True), media_type="application/geo+json")
