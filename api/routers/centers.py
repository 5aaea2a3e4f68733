"""党员中心户: run the assignment on the stored layers, read the per-grid load and the uncovered households.

Households are named by their id only: no names, phones, rooms or tags leave through these endpoints.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.access import MANAGING, managed_grids, require_place
from api.deps import ConnectionDep, EngineDep, PrincipalDep, SettingsDep, require_role
from api.params import Id, Offset
from api.storage.centers import grid_load, last_run
from api.storage.centers import uncovered as uncovered_households
from api.stored_centers import assign_and_store

router = APIRouter(prefix="/centers", tags=["centers 党员中心户"], dependencies=[Depends(require_role(*MANAGING))])


def _ids(frame, columns: list[str]) -> list[dict]:
    """Rows with ids as integers (the stored ids) and NaN as null."""
    out = []
    for row in frame[columns].itertuples(index=False):
        item: dict[str, object] = {}
        for name, value in zip(columns, row, strict=True):
            if value is None or (isinstance(value, float) and value != value):
                item[name] = None
            elif name.endswith("_id"):
                item[name] = int(value)
            else:
                item[name] = round(value, 1) if isinstance(value, float) else value
        out.append(item)
    return out


@router.post("/assign", dependencies=[Depends(require_role("admin"))])
def assign(
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    stable: bool = True,
    max_listed: Annotated[int, Query(ge=0, le=10000)] = 1000,
) -> dict:
    """Assign every household to a center household of its grid (exact min-cost flow, capacities kept), keeping
    the previous pairs where still possible (`stable`); store the result and report who moved and why. Admins
    only: a run covers every street."""
    run_id, run = assign_and_store(engine, stable=stable, settings=settings, by=(principal.user_id, principal.login))
    result = run.assignment
    moves = result.moves
    uncovered = result.uncovered
    suggested = run.suggestions.centers if run.suggestions is not None else None
    return {
        "run_id": run_id,
        "seconds": round(run.seconds, 2),
        "counts": run.counts,
        "moved": _ids(moves.head(max_listed), ["household_id", "previous_center_id", "center_id", "reason"]),
        "uncovered": _ids(uncovered.head(max_listed), ["household_id", "grid_id", "reason"]),
        "suggested_centers": []
        if suggested is None
        else _ids(suggested.head(max_listed), ["grid_id", "rank", "household_id", "covers", "walk_m"]),
    }


@router.get("/grids")
def grids(conn: ConnectionDep, principal: PrincipalDep, grid_id: Id | None = None) -> dict:
    """Per grid of the user's places: households, centers, capacity, assigned, uncovered and total walk of the
    stored run."""
    require_place(conn, "grid", grid_id, principal)
    mine = managed_grids(conn, principal)
    rows = [r for r in grid_load(conn, grid_id) if mine is None or r["grid_id"] in mine]
    run = last_run(conn)
    if run is not None and mine is not None:
        run = {key: run[key] for key in ("id", "computed_at", "seconds")}  # the run's counts span every street
    return {
        "run": None if run is None else {**run, "computed_at": run["computed_at"].isoformat()},
        "grids": [{**r, "walk_m": float(r["walk_m"])} for r in rows],
    }


@router.get("/uncovered")
def uncovered(
    conn: ConnectionDep,
    principal: PrincipalDep,
    grid_id: Id | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
    offset: Offset = 0,
) -> dict:
    """Households of the stored run that no center household looks after, with the reason."""
    require_place(conn, "grid", grid_id, principal)
    return {"households": uncovered_households(conn, grid_id, limit=limit, offset=offset)}
