"""Where the sample's field work happens: its households, buildings, grids, service points and roads as arrays,
with the few geometric questions the history asks (which grid or building is at a point, how far a point is from
a building) and the hot spots that hazards and requests cluster around."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from gis.sample._frames import SampleArea
from gis.sample._people import TAGS

# Hot spots per street: (kind, how many, spread in metres). Old low-rise villages (城中村 / 平房区) crowd fire
# lanes, wiring and rubbish; markets rubbish and fire lanes; an old compound falling objects and wiring; low-lying
# roads flood in the rainy season.
HOTSPOTS = (("village", 2, 90.0), ("market", 1, 45.0), ("compound", 1, 60.0), ("lowland", 2, 40.0))


def metres_per_degree(lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(east, north) metres per degree of longitude and latitude on WGS84 at `lat` (good to < 0.1 %)."""
    phi = np.radians(lat)
    return (
        111_412.84 * np.cos(phi) - 93.5 * np.cos(3 * phi),
        111_132.92 - 559.82 * np.cos(2 * phi) + 1.175 * np.cos(4 * phi),
    )


@dataclass
class Places:
    """The area as arrays: households (hh_*), buildings (b_*), grids, service points (sp_*), walk nodes."""

    n: int
    hh_ref: np.ndarray
    hh_lon: np.ndarray
    hh_lat: np.ndarray
    hh_building: np.ndarray  # index into buildings
    household_grid: np.ndarray  # index into grids
    household_community: np.ndarray  # community source id
    head_ref: np.ndarray  # the 户主's resident source id, or None
    tags: np.ndarray  # households × TAGS
    residents: int
    b_ref: np.ndarray
    b_bounds: np.ndarray  # (lon0, lat0, lon1, lat1)
    b_grid: np.ndarray  # index into grids, -1 for none
    b_kind: np.ndarray
    b_name: np.ndarray
    b_households: np.ndarray
    b_tree: shapely.STRtree
    grid_ref: np.ndarray
    grid_community: np.ndarray  # index of each grid's community
    grid_tree: shapely.STRtree
    streets: int
    sp_type: np.ndarray
    sp_name: np.ndarray
    sp_lon: np.ndarray
    sp_lat: np.ndarray
    node_lon: np.ndarray
    node_lat: np.ndarray

    @classmethod
    def of(cls, area: SampleArea) -> "Places":
        hh, b, grids = area.households.reset_index(drop=True), area.buildings.reset_index(drop=True), area.grids
        grid_ref = grids["source_id"].to_numpy(object)
        grid_index = pd.Index(grid_ref)
        community = grids.set_index("source_id")["community_ref"]
        tags = np.zeros((len(hh), len(TAGS)), dtype=bool)
        exploded = hh["tags"].explode()
        column = exploded.map({t: i for i, t in enumerate(TAGS)})
        known = column.notna().to_numpy()
        tags[exploded.index.to_numpy()[known], column.to_numpy()[known].astype(int)] = True
        r = area.residents
        heads = r[r["relation"] == "户主"].drop_duplicates("household_ref").set_index("household_ref")["source_id"]
        sp, nodes = area.service_points, area.walk_nodes
        return cls(
            n=len(hh),
            hh_ref=hh["source_id"].to_numpy(object),
            hh_lon=shapely.get_x(hh.geometry.to_numpy()),
            hh_lat=shapely.get_y(hh.geometry.to_numpy()),
            hh_building=pd.Index(b["source_id"]).get_indexer(hh["building_ref"]),
            household_grid=grid_index.get_indexer(hh["grid_ref"]),
            household_community=community.reindex(hh["grid_ref"]).to_numpy(object),
            head_ref=heads.reindex(hh["source_id"]).astype(object).where(lambda s: s.notna(), None).to_numpy(),
            tags=tags,
            residents=int(hh["size"].sum()),
            b_ref=b["source_id"].to_numpy(object),
            b_bounds=shapely.bounds(b.geometry.to_numpy()),
            b_grid=grid_index.get_indexer(b["grid_ref"]),
            b_kind=b["kind"].to_numpy(object),
            b_name=b["name"].to_numpy(object),
            b_households=b["households"].to_numpy(np.int64),
            b_tree=shapely.STRtree(b.geometry.to_numpy()),
            grid_ref=grid_ref,
            grid_community=pd.factorize(grids["community_ref"])[0],
            grid_tree=shapely.STRtree(grids.geometry.to_numpy()),
            streets=len(area.streets),
            sp_type=sp["type"].to_numpy(object),
            sp_name=sp["name"].to_numpy(object),
            sp_lon=shapely.get_x(sp.geometry.to_numpy()),
            sp_lat=shapely.get_y(sp.geometry.to_numpy()),
            node_lon=shapely.get_x(nodes.geometry.to_numpy()),
            node_lat=shapely.get_y(nodes.geometry.to_numpy()),
        )

    def offset(self, lon: np.ndarray, lat: np.ndarray, east: np.ndarray, north: np.ndarray):
        """Points moved by metres east and north."""
        per_lon, per_lat = metres_per_degree(lat)
        return lon + east / per_lon, lat + north / per_lat

    def metres(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """(n, 2) metres east and north of the area's first household (a local frame for distances)."""
        per_lon, per_lat = metres_per_degree(self.hh_lat[0])
        return np.column_stack([(lon - self.hh_lon[0]) * per_lon, (lat - self.hh_lat[0]) * per_lat])

    def distance_to_building(self, lon: np.ndarray, lat: np.ndarray, building: np.ndarray) -> np.ndarray:
        """Metres from each point to its building (0 inside): the buildings are north-up rectangles."""
        x0, y0, x1, y1 = self.b_bounds[building].T
        per_lon, per_lat = metres_per_degree(lat)
        dx = np.maximum.reduce([x0 - lon, np.zeros_like(lon), lon - x1]) * per_lon
        dy = np.maximum.reduce([y0 - lat, np.zeros_like(lat), lat - y1]) * per_lat
        return np.hypot(dx, dy)

    def building_centre(self, building: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, x1, y1 = self.b_bounds[building].T
        return (x0 + x1) / 2, (y0 + y1) / 2

    def building_near(self, lon: np.ndarray, lat: np.ndarray, within_m: float) -> np.ndarray:
        """The nearest building within `within_m` of each point, or -1."""
        found = np.full(len(lon), -1)
        if len(lon):
            points = shapely.points(lon, lat)
            pair = self.b_tree.query_nearest(points, max_distance=within_m / 111_000)
            found[pair[0][::-1]] = pair[1][::-1]  # the first of ties wins
        return found

    def grid_at(self, lon: np.ndarray, lat: np.ndarray, building: np.ndarray) -> np.ndarray:
        """The building's grid, else the grid holding the point, else the nearest grid."""
        grid = np.where(building >= 0, self.b_grid[np.maximum(building, 0)], -1)
        todo = np.flatnonzero(grid < 0)
        if len(todo):
            points = shapely.points(lon[todo], lat[todo])
            pair = self.grid_tree.query(points, predicate="intersects")
            grid[todo[pair[0][::-1]]] = pair[1][::-1]
            rest = todo[grid[todo] < 0]
            if len(rest):
                near = self.grid_tree.query_nearest(shapely.points(lon[rest], lat[rest]))
                grid[rest[near[0][::-1]]] = near[1][::-1]
        return grid


def paces(rng: np.random.Generator, places: Places, sigma: float = 0.3) -> np.ndarray:
    """Per grid, how slowly its cases are handled (1: as usual): mostly its community's way of working, a little
    its own, so that closure and overdue rates differ from community to community."""
    community = np.exp(rng.normal(0, sigma, places.grid_community.max() + 1))
    return community[places.grid_community] * np.exp(rng.normal(0, sigma / 3, len(places.grid_ref)))


def hotspots(rng: np.random.Generator, places: Places) -> pd.DataFrame:
    """The centres hazards and requests cluster around: kind, lon, lat, sigma_m (spread), weight (how hot)."""
    rows = []
    for kind, per_street, sigma in HOTSPOTS:
        count = per_street * places.streets
        if kind == "village" or kind == "compound":
            pool = np.flatnonzero(places.b_kind == ("house" if kind == "village" else "apartments"))
            weight = places.b_households[pool].astype(float)
            if not len(pool):
                continue
            pick = rng.choice(pool, size=min(count, len(pool)), replace=False, p=weight / weight.sum())
            lon, lat = places.building_centre(pick)
        elif kind == "market":
            pool = np.flatnonzero(places.sp_type == "market")
            pick = rng.choice(pool, size=min(count, len(pool)), replace=False)
            lon, lat = places.sp_lon[pick], places.sp_lat[pick]
        else:
            pick = rng.choice(len(places.node_lon), size=min(count, len(places.node_lon)), replace=False)
            lon, lat = places.node_lon[pick], places.node_lat[pick]
        rows.append(pd.DataFrame({"kind": kind, "lon": lon, "lat": lat, "sigma_m": sigma}))
    spots = pd.concat(rows, ignore_index=True)
    spots["weight"] = rng.gamma(2.0, 0.5, len(spots))
    return spots


def spot_of(places: Places, spots: pd.DataFrame, kinds: tuple[str, ...], lon, lat, radius: float) -> np.ndarray:
    """The hot spot of `kinds` each point lies within `radius` spreads of (the hottest of several), or -1."""
    found = np.full(len(lon), -1)
    chosen = np.flatnonzero(spots["kind"].isin(kinds).to_numpy())
    if len(chosen) and len(lon):
        tree = cKDTree(places.metres(lon, lat))
        centres = places.metres(spots["lon"].to_numpy()[chosen], spots["lat"].to_numpy()[chosen])
        for k in chosen[np.argsort(spots["weight"].to_numpy()[chosen], kind="stable")]:  # the hottest last
            centre = centres[np.flatnonzero(chosen == k)[0]]
            found[tree.query_ball_point(centre, radius * spots["sigma_m"].iat[k])] = k
    return found


def spread(rng: np.random.Generator, places: Places, spots: pd.DataFrame, which: np.ndarray):
    """Points around the hot spots `which` (indexes into `spots`), normally spread by their sigma."""
    sigma = spots["sigma_m"].to_numpy()[which]
    east, north = rng.normal(0, 1, len(which)) * sigma, rng.normal(0, 1, len(which)) * sigma
    return places.offset(spots["lon"].to_numpy()[which], spots["lat"].to_numpy()[which], east, north)
