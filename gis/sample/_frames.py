"""The generated sample area as the layers of docs/layers.md: projection to WGS84, source ids and references."""

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer

from gis.sample._admin import Admin
from gis.sample._grids import Noder
from gis.sample._layout import Layout
from gis.sample._names import Names
from gis.sample._network import Walk
from gis.sample._people import tag_lists
from gis.sample._settings import CODE_PROFILES, SampleSettings
from gis.sample._sites import Sites

SOURCE = "sample"


@dataclass
class SampleArea:
    """The generated layers, each with the columns of docs/layers.md (EPSG:4326, source 'sample')."""

    streets: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    households: gpd.GeoDataFrame
    center_households: pd.DataFrame
    service_points: gpd.GeoDataFrame
    walk_nodes: gpd.GeoDataFrame
    walk_edges: gpd.GeoDataFrame
    grid_workers: pd.DataFrame
    residents: pd.DataFrame  # the fictional residents (gis/sample/_residents.py); stored without the ID number in clear


def local_crs(settings: SampleSettings) -> CRS:
    """The metric frame the area is generated in: azimuthal equidistant centred on the origin."""
    return CRS.from_proj4(
        f"+proj=aeqd +lat_0={settings.origin_lat} +lon_0={settings.origin_lon} +datum=WGS84 +units=m +no_defs"
    )


@dataclass
class Generated:
    """Everything generated in the local metric frame, before projection."""

    layout: Layout
    sites: Sites
    buildings: dict[str, np.ndarray]
    admin: Admin
    leaf_rects: list[tuple[float, ...]]
    grid_leaves: list[list[int]]
    grid_community: np.ndarray
    building_grid: np.ndarray
    walk: Walk
    people: dict[str, np.ndarray]
    size: np.ndarray
    tags: np.ndarray
    party: np.ndarray
    centers: np.ndarray
    capacity: np.ndarray
    workers: list[list[int]]
    residents: dict[str, np.ndarray]
    names: Names


