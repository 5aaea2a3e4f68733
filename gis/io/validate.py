"""Checks the importers run on every layer: position in China, geometry presence/type/validity, grid tiling.

Each check returns its findings and raises `LayerError` when the layer cannot be imported; the message names the
feature (its index in the frame and, when present, its id property) and the problem. `gis.io.layers` prefixes the
file name. Areas are in m², computed in the metric CRS chosen from the data (`gis.crs.metric_crs`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from gis.crs import metric_crs
from gis.errors import LayerError

__all__ = [
    "CHINA_LAT",
    "CHINA_LON",
    "Gap",
    "Outside",
    "Overlap",
    "RepairReport",
    "RepairedFeature",
    "TilingReport",
    "UnknownCommunity",
    "check_geometries_present",
    "check_geometry_types",
    "check_grid_tiling",
    "check_in_china",
    "feature_label",
    "repair_geometries",
]

CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)
POLYGONAL = ("Polygon", "MultiPolygon")
MAX_LISTED = 5  # offenders named in one message


def feature_label(gdf: gpd.GeoDataFrame, index: Hashable, id_field: str | None = "id") -> str:
    """'feature 3 (id "g-7")': how messages name a feature (its number in the file, plus its id if it has one)."""
    label = f"feature {feature_number(index)}"
    if id_field and id_field in gdf.columns:
        value = gdf.at[index, id_field]
        if not _is_missing(value):
            label += f" ({id_field} {str(value)!r})"
    return label


def feature_number(index: Hashable) -> Hashable:
    """Messages count features from 1, as a person reading the file does (a frame's index counts from 0)."""
    return index + 1 if isinstance(index, int | np.integer) and not isinstance(index, bool) else index


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA or value is pd.NaT


def _list_features(gdf: gpd.GeoDataFrame, indexes: Iterable[Hashable], id_field: str | None) -> str:
    indexes = list(indexes)
    names = ", ".join(feature_label(gdf, i, id_field) for i in indexes[:MAX_LISTED])
    more = len(indexes) - MAX_LISTED
    return names + (f" and {more} more" if more > 0 else "")


# --- position ----------------------------------------------------------------------------------------------------


def check_in_china(gdf: gpd.GeoDataFrame, *, id_field: str | None = "id") -> tuple[float, float, float, float]:
    """Check every feature lies in China's extent (lon 73–136, lat 3–54); return the layer's bounds.

    A layer outside it almost always has an undeclared or wrong CRS: projected metres read as degrees, or
    latitude and longitude swapped. Missing or empty geometries are skipped (see `check_geometries_present`).
    """
    bounds = gdf.geometry.bounds
    present = bounds.notna().all(axis=1)
    b = bounds[present]
    inside = (b.minx >= CHINA_LON[0]) & (b.maxx <= CHINA_LON[1]) & (b.miny >= CHINA_LAT[0]) & (b.maxy <= CHINA_LAT[1])
    if not present.any():
        return (np.nan, np.nan, np.nan, np.nan)
    minx, miny, maxx, maxy = b.minx.min(), b.miny.min(), b.maxx.max(), b.maxy.max()
    if inside.all():
        return (float(minx), float(miny), float(maxx), float(maxy))
    if CHINA_LAT[0] <= minx and maxx <= CHINA_LAT[1] and CHINA_LON[0] <= miny and maxy <= CHINA_LON[1]:
        hint = "looks like latitude and longitude swapped"
    elif max(abs(minx), abs(maxx)) > 180 or max(abs(miny), abs(maxy)) > 90:
        hint = "looks like projected metres, not degrees"
    else:
        hint = "looks like projected metres, lat/lon swapped or the wrong CRS"
    outside = b.index[~inside.to_numpy()]
    raise LayerError(
        f"{len(outside)} of {int(present.sum())} features lie outside China (lon 73–136, lat 3–54), e.g. "
        f"{_list_features(gdf, outside, id_field)}; the layer spans x {minx:.6g}..{maxx:.6g}, "
        f"y {miny:.6g}..{maxy:.6g}: {hint}; declare the CRS with --crs"
    )


# --- geometry presence, type and validity --------------------------------------------------------------------


def check_geometries_present(gdf: gpd.GeoDataFrame, *, id_field: str | None = "id") -> None:
    """Raise `LayerError` naming the features whose geometry is missing (None) or empty."""
    geoms = np.asarray(gdf.geometry.values)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        raise LayerError(f"{_list_features(gdf, gdf.index[bad], id_field)}: geometry is missing or empty")


def check_geometry_types(
    gdf: gpd.GeoDataFrame, allowed: Iterable[str], *, id_field: str | None = "id", layer: str = "this layer"
) -> None:
    """Raise `LayerError` naming the features whose geometry type is not in `allowed` (e.g. Polygon, MultiPolygon)."""
    allowed = tuple(allowed)
    types = gdf.geometry.geom_type
    bad = ~types.isin(allowed) & types.notna()
    if bad.any():
        found = ", ".join(sorted(set(types[bad])))
        raise LayerError(
            f"{_list_features(gdf, gdf.index[bad.to_numpy()], id_field)}: geometry is {found}; "
            f"{layer} needs {' or '.join(allowed)}"
        )


@dataclass(frozen=True)
class RepairedFeature:
    """One repaired geometry. ``area_before_m2`` is shapely's area of the invalid shape (a bow-tie's is ~0)."""

    index: Hashable
    label: str
    reason: str
    area_before_m2: float
    area_after_m2: float

    @property
    def area_change_m2(self) -> float:
        return self.area_after_m2 - self.area_before_m2


@dataclass
class RepairReport:
    """What `repair_geometries` changed."""

    n_features: int
    repaired: list[RepairedFeature] = field(default_factory=list)
    method: str = "structure"
    dropped_parts: int = 0  # non-polygonal parts (lines, points) removed from polygon layers

    @property
    def n_repaired(self) -> int:
        return len(self.repaired)

    @property
    def area_change_m2(self) -> float:
        return float(sum(r.area_change_m2 for r in self.repaired))

    def summary(self) -> str:
        if not self.repaired:
            return f"all {self.n_features} geometries valid"
        return (
            f"repaired {self.n_repaired} of {self.n_features} invalid geometries (make_valid {self.method}), "
            f"area change {self.area_change_m2:+.1f} m²"
            + (f", dropped {self.dropped_parts} non-polygon parts" if self.dropped_parts else "")
        )


def _make_valid(geoms: np.ndarray) -> tuple[np.ndarray, str]:
    """make_valid with the 'structure' method (shapely ≥ 2.1, GEOS ≥ 3.10): rings are rebuilt as areas, and
    collapsed parts are dropped rather than kept as stray lines. Older versions fall back to 'linework'."""
    try:
        return shapely.make_valid(geoms, method="structure", keep_collapsed=False), "structure"
    except (TypeError, ValueError, shapely.errors.UnsupportedGEOSVersionError):
        return shapely.make_valid(geoms), "linework"


def _polygonal_part(geom: shapely.Geometry) -> tuple[shapely.Geometry, int]:
    """The polygons of a repaired geometry, and how many other parts were dropped."""
    if shapely.get_type_id(geom) in (3, 6):  # Polygon, MultiPolygon
        return geom, 0
    parts = shapely.get_parts(geom)
    polys = [p for p in parts if shapely.get_type_id(p) == 3]
    dropped = len(parts) - len(polys)
    if not polys:
        return shapely.Polygon(), dropped
    return (polys[0] if len(polys) == 1 else shapely.union_all(polys)), dropped


def repair_geometries(
    gdf: gpd.GeoDataFrame, *, polygonal: bool | None = None, id_field: str | None = "id"
) -> tuple[gpd.GeoDataFrame, RepairReport]:
    """Reject missing/empty geometries and repair invalid ones; return the repaired copy and a report.

    Parameters
    ----------
    polygonal : keep only the polygonal parts of repaired geometries (make_valid can return a GeometryCollection
        with lines); None means "if every geometry is a (Multi)Polygon". A repaired geometry that becomes empty
        is refused: the feature needs fixing at the source.
    """
    check_geometries_present(gdf, id_field=id_field)
    geoms = np.asarray(gdf.geometry.values)
    if polygonal is None:
        polygonal = bool(np.isin(shapely.get_type_id(geoms), (3, 6)).all())
    invalid = ~shapely.is_valid(geoms)
    report = RepairReport(n_features=len(gdf))
    if not invalid.any():
        return gdf.copy(), report
    before = geoms[invalid]
    reasons = shapely.is_valid_reason(before)
    after, report.method = _make_valid(before)
    if polygonal:
        fixed = [_polygonal_part(g) for g in after]
        after = np.array([g for g, _ in fixed], dtype=object)
        report.dropped_parts = sum(n for _, n in fixed)
    indexes = gdf.index[invalid]
    emptied = shapely.is_empty(after)
    if emptied.any():
        raise LayerError(
            f"{_list_features(gdf, indexes[emptied], id_field)}: geometry is invalid "
            f"({reasons[emptied][0]}) and nothing {'polygonal ' if polygonal else ''}is left after repair; "
            "fix it at the source"
        )
    if gdf.crs is None:
        raise LayerError("cannot measure the repair: the layer has no CRS")
    metric = metric_crs(gdf)
    area_before = gpd.GeoSeries(before, crs=gdf.crs).to_crs(metric).area.to_numpy()
    area_after = gpd.GeoSeries(after, crs=gdf.crs).to_crs(metric).area.to_numpy()
    for k, index in enumerate(indexes):
        report.repaired.append(
            RepairedFeature(
                index=index,
                label=feature_label(gdf, index, id_field),
                reason=str(reasons[k]),
                area_before_m2=float(area_before[k]),
                area_after_m2=float(area_after[k]),
            )
        )
    out = gdf.copy()
    values = np.asarray(out.geometry.values).copy()
    values[invalid] = after
    out = out.set_geometry(gpd.GeoSeries(values, index=out.index, crs=gdf.crs))
    return out, report


# --- grid tiling ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overlap:
    """Two grids of one community overlap (网格重叠)."""

    community: str
    grid_a: str
    grid_b: str
    area_m2: float
    location: tuple[float, float]  # lon, lat of a point in the overlap


@dataclass(frozen=True)
class Gap:
    """Part of a community no grid covers (网格空白), ignoring slivers below the tolerance."""

    community: str
    area_m2: float
    n_parts: int
    location: tuple[float, float]  # a point in the largest part


@dataclass(frozen=True)
class Outside:
    """A grid reaching outside its community (跨社区边界)."""

    community: str
    grid: str
    area_m2: float
    location: tuple[float, float]


@dataclass(frozen=True)
class UnknownCommunity:
    """A grid whose community reference matches no community."""

    grid: str
    community: str


@dataclass
class TilingReport:
    """Findings of `check_grid_tiling`: every grid belongs to one community and grids tile it exactly."""

    n_communities: int
    n_grids: int
    tolerance_m2: float
    overlaps: list[Overlap] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    outside: list[Outside] = field(default_factory=list)
    unknown: list[UnknownCommunity] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.overlaps or self.gaps or self.outside or self.unknown)

    @property
    def problems(self) -> list[str]:
        def at(loc: tuple[float, float]) -> str:
            return f"near ({loc[0]:.6f}, {loc[1]:.6f})"

        return (
            [
                f"grid {u.grid!r} refers to community {u.community!r}, which does not exist"
                if u.community
                else f"grid {u.grid!r} has no community"
                for u in self.unknown
            ]
            + [
                f"community {o.community!r}: grids {o.grid_a!r} and {o.grid_b!r} overlap by {o.area_m2:.1f} m² "
                f"{at(o.location)}"
                for o in self.overlaps
            ]
            + [
                f"community {g.community!r}: {g.area_m2:.1f} m² in {g.n_parts} part(s) not covered by any grid, "
                f"largest {at(g.location)}"
                for g in self.gaps
            ]
            + [
                f"community {o.community!r}: grid {o.grid!r} reaches {o.area_m2:.1f} m² outside the community "
                f"{at(o.location)}"
                for o in self.outside
            ]
        )


