"""gis.centers.run and gis.coverage.run: the one pipeline per analysis, its snapping cap and its step hook."""

import geopandas as gpd
import shapely

from gis.centers import run as run_centers
from gis.coverage import run as run_coverage
from gis.defaults import MAX_SNAP_M
from tests.gis.test_network import line_frames

# a straight street of 400 m; households 10 m beside it, one of them 2 km away (wrong coordinates)
NODES, EDGES = line_frames(
    {"a": (0, 0), "b": (200, 0), "c": (400, 0)}, [("a", "b", None, None), ("b", "c", None, None)]
)


def _households() -> gpd.GeoDataFrame:
    xy = [(50, 10), (100, 10), (300, 10), (350, 2000)]
    points = gpd.GeoSeries([shapely.Point(500_000 + x, 4_400_000 + y) for x, y in xy], crs="EPSG:4548").to_crs(4326)
    return gpd.GeoDataFrame(
        {
            "id": ["h1", "h2", "h3", "far"],
            "grid_id": ["g"] * 4,
            "is_center": [True, False, False, False],
            "capacity": [5, 0, 0, 0],
            "is_party_member": [True, False, True, False],
        },
        geometry=points,
        crs=4326,
    )


def test_centers_run_caps_snapping_and_reports_the_household_off_the_network():
    steps: list[str] = []

    def step(name, fn, *args, **kwargs):
        steps.append(name)
        return fn(*args, **kwargs)

    done = run_centers(_households(), NODES, EDGES, step=step)
    assert done.max_snap_m == MAX_SNAP_M and done.off_network == 1
    table = done.assignment.households.set_index("household_id")
    assert table.loc["far", "status"] == "uncovered"
    assert table.loc[["h2", "h3"], "center_id"].tolist() == ["h1", "h1"]
    assert steps[:3] == ["build_walk_graph", "snap (each point once)", "Access.from_snap"]
    assert "assign_centers (exact flow)" in steps and "walk_pairs (listed nearest)" in steps


def test_centers_run_without_a_cap_snaps_every_household():
    done = run_centers(_households(), NODES, EDGES, max_snap_m=None, suggest=False)
    assert done.off_network == 0 and done.suggestions is None
    table = done.assignment.households.set_index("household_id")
    assert table.loc["far", "center_id"] == "h1"


def test_coverage_run_takes_profiles_levels_and_cap():
    buildings = gpd.GeoDataFrame(
        {"source_id": ["b1", "b2"]},
        geometry=[
            shapely.Point(500_100, 4_400_010).buffer(5),
            shapely.Point(500_350, 4_402_000).buffer(5),
        ],
        crs="EPSG:4548",
    ).to_crs(4326)
    services = gpd.GeoDataFrame(
        {"source_id": ["s1"], "type": ["clinic"]},
        geometry=[shapely.Point(500_000, 4_400_005)],
        crs="EPSG:4548",
    ).to_crs(4326)
    result = run_coverage(NODES, EDGES, buildings, services, profiles={"slow": 0.5}, levels=(3,), max_snap_m=100.0)
    assert result.profiles == {"slow": 0.5} and result.levels == (3,) and result.max_snap_m == 100.0
    walk, _ = result.walk("clinic")
    assert 100 < walk[0] < 130 and walk[1] != walk[1]  # the far building is off the network: no walk