def to_frames(settings: SampleSettings, g: Generated) -> SampleArea:
    """Project to WGS84 and assemble the layers with their source ids and references."""
    layout, sites, b, admin, walk, people = g.layout, g.sites, g.buildings, g.admin, g.walk, g.people
    leaf_rects, grid_leaves, grid_community = g.leaf_rects, g.grid_leaves, g.grid_community
    building_grid = g.building_grid
    size, tags, party, centers, capacity, workers = g.size, g.tags, g.party, g.centers, g.capacity, g.workers
    to_wgs = Transformer.from_crs(local_crs(settings), "EPSG:4326", always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    def frame(columns: dict, geometry=None) -> pd.DataFrame:
        columns = {"source": SOURCE, **columns}
        if geometry is None:
            return pd.DataFrame(columns)
        return gpd.GeoDataFrame(columns, geometry=geometry, crs="EPSG:4326")

    def ids(prefix: str, n: int) -> list[str]:
        return [f"{prefix}/{i}" for i in range(n)]

    def multi(polygons: np.ndarray) -> np.ndarray:
        return shapely.multipolygons(polygons, indices=np.arange(len(polygons)))

    noder = Noder(leaf_rects)

    def ring_polygons(rings: list[np.ndarray]) -> np.ndarray:
        coords = project(np.concatenate(rings))
        index = np.repeat(np.arange(len(rings)), [len(r) for r in rings])
        return multi(shapely.polygons(shapely.linearrings(coords, indices=index)))

    def rect_polygons(rects: list[tuple[float, ...]]) -> np.ndarray:
        return ring_polygons([noder.ring(r) for r in rects])

    def grid_polygons() -> np.ndarray:
        """One rectangle per grid, or the outline of a few (a stepped grid, or one that took in land without
        households), with every corner of its neighbours on its edges."""
        polygons = rect_polygons([leaf_rects[g[0]] for g in grid_leaves])
        for k, leaves in enumerate(grid_leaves):
            if len(leaves) > 1:
                outline = shapely.union_all(shapely.box(*np.array([leaf_rects[i] for i in leaves]).T))
                outline = shapely.simplify(outline, 0)  # drop collinear points; node() puts the corners back
                rings = [outline.exterior, *outline.interiors]
                shell, *holes = (project(noder.node(shapely.get_coordinates(r).tolist())) for r in rings)
                polygons[k] = shapely.MultiPolygon([shapely.Polygon(shell, holes)])
        return polygons

    def boxes(x0, y0, x1, y1) -> np.ndarray:
        return multi(shapely.transform(shapely.box(x0, y0, x1, y1), project))

    district = settings.district_code
    street_full = [district + c for c in admin.street_codes]
    street_ids = [f"street/{c}" for c in street_full]
    community_full = [street_full[s] + c for s, c in zip(admin.community_street, admin.community_codes, strict=True)]
    community_ids = [f"community/{c}" for c in community_full]
    streets = frame(
        {"source_id": street_ids, "code": street_full, "name": admin.street_names},
        rect_polygons([admin.rect(s, layout) for s in admin.streets]),
    )
    communities = frame(
        {
            "source_id": community_ids,
            "street_ref": [street_ids[s] for s in admin.community_street],
            "code": admin.community_codes,
            "name": admin.community_names,
        },
        rect_polygons([admin.rect(c, layout) for c in admin.communities]),
    )

    digits = CODE_PROFILES[settings.grid_code_profile]
    seq = np.zeros(len(grid_leaves), dtype=int)
    for c in np.unique(grid_community):
        members = np.flatnonzero(grid_community == c)
        seq[members] = np.arange(1, len(members) + 1)
    if seq.max() >= 10**digits:
        raise ValueError(f"a community has {seq.max()} grids, more than {settings.grid_code_profile} can number")
    seq_codes = [f"{s:0{digits}d}" for s in seq]
    grid_codes = [community_full[c] + s for c, s in zip(grid_community, seq_codes, strict=True)]
    grid_ids = np.array([f"grid/{c}" for c in grid_codes], dtype=object)
    grids = frame(
        {
            "source_id": grid_ids,
            "community_ref": [community_ids[c] for c in grid_community],
            "code": grid_codes,
            "code_profile": settings.grid_code_profile,
            "district_code": district,
            "street_code": [admin.street_codes[admin.community_street[c]] for c in grid_community],
            "community_code": [admin.community_codes[c] for c in grid_community],
            "seq_code": seq_codes,
            "name": [f"{admin.community_names[c]}第{s}网格" for c, s in zip(grid_community, seq, strict=True)],
        },
        grid_polygons(),
    )

    c = sites.compounds.get()
    compound_ids = np.array(ids("compound", len(c["name"])), dtype=object)
    compounds = frame({"source_id": compound_ids, "name": c["name"]}, boxes(c["x0"], c["y0"], c["x1"], c["y1"]))

    n_buildings = len(b["x0"])
    building_ids = np.array(ids("building", n_buildings), dtype=object)
    compound_of = b["compound"].astype(int)
    buildings = frame(
        {
            "source_id": building_ids,
            "grid_ref": grid_ids[building_grid],
            "compound_ref": np.where(compound_of >= 0, compound_ids[np.maximum(compound_of, 0)], None),
            "kind": b["kind"],
            "name": b["name"],
            "floors": b["floors"].astype(np.int64),
            "households": b["households"].astype(np.int64),
        },
        boxes(b["x0"], b["y0"], b["x1"], b["y1"]),
    )

    n_households = len(size)
    household_ids = np.array(ids("household", n_households), dtype=object)
    lonlat = project(np.column_stack([people["x"], people["y"]]))
    households = frame(
        {
            "source_id": household_ids,
            "building_ref": building_ids[people["building"]],
            "grid_ref": grid_ids[building_grid[people["building"]]],
            "unit": people["unit"],
            "room": people["room"],
            "size": size.astype(np.int64),
            "tags": tag_lists(tags),
            "is_party_member": party,
        },
        shapely.points(lonlat),
    )
    center_households = frame(
        {
            "source_id": ids("center", len(centers)),
            "household_ref": household_ids[centers],
            "capacity": capacity.astype(np.int64),
        }
    )

    s = sites.services.get()
    service_points = frame(
        {
            "source_id": ids("service", len(s["type"])),
            "type": s["type"],
            "level": s["level"],
            "name": s["name"],
            "hours": s["hours"],
        },
        shapely.points(project(np.column_stack([s["x"].astype(float), s["y"].astype(float)]))),
    )

    node_lonlat = project(walk.node_xy)
    node_ids = np.array(ids("node", len(walk.node_xy)), dtype=object)
    walk_nodes = frame({"source_id": node_ids}, shapely.points(node_lonlat))
    length = np.hypot(*(walk.node_xy[walk.u] - walk.node_xy[walk.v]).T)
    walk_edges = frame(
        {
            "source_id": ids("edge", len(walk.u)),
            "u_ref": node_ids[walk.u],
            "v_ref": node_ids[walk.v],
            "length_m": np.round(length, 2),
            "highway": walk.highway,
            "name": walk.name,
        },
        shapely.linestrings(np.stack([node_lonlat[walk.u], node_lonlat[walk.v]], axis=1)),
    )

    worker_names = [g.names.people.take() for _ in workers]
    grid_workers = frame(
        {
            "source_id": ids("worker", len(workers)),
            "name": worker_names,
            "grid_refs": [[str(grid_ids[g]) for g in w] for w in workers],
        }
    )
    r = g.residents
    residents = frame(
        {
            "source_id": ids("resident", len(r["household"])),
            "household_ref": household_ids[r["household"]],
            "name": r["name"],
            "gender": r["gender"],
            "birth_year": r["birth_year"].astype(np.int64),
            "id_number": r["id_number"],
            "phone": r["phone"],
            "relation": r["relation"],
            "tags": tag_lists(r["tags"]),
        }
    )
    return SampleArea(
        streets=streets,
        communities=communities,
        grids=grids,
        compounds=compounds,
        buildings=buildings,
        households=households,
        center_households=center_households,
        service_points=service_points,
        walk_nodes=walk_nodes,
        walk_edges=walk_edges,
        grid_workers=grid_workers,
        residents=residents,
    )