def _ids(gdf: gpd.GeoDataFrame, column: str) -> np.ndarray:
    """Ids as strings (so 7 and '7' match), or the index when the column is absent."""
    values = gdf[column] if column in gdf.columns else gdf.index.to_series()
    return np.array([None if _is_missing(v) else str(v) for v in values], dtype=object)


def check_grid_tiling(
    grids: gpd.GeoDataFrame,
    communities: gpd.GeoDataFrame,
    *,
    community_key: str = "community_ref",
    community_id: str = "source_id",
    grid_id: str = "source_id",
    tolerance_m2: float = 10.0,
) -> TilingReport:
    """Check that each community's grids tile it: no overlaps, no gaps, nothing outside (网格无缝无重叠).

    Parameters
    ----------
    grids : grid polygons; ``grids[community_key]`` holds the id of the grid's community.
    communities : community polygons, identified by ``communities[community_id]`` (unique).
    grid_id : column naming grids in findings (the index when absent).
    tolerance_m2 : overlaps, gap parts and outside areas smaller than this are digitising slivers and ignored.
    """
    if grids.crs is None or communities.crs is None:
        raise ValueError("grids and communities need a CRS to be measured")
    metric = metric_crs(communities)
    to_lonlat = Transformer.from_crs(metric, CRS(4326), always_xy=True)
    com_ids = _ids(communities, community_id)
    dup = pd.Series(com_ids).duplicated(keep=False).to_numpy()
    if dup.any():
        raise LayerError(f"community ids are not unique: {sorted(set(com_ids[dup]))[:MAX_LISTED]}")
    com_geoms = np.asarray(communities.geometry.to_crs(metric).values)
    grid_geoms = np.asarray(grids.geometry.to_crs(metric).values)
    grid_ids = _ids(grids, grid_id)
    grid_com = _ids(grids, community_key) if community_key in grids.columns else np.full(len(grids), None)
    report = TilingReport(n_communities=len(communities), n_grids=len(grids), tolerance_m2=tolerance_m2)

    def where(geom: shapely.Geometry) -> tuple[float, float]:
        point = shapely.point_on_surface(geom)
        lon, lat = to_lonlat.transform(point.x, point.y)
        return (round(float(lon), 7), round(float(lat), 7))

    known = set(com_ids)
    for gid, cid in zip(grid_ids, grid_com, strict=True):
        if cid not in known:
            report.unknown.append(UnknownCommunity(grid=str(gid), community=cid or ""))

    for cid, cgeom in zip(com_ids, com_geoms, strict=True):
        mine = grid_com == cid
        geoms, ids = grid_geoms[mine], grid_ids[mine]
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        pair = left < right
        left, right = left[pair], right[pair]
        inter = shapely.intersection(geoms[left], geoms[right])
        for a, b, geom, area in zip(left, right, inter, shapely.area(inter), strict=True):
            if area > tolerance_m2:
                report.overlaps.append(Overlap(cid, str(ids[a]), str(ids[b]), float(area), where(geom)))
        covered = shapely.union_all(geoms) if len(geoms) else shapely.Polygon()
        parts = shapely.get_parts(shapely.difference(cgeom, covered))
        areas = shapely.area(parts)
        big = areas >= tolerance_m2
        if big.any():
            largest = parts[big][np.argmax(areas[big])]
            report.gaps.append(Gap(cid, float(areas[big].sum()), int(big.sum()), where(largest)))
        outside = shapely.difference(geoms, cgeom)
        for gid, geom, area in zip(ids, outside, shapely.area(outside), strict=True):
            if area > tolerance_m2:
                report.outside.append(Outside(cid, str(gid), float(area), where(geom)))
    return report
