"""gis.grids: partition a community into grids along roads, and check imported grids (no database)."""

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import LineString, Polygon, box

from gis.grids import check_grids, parse_grid_code, partition_community
from gis.io import check_grid_tiling

GK = 4547  # CGCS2000 GK CM 114E: shapes drawn in metres around Zhuhai
X0, Y0 = 450_000, 2_460_000
SHARED_OSM = Path(__file__).resolve().parents[3] / "shared" / "data" / "osm"


def m(geoms, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(columns, geometry=list(geoms), crs=GK)


def streets(xs=(), ys=(), extent=(0, 0, 1200, 900), highway="residential") -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = extent
    lines = [LineString([(X0 + x, Y0 + y0 - 30), (X0 + x, Y0 + y1 + 30)]) for x in xs]
    lines += [LineString([(X0 + x0 - 30, Y0 + y), (X0 + x1 + 30, Y0 + y)]) for y in ys]
    return m(lines, highway=[highway] * len(lines))


def scatter(n, extent=(0, 0, 1200, 900), seed=0, per_point=1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = extent
    pts = shapely.points(rng.uniform(X0 + x0, X0 + x1, n), rng.uniform(Y0 + y0, Y0 + y1, n))
    return m(pts, households=np.full(n, per_point))


def community(extent=(0, 0, 1200, 900)) -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = extent
    return m([box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1)], source_id=["c1"], code=["002"])


def partition(comm, roads, households, **kw):
    kw.setdefault("district_code", "440402")
    kw.setdefault("street_code", "001")
    kw.setdefault("community_code", "002")
    kw.setdefault("community_ref", "c1")
    return partition_community(comm, roads=roads, households=households, **kw)


def assert_tiles(part, comm) -> None:
    """Grids tile the community: area sum equals its area within 0.1 %, no gap or overlap, none outside."""
    area = comm.to_crs(GK).area.sum()
    grid_area = part.grids.to_crs(GK).area.sum()
    assert grid_area == pytest.approx(area, rel=1e-3)
    report = check_grid_tiling(part.grids, comm, tolerance_m2=1.0)
    assert report.ok, report.problems


def assert_numbered_west_east_north_south(part) -> None:
    """seq follows north→south bands (about one grid high), west→east within a band, north first on a tie."""
    pts = part.grids.to_crs(part.crs).geometry.representative_point()
    band = np.floor((part.north_m - pts.y) / part.band_m)
    key = list(zip(band, np.round(pts.x, 0), -pts.y, strict=True))
    assert key == sorted(key)
    assert band.max() >= 1 or len(part.grids) <= 2  # more than one row where there are several grids
    assert part.stats["seq"].tolist() == list(range(1, len(part.grids) + 1))


def test_small_blocks_merge_into_target_grids():
    comm = community()
    roads = streets(xs=range(100, 1200, 100), ys=range(100, 900, 100))  # 12 × 9 blocks of 100 m
    hh = scatter(4200, seed=1)  # ~39 households per block: 8–12 blocks per grid
    part = partition(comm, roads, hh)
    assert_tiles(part, comm)
    assert_numbered_west_east_north_south(part)
    stats = part.stats
    assert stats["households"].sum() == 4200
    inside = stats["households"].between(300, 500)
    assert inside.mean() >= 0.8, stats
    assert stats.loc[~inside, "note"].str.len().gt(0).all(), stats[~inside]  # every exception is explained
    assert (stats["blocks"] > 1).all()
    # compact: no grid much longer than wide
    env = part.grids.to_crs(GK).geometry.apply(shapely.oriented_envelope)
    sides = env.apply(lambda g: np.hypot(*np.diff(np.asarray(g.exterior.coords)[:3], axis=0).T))
    assert (sides.apply(lambda s: s.max() / s.min()) < 4).all()


def test_codes_and_columns():
    comm = community()
    part = partition(comm, streets(xs=(600,), ys=(450,)), scatter(1600, seed=2), profile="CJT213_14")
    g = part.grids
    assert list(g.columns) == [
        "source",
        "source_id",
        "community_ref",
        "code",
        "code_profile",
        "district_code",
        "street_code",
        "community_code",
        "seq_code",
        "name",
        "geometry",
    ]
    assert g.crs.to_epsg() == 4326
    assert (g.geometry.geom_type == "MultiPolygon").all()
    for row in g.itertuples():
        parts = parse_grid_code(row.code, "CJT213_14")
        assert len(row.code) == 14
        assert (parts.district, parts.street, parts.community, parts.seq) == (
            row.district_code,
            row.street_code,
            row.community_code,
            row.seq_code,
        )
    assert g["seq_code"].tolist() == ["01", "02", "03", "04"]
    # four quarters of 400: NW, NE, SW, SE
    centroids = g.to_crs(GK).centroid
    assert centroids.y.iloc[0] > centroids.y.iloc[2] and centroids.x.iloc[0] < centroids.x.iloc[1]
    assert g["name"].iloc[0] == "第1网格"


def test_big_block_is_cut_between_buildings():
    comm = community((0, 0, 900, 300))
    rng = np.random.default_rng(3)
    # 30 buildings of 40 households in a row, no roads inside: 1200 households must become 3 grids
    xs = np.linspace(20, 880, 30)
    buildings = m([box(X0 + x - 10, Y0 + 100, X0 + x + 10, Y0 + 200) for x in xs], households=np.full(30, 40))
    part = partition(comm, streets(), buildings)
    assert_tiles(part, comm)
    assert part.stats["households"].tolist() == [400, 400, 400]
    # no cut runs through a building
    cuts = shapely.union_all([g.boundary for g in part.grids.to_crs(GK).geometry])
    assert not shapely.intersects(cuts, shapely.union_all(buildings.geometry.values)) or all(
        shapely.intersection(cuts, b).length < 1e-6 for b in buildings.geometry
    )
    del rng


def test_one_huge_building_is_explained():
    comm = community((0, 0, 300, 300))
    tower = m([box(X0 + 100, Y0 + 100, X0 + 140, Y0 + 140)], households=[800])
    part = partition(comm, streets(), tower)
    assert len(part.grids) == 1
    assert part.stats.loc[0, "households"] == 800
    assert "cannot be cut between buildings (largest building 800)" in part.stats.loc[0, "note"]


def test_irregular_community_with_hole_and_diagonal_roads_tiles_exactly():
    outer = [(0, 0), (1000, 0), (1300, 500), (900, 1000), (100, 900), (-100, 400)]
    hole = [(400, 400), (600, 400), (600, 600), (400, 600)]
    poly = Polygon([(X0 + x, Y0 + y) for x, y in outer], [[(X0 + x, Y0 + y) for x, y in hole]])
    comm = m([poly], source_id=["c1"])
    roads = m(
        [
            LineString([(X0 - 200, Y0 - 100), (X0 + 1400, Y0 + 1100)]),
            LineString([(X0 + 1400, Y0 - 100), (X0 - 200, Y0 + 1100)]),
            LineString([(X0 + 650, Y0 + 300), (X0 + 650, Y0 + 200)]),  # dead end: splits nothing
        ],
        highway=["primary", "secondary", "residential"],
    )
    pts = scatter(6000, extent=(-100, 0, 1300, 1000), seed=4)
    pts = pts[pts.within(poly)]
    part = partition(comm, roads, pts)
    assert_tiles(part, comm)
    assert_numbered_west_east_north_south(part)
    assert part.stats["households"].sum() == len(pts)
    ok = part.stats["households"].between(300, 500) | part.stats["note"].str.len().gt(0)
    assert ok.all(), part.stats


def test_footways_do_not_bound_grids_and_lonlat_input():
    comm = community((0, 0, 600, 300))
    roads = streets(xs=(300,), extent=(0, 0, 600, 300), highway="footway")
    part = partition(comm.to_crs(4326).geometry.iloc[0], roads, scatter(450, extent=(0, 0, 600, 300)))
    assert len(part.grids) == 1 and len(part.blocks) == 1


def test_zhuhai_blocks_from_osm_roads():
    if not SHARED_OSM.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_OSM} is absent")
        pytest.skip(f"{SHARED_OSM} is absent: the real-data tests need the shared OSM extracts")
    from gis.io import read_osm

    osm = read_osm(SHARED_OSM / "zhuhai-xiangzhou.osm")
    rng = np.random.default_rng(7)
    buildings = osm.buildings.to_crs(GK)
    # the community: a 1.2 km square around the densest part of the buildings
    cx, cy = np.median(buildings.centroid.x), np.median(buildings.centroid.y)
    comm = m([box(cx - 600, cy - 600, cx + 600, cy + 600)], source_id=["c1"])
    buildings = buildings[buildings.centroid.within(comm.geometry.iloc[0])].copy()
    buildings["households"] = rng.integers(20, 120, len(buildings))
    assert buildings["households"].sum() > 2000
    part = partition(comm, osm.edges, buildings)
    assert_tiles(part, comm)
    assert_numbered_west_east_north_south(part)
    stats = part.stats
    assert stats["households"].sum() == buildings["households"].sum()
    explained = stats["households"].between(300, 500) | stats["note"].str.len().gt(0)
    assert explained.all(), stats[~explained]
    check = check_grids(part.grids, comm.assign(code="002"), households=None)
    assert check["ok"].all(), check[~check["ok"]]


