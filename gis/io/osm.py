"""Read an OpenStreetMap file (.osm XML or .osm.pbf) into the project's layers, without a database.

`read_osm` makes one pass over the file with pyosmium (plus the short relation pre-pass that area assembly needs)
and returns GeoDataFrames in EPSG:4326 with the columns of docs/layers.md; the importer adds `source`.

Walkable ways (docs/design.md §5.5; the rule the test data's reference counts use, so they can be checked):
``highway=*`` except motorway(_link), trunk(_link), construction, proposed, raceway, bus_guideway, platform,
elevator, abandoned, razed, disused; and except ``foot=no``, or ``access=no`` without ``foot=yes|designated|
permissive``. ``access=private`` stays walkable (compound lanes are private, residents walk them).
Exception: a motorway/trunk(_link) *is* walkable when it is tagged ``sidewalk=both|left|right|yes`` or
``foot=yes|designated|permissive`` (urban "trunk" roads in China often have sidewalks). ``sidewalk=separate`` does
not count: the sidewalk is then its own footway. No such road exists in the shared test files, so the reference
counts are unchanged by this exception.

Service points (nodes and areas; an area gets its centroid, or a point inside it when the centroid falls outside):

========================================================================  ==============
OSM tags                                                                  ``type``
========================================================================  ==============
amenity=community_centre                                                  party_center
amenity=clinic|doctors|hospital, or healthcare=* (except pharmacy)        clinic
amenity=kindergarten|childcare                                            kindergarten
amenity=school                                                            school
amenity=marketplace, or shop=supermarket|convenience|greengrocer          market
amenity=police                                                            police
amenity=social_facility with social_facility:for=senior, or nursing_home  elderly_care
leisure=sports_centre|pitch|fitness_centre|fitness_station                sports
========================================================================  ==============

``office=government`` is *not* mapped to party_center: OSM does not say which offices are 党群服务中心, and
``red_post`` has no OSM tag; those service points come from other sources.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import osmium
import pandas as pd
import shapely
from osmium.filter import EntityFilter, KeyFilter, TagFilter
from pyproj import Geod
from tqdm import tqdm

from gis.errors import OsmReadError

__all__ = ["OsmExtract", "is_walkable", "read_osm", "service_type"]

CRS = "EPSG:4326"
Tags = Mapping[str, str] | osmium.osm.TagList  # a plain dict in tests, osmium's tag list when reading
GEOD = Geod(ellps="WGS84")
NOT_WALKABLE = frozenset(
    "motorway motorway_link trunk trunk_link construction proposed raceway bus_guideway platform elevator "
    "abandoned razed disused".split()
)
FAST_ROADS = frozenset({"motorway", "motorway_link", "trunk", "trunk_link"})
FOOT_OK = frozenset({"yes", "designated", "permissive"})
SIDEWALK_YES = frozenset({"both", "left", "right", "yes"})
_POINT_KEYS = ("amenity", "shop", "leisure", "healthcare")
_AREA_KEYS = ("building", "landuse", *_POINT_KEYS)
_UNDEFINED = 2**31 - 1  # osmium's fixed-point coordinate of a node that is not in the file
_PRECISION = 1e7  # osmium's fixed-point coordinates are degrees * 1e7


@dataclass
class OsmExtract:
    """The layers read from one OSM file (EPSG:4326), plus whole-file totals for checking an import."""

    nodes: gpd.GeoDataFrame
    edges: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    service_points: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    walkable_km: float
    walkable_ways: int
    self_loops_dropped: int = 0  # zero-length edges from a node repeated in a row; their length is 0


def is_walkable(tags: Tags) -> bool:
    """Whether people walk along a way with these tags (module docstring: rule and motorway/trunk exception)."""
    highway = tags.get("highway")
    if highway is None:
        return False
    foot = tags.get("foot")
    if foot == "no" or (tags.get("access") == "no" and foot not in FOOT_OK):
        return False
    if highway in NOT_WALKABLE:
        return highway in FAST_ROADS and (tags.get("sidewalk") in SIDEWALK_YES or foot in FOOT_OK)
    return True


def service_type(tags: Tags) -> str | None:
    """The service point `type` for OSM tags (table in the module docstring), or None."""
    amenity = tags.get("amenity")
    if amenity == "community_centre":
        return "party_center"
    if amenity in ("clinic", "doctors", "hospital") or tags.get("healthcare") not in (None, "no", "pharmacy"):
        return "clinic"
    if amenity in ("kindergarten", "childcare"):
        return "kindergarten"
    if amenity == "school":
        return "school"
    if amenity == "marketplace" or tags.get("shop") in ("supermarket", "convenience", "greengrocer"):
        return "market"
    if amenity == "police":
        return "police"
    if amenity == "nursing_home" or (amenity == "social_facility" and tags.get("social_facility:for") == "senior"):
        return "elderly_care"
    if tags.get("leisure") in ("sports_centre", "pitch", "fitness_centre", "fitness_station"):
        return "sports"
    return None


def _name(tags: Tags) -> str | None:
    return tags.get("name") or tags.get("name:zh")


def _floors(value: str | None) -> int | None:
    """`building:levels` as an int; OSM has values like '6', '6.0', '3;4' or 'many', so parse leniently."""
    try:
        floors = int(float((value or "").split(";")[0]))
    except ValueError:
        return None
    return floors if floors > 0 else None


def _open(path: str | Path) -> osmium.io.File:
    """Check the file and pick its format from its first bytes, so a misnamed file gets a clear error."""
    path = Path(path)
    if not path.exists():
        raise OsmReadError(f"{path}: no such OSM file")
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
    except OSError as exc:  # a directory, no permission, ...
        raise OsmReadError(f"{path}: cannot open the OSM file ({exc.strerror or exc})") from exc
    if not head:
        raise OsmReadError(f"{path}: the file is empty")
    if head[4:15] == b"\x0a\x09OSMHeader":
        return osmium.io.File(str(path), "pbf")
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return osmium.io.File(str(path), "osm")
    if head.startswith(b"\x1f\x8b"):
        return osmium.io.File(str(path), "osm.gz")
    if head.startswith(b"BZh"):
        return osmium.io.File(str(path), "osm.bz2")
    raise OsmReadError(f"{path}: not an OpenStreetMap XML or PBF file")


class _Scan:
    """What one pass over the file collects, as flat arrays and lists (no per-coordinate Python objects kept)."""

    def __init__(self) -> None:
        self.way_ids: list[int] = []
        self.highways: list[str] = []
        self.way_names: list[str | None] = []
        self.way_starts = array("q", [0])
        self.refs, self.xs, self.ys = array("q"), array("q"), array("q")
        self.buildings: list[tuple[str, str, str | None, int | None, str]] = []
        self.compounds: list[tuple[str, str | None, str]] = []
        self.points: list[tuple[str, str, str | None, str | None, str]] = []  # wkb is a point or an area
        self.point_is_area: list[bool] = []

    def way(self, way: osmium.osm.Way) -> None:
        tags = way.tags
        if not is_walkable(tags):
            return
        refs, xs, ys = self.refs, self.xs, self.ys
        for node in way.nodes:  # ~1 µs a node: pyosmium has no bulk accessor for way node lists
            location = node.location
            refs.append(node.ref)
            xs.append(location.x)
            ys.append(location.y)
        self.way_starts.append(len(self.refs))
        self.way_ids.append(way.id)
        self.highways.append(tags["highway"])
        self.way_names.append(_name(tags))

    def area(self, area: osmium.osm.Area, wkb: osmium.geom.WKBFactory) -> None:
        tags = area.tags
        kind = tags.get("building") or "no"
        kind_of_point = service_type(tags)
        is_compound = tags.get("landuse") == "residential" and _name(tags) is not None
        if kind == "no" and kind_of_point is None and not is_compound:
            return
        try:
            geometry = wkb.create_multipolygon(area)
        except RuntimeError:  # the assembler produced no rings (broken ring or missing nodes)
            return
        source_id = f"{'way' if area.from_way() else 'relation'}/{area.orig_id()}"
        if kind != "no":
            self.buildings.append((source_id, kind, _name(tags), _floors(tags.get("building:levels")), geometry))
        if kind_of_point is not None:
            self.points.append((source_id, kind_of_point, _name(tags), tags.get("opening_hours"), geometry))
            self.point_is_area.append(True)
        if is_compound:
            self.compounds.append((source_id, _name(tags), geometry))

    def node(self, node: osmium.osm.Node, wkb: osmium.geom.WKBFactory) -> None:
        kind_of_point = service_type(node.tags)
        if kind_of_point is not None and node.location.valid():
            tags = node.tags
            point = wkb.create_point(node)
            self.points.append((f"node/{node.id}", kind_of_point, _name(tags), tags.get("opening_hours"), point))
            self.point_is_area.append(False)


def _only_for(key_filter: KeyFilter, entities: osmium.osm.osm_entity_bits) -> KeyFilter:
    """`key_filter` applied to `entities` only (the others pass it untouched)."""
    key_filter.enable_for(entities)
    return key_filter


def _scan(file: osmium.io.File, label: str, progress: bool) -> _Scan:
    """Read the file: a probe for emptiness, osmium's relation pre-pass for areas, then one full pass.

    Only objects with a relevant key reach Python (osmium's filters drop the rest in C++), which is what keeps
    the pass fast; the progress bar therefore counts the selected objects, not all objects of the file.
    """
    for _ in osmium.FileProcessor(file, osmium.osm.NODE | osmium.osm.WAY):
        break  # the file has a node or way: the cheap check for an 'empty' export
    else:
        raise OsmReadError(f"{label}: the file contains no nodes or ways")
    processor = (
        osmium.FileProcessor(file)
        .with_locations("flex_mem")
        .with_areas(TagFilter(("type", "multipolygon")), KeyFilter(*_AREA_KEYS))
        .with_filter(EntityFilter(osmium.osm.NODE | osmium.osm.WAY | osmium.osm.AREA))
        .with_filter(_only_for(KeyFilter("highway"), osmium.osm.WAY))
        .with_filter(_only_for(KeyFilter(*_POINT_KEYS), osmium.osm.NODE))
        .with_filter(_only_for(KeyFilter(*_AREA_KEYS), osmium.osm.AREA))
    )
    scan, wkb = _Scan(), osmium.geom.WKBFactory()
    with tqdm(desc=f"reading {Path(label).name}", unit=" objects", disable=not progress, file=sys.stderr) as bar:
        for obj in processor:
            if isinstance(obj, osmium.osm.Way):
                scan.way(obj)
            elif isinstance(obj, osmium.osm.Area):
                scan.area(obj, wkb)
            elif isinstance(obj, osmium.osm.Node):
                scan.node(obj, wkb)
            bar.update()
    return scan


def _walk_network(scan: _Scan) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, float, int, int]:
    """Split the walkable ways at graph nodes, vectorised over the flat node arrays of all ways.

    A way node is a graph node when it ends a way or occurs ≥ 2 times among all walkable ways (a crossing, or a
    node repeated within one way). A node missing from the file cuts its way into pieces, so no straight segment
    is invented across the gap. Returns nodes, edges, walkable km, walkable ways, dropped zero-length self-loops.
    """
    refs = np.frombuffer(scan.refs, dtype=np.int64)
    xs, ys = np.frombuffer(scan.xs, dtype=np.int64), np.frombuffer(scan.ys, dtype=np.int64)
    starts = np.frombuffer(scan.way_starts, dtype=np.int64)
    way_of = np.repeat(np.arange(len(starts) - 1), np.diff(starts))
    valid = (xs != _UNDEFINED) & (ys != _UNDEFINED)
    breaks = np.zeros(len(refs), dtype=bool)
    breaks[starts[:-1][np.diff(starts) > 0]] = True
    breaks[1:] |= ~valid[:-1]
    piece = np.cumsum(breaks)[valid]
    refs, way_of = refs[valid], way_of[valid]
    lon, lat = xs[valid] / _PRECISION, ys[valid] / _PRECISION
    piece_size = np.bincount(piece, minlength=piece.max() + 1 if len(piece) else 0)
    keep = piece_size[piece] >= 2  # a piece of one node has no length
    refs, way_of, piece, lon, lat = refs[keep], way_of[keep], piece[keep], lon[keep], lat[keep]
    if len(refs) == 0:
        nodes = gpd.GeoDataFrame({"source_id": []}, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
        columns: dict[str, list] = {k: [] for k in ("source_id", "u_ref", "v_ref", "length_m", "highway", "name")}
        return nodes, gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS), 0.0, 0, 0

    same_piece = piece[1:] == piece[:-1]
    segment = np.where(same_piece, GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])[2], 0.0)
    along = np.concatenate([[0.0], np.cumsum(segment)])

    _, inverse, counts = np.unique(refs, return_inverse=True, return_counts=True)
    is_graph = (counts[inverse] >= 2) | np.r_[True, ~same_piece] | np.r_[~same_piece, True]
    marks = np.flatnonzero(is_graph)
    pair = piece[marks[:-1]] == piece[marks[1:]]
    a, b = marks[:-1][pair], marks[1:][pair]
    length = along[b] - along[a]
    loop = (refs[a] == refs[b]) & (length == 0.0)
    a, b, length = a[~loop], b[~loop], length[~loop]

    edge_way = way_of[a]
    first = np.r_[True, edge_way[1:] != edge_way[:-1]][: len(a)]
    rank = np.arange(len(a)) - np.maximum.accumulate(np.where(first, np.arange(len(a)), 0))
    sizes = b - a + 1
    point_index = np.repeat(a - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
    lines = shapely.linestrings(lon[point_index], lat[point_index], indices=np.repeat(np.arange(len(a)), sizes))
    way_ids = np.asarray(scan.way_ids, dtype=np.int64)
    edges = gpd.GeoDataFrame(
        {
            "source_id": [f"way/{w}/{r}" for w, r in zip(way_ids[edge_way].tolist(), rank.tolist(), strict=True)],
            "u_ref": [f"node/{r}" for r in refs[a].tolist()],
            "v_ref": [f"node/{r}" for r in refs[b].tolist()],
            "length_m": length,
            "highway": pd.Series(scan.highways, dtype=object).to_numpy()[edge_way],
            "name": pd.Series(scan.way_names, dtype=object).to_numpy()[edge_way],
        },
        geometry=lines,
        crs=CRS,
    )
    node_refs, first_at = np.unique(refs[marks], return_index=True)
    at = marks[first_at]
    nodes = gpd.GeoDataFrame(
        {"source_id": [f"node/{r}" for r in node_refs.tolist()]},
        geometry=shapely.points(lon[at], lat[at]),
        crs=CRS,
    )
    walkable_ways = len(np.unique(way_of))
    return nodes, edges, float(segment.sum()) / 1000.0, walkable_ways, int(loop.sum())


def _multipolygons(wkb: list[str]) -> np.ndarray:
    """WKB to valid MultiPolygons.

    osmium's assembler already rejects self-intersecting rings (a bow-tie building is dropped, not repaired), so
    `make_valid` is only a safety net for what it lets through, e.g. touching rings; empty if nothing is left.
    """
    geoms = shapely.from_wkb(wkb) if wkb else np.empty(0, dtype=object)
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms[bad] = shapely.make_valid(geoms[bad], method="structure", keep_collapsed=False)
    out = []
    for geom in geoms:
        if geom.geom_type != "MultiPolygon":
            parts = shapely.get_parts(geom)
            geom = shapely.MultiPolygon([p for p in parts if p.geom_type == "Polygon"])
        out.append(geom)
    return np.array(out, dtype=object)


def _frame(rows: list[tuple], columns: list[str], geometry: np.ndarray) -> gpd.GeoDataFrame:
    """A layer from the scanned rows (their last item, the WKB, is replaced by the converted geometry)."""
    data = pd.DataFrame(rows, columns=[*columns, "wkb"]).drop(columns="wkb")
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(geometry, crs=CRS), crs=CRS)


def read_osm(path: str | Path, *, progress: bool = False) -> OsmExtract:
    """Read an .osm or .osm.pbf file into walk nodes/edges, buildings, service points and named compounds.

    Parameters
    ----------
    path : the OSM file; its format is taken from its content, not its name.
    progress : show tqdm progress bars on stderr (reading, then building the layers).

    Raises
    ------
    OsmReadError : missing, empty, corrupt, truncated or non-OSM file (the message names the file).
    """
    file = _open(path)
    try:
        scan = _scan(file, str(path), progress)
    except RuntimeError as exc:  # libosmium reports XML/PBF errors and truncation as RuntimeError
        raise OsmReadError(f"{path}: cannot read OSM data ({exc})") from exc

    with tqdm(total=4, desc="building layers", disable=not progress, file=sys.stderr) as bar:
        nodes, edges, walkable_km, walkable_ways, loops = _walk_network(scan)
        bar.update()
        geoms = _multipolygons([row[-1] for row in scan.buildings])
        buildings = _frame(scan.buildings, ["source_id", "kind", "name", "floors"], geoms)
        buildings["floors"] = buildings["floors"].astype("Int64")
        buildings.insert(4, "households", pd.array([None] * len(buildings), dtype="Int64"))
        buildings = buildings[~buildings.geometry.is_empty].reset_index(drop=True)
        bar.update()
        shapes = shapely.from_wkb([row[-1] for row in scan.points]) if scan.points else np.empty(0, dtype=object)
        areas = np.asarray(scan.point_is_area, dtype=bool)
        if areas.any():
            centroid = shapely.centroid(shapes[areas])
            inside = shapely.contains(shapes[areas], centroid)
            shapes[areas] = np.where(inside, centroid, shapely.point_on_surface(shapes[areas]))
        service_points = _frame(scan.points, ["source_id", "type", "name", "hours"], shapes)
        service_points.insert(2, "level", None)
        bar.update()
        compounds = _frame(scan.compounds, ["source_id", "name"], _multipolygons([r[-1] for r in scan.compounds]))
        compounds = compounds[~compounds.geometry.is_empty].reset_index(drop=True)
        bar.update()
    return OsmExtract(nodes, edges, buildings, service_points, compounds, walkable_km, walkable_ways, loops)
