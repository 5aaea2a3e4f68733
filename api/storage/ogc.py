"""Pages of features for OGC API Features (api.routers.ogc): one collection is one table, a whitelist of its
columns and its geometry column. The caller's connection decides which rows exist: a personal table read under the
user's scope shows the rows row-level security lets through, and nothing else."""

from dataclasses import dataclass

from sqlalchemy import Connection, text

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Source:
    """Where a collection's features come from. `table`, `geometry` and `properties` are written into the SQL: they
    must come from a whitelist in the code, never from a request."""

    table: str
    properties: tuple[str, ...]
    geometry: str = "geom"


def _where(source: Source, bbox: BBox | None, params: dict, grid_ids: list[int] | None) -> str:
    where = ["TRUE"]
    if bbox is not None:
        # intersects, as OGC API Features asks, and by the GiST index
        where.append(f"ST_Intersects({source.geometry}, ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))")
        params.update(x0=bbox[0], y0=bbox[1], x1=bbox[2], y1=bbox[3])
    if grid_ids is not None:
        # the user's grids again on top of row-level security: a page is then one index range (docs/design.md §7)
        where.append("grid_id = ANY (CAST(:grid_ids AS bigint[]))")
        params["grid_ids"] = grid_ids
    return " AND ".join(where)


def _select(source: Source) -> str:
    props = ", ".join(f"'{c}', {c}" for c in source.properties)
    return (
        f"SELECT 'Feature' AS type, id, ST_AsGeoJSON({source.geometry}, 7)::json AS geometry, "
        f"json_build_object({props}) AS properties FROM {source.table}"
    )


def features_page(
    conn: Connection,
    source: Source,
    *,
    bbox: BBox | None,
    limit: int,
    offset: int,
    grid_ids: list[int] | None = None,
) -> tuple[list[dict], int]:
    """Up to `limit` features by id after skipping `offset`, within `bbox` (WGS84) if given, and how many match."""
    params: dict = {"limit": limit, "offset": offset}
    where = _where(source, bbox, params, grid_ids)
    features = conn.scalar(
        text(
            f"SELECT coalesce(json_agg(f), '[]'::json) FROM ({_select(source)} WHERE {where} "
            "ORDER BY id LIMIT :limit OFFSET :offset) f"
        ),
        params,
    )
    matched = conn.scalar(text(f"SELECT count(*) FROM {source.table} WHERE {where}"), params)
    return features, matched


def feature(conn: Connection, source: Source, feature_id: int) -> dict | None:
    """One feature by id (None when it is not stored or not visible to the connection's scope)."""
    return conn.scalar(text(f"SELECT row_to_json(f) FROM ({_select(source)} WHERE id = :id) f"), {"id": feature_id})


def extent(conn: Connection, source: Source, grid_ids: list[int] | None = None) -> BBox | None:
    """The bounding box of the visible features (None when there are none)."""
    params: dict = {}
    where = _where(source, None, params, grid_ids)
    row = conn.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            f"(SELECT ST_Extent({source.geometry}) AS e FROM {source.table} WHERE {where}) s"
        ),
        params,
    ).one()
    return None if row[0] is None else (row[0], row[1], row[2], row[3])