# --- check_grids -------------------------------------------------------------------------------------------------


def planted():
    """Four 200 m grids in a community, then: a gap, an overlap, a grid outside, bad codes, counts off target."""
    comm = m([box(X0, Y0, X0 + 800, Y0 + 200)], source_id=["c1"], code=["002"])
    boxes = [box(X0 + 200 * i, Y0, X0 + 200 * (i + 1), Y0 + 200) for i in range(4)]
    boxes[1] = box(X0 + 200, Y0, X0 + 420, Y0 + 200)  # overlaps grid 3 by 20 m × 200 m
    boxes[3] = box(X0 + 600, Y0, X0 + 850, Y0 + 150)  # leaves a gap at the top, reaches outside
    grids = m(
        boxes,
        source_id=["g1", "g2", "g3", "g4"],
        community_ref="c1",
        code=["440402001002001", "440402001002002", "44040200100200X", "440402001002002"],
        code_profile="DB11_15",
        district_code="440402",
        street_code="001",
        community_code=["002", "002", "002", "003"],
        seq_code=["001", "002", "003", "002"],
    )
    counts = {"g1": 400, "g2": 650, "g3": 120, "g4": 350}
    households = pd.DataFrame({"grid_ref": [g for g, n in counts.items() for _ in range(n)]})
    return grids.to_crs(4326), comm.to_crs(4326), households


def test_check_finds_planted_problems():
    grids, comm, households = planted()
    table = check_grids(grids, comm, households=households).set_index("grid_id")
    p = table["problems"]
    assert table.loc["g1", "ok"]
    assert any("overlaps grid 'g3' by 4000.0 m²" in s for s in p["g2"])
    assert any("overlaps grid 'g2'" in s for s in p["g3"])
    assert any("reaches 7500.0 m² outside community 'c1'" in s for s in p["g4"])
    assert any("covered by no grid" in s and "10000.0 m²" in s for s in p["g4"])  # the gap is next to g4
    assert any(s.startswith("invalid code") for s in p["g3"])
    assert any("is also used by grid(s) 'g4'" in s for s in p["g2"])
    assert any("community_code '003' does not match the code ('002')" in s for s in p["g4"])
    assert any("650 households, above the target 300–500" in s for s in p["g2"])
    assert any("120 households, below the target" in s for s in p["g3"])
    assert table.loc["g2", "households"] == 650


def test_check_counts_by_position_and_community_code():
    grids, comm, _ = planted()
    grids = grids.iloc[:1].copy()
    grids["geometry"] = m([box(X0, Y0, X0 + 800, Y0 + 200)]).to_crs(4326).geometry.values
    comm = comm.assign(code="005")
    pts = scatter(320, extent=(0, 0, 800, 200)).to_crs(4326).drop(columns="households")
    table = check_grids(grids, comm, households=pts)
    assert table.loc[0, "households"] == 320
    assert table.loc[0, "problems"] == ["code's community part '002' is not community 'c1''s code '005'"]


def test_check_partition_output_is_clean():
    comm = community()
    part = partition(comm, streets(xs=(600,), ys=(450,)), scatter(1600, seed=2))
    hh = scatter(1600, seed=2).to_crs(4326).drop(columns="households")
    table = check_grids(part.grids, comm.to_crs(4326), households=hh)
    assert table["ok"].all(), table[~table["ok"]]
