"""Seeded generator of a fictional Chinese urban street (街道) — or, scaled up, a district — with every layer of
docs/layers.md: streets, communities (社区), grids (网格), compounds (小区), buildings (楼栋), households (户),
党员中心户, service points (服务阵地), the walk network and grid workers (网格员), and the residents (居民) of the
households (not a stored layer yet).

Why synthetic: the demo and the benchmarks need a complete area (five-level structure, residents with tags, a
routable network) that no open data source has and that may be shown to anyone. The layout follows how Chinese
cities are built: arterials every 400–700 m around superblocks, gated compounds of south-facing slabs with 1–3
gates, dense old low-rise villages, schools, parks and public buildings; see the sample_* modules.

Everything is generated in a local azimuthal-equidistant frame in metres centred on the origin and projected to
WGS84 (EPSG:4326) at the end in one vectorised pyproj call. Same settings, seed and scale give identical frames.
"""

import numpy as np
from tqdm import tqdm

from gis.sample._admin import cut_grids, partition_admin
from gis.sample._frames import Generated, SampleArea, local_crs, to_frames
from gis.sample._housing import build_parcel
from gis.sample._layout import build_layout
from gis.sample._names import Names
from gis.sample._network import Network
from gis.sample._people import TAGS, assign_workers, choose_centers, draw_sizes, draw_tags, place_households
from gis.sample._residents import draw_residents
from gis.sample._services import place_admin_services
from gis.sample._settings import SampleSettings, load_settings
from gis.sample._sites import Sites

__all__ = [
    "DISTRICT_SCALE",
    "TAGS",
    "SampleArea",
    "SampleSettings",
    "describe",
    "generate_sample",
    "load_settings",
    "local_crs",
]

DISTRICT_SCALE = 34.0  # ~1M residents, 34 streets, ~150 communities, ~100k buildings, ~230k walk nodes


def generate_sample(
    settings: SampleSettings | None = None, *, seed: int | None = None, scale: float = 1.0, progress: bool = False
) -> SampleArea:
    """Generate the sample area.

    ``settings`` default to data/sample.toml and ``seed`` to its seed. ``scale`` multiplies the area and so the
    population, with one street per unit of scale (rounded, at least one): scale=1 is one street of ~25–40k
    residents (~33k on average over seeds), DISTRICT_SCALE (34) a district of ~1M residents in ~5 s.
    ``progress`` shows a progress bar (stderr). Same settings, seed and scale give identical frames.
    """
    settings = settings or load_settings()
    seed = settings.seed if seed is None else seed
    if scale <= 0:
        raise ValueError("scale must be positive")

    def stream(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, k])

    steps = tqdm(total=6, desc="sample", disable=not progress)
    net, names = Network(), Names(stream(1))
    layout = build_layout(settings, scale, stream(2), net, names)
    sites = Sites(net, names, stream(3))
    for parcel in layout.parcels:
        build_parcel(sites, parcel)
    b = sites.buildings.get()
    steps.update()

    admin = partition_admin(layout, b, settings, scale, names)
    steps.update()
    leaf_rects, grid_leaves, grid_community, building_grid = cut_grids(layout, b, admin, net, settings)
    steps.update()
    place_admin_services(sites, admin, layout, stream(4))
    walk = net.build()
    steps.update()

    rng = stream(5)
    people = place_households(b)
    size = draw_sizes(rng, len(people["building"]), settings.household_size_shares)
    tags = draw_tags(
        rng, size, people["lowrise"], settings.tag_rates, settings.tag_rates_village, settings.household_size_shares
    )
    party = rng.random(len(size)) < settings.party_member_rate
    household_grid = building_grid[people["building"]]
    centers, capacity = choose_centers(
        rng,
        household_grid,
        party,
        settings.households_per_center,
        settings.center_capacity,
        settings.center_capacity_large,
        settings.center_large_share,
    )
    workers = assign_workers(rng, grid_community, settings.shared_worker_share)
    residents = draw_residents(stream(6), size, tags, settings.district_code)
    steps.update()

    generated = Generated(
        layout=layout,
        sites=sites,
        buildings=b,
        admin=admin,
        leaf_rects=leaf_rects,
        grid_leaves=grid_leaves,
        grid_community=grid_community,
        building_grid=building_grid,
        walk=walk,
        people=people,
        size=size,
        tags=tags,
        party=party,
        centers=centers,
        capacity=capacity,
        workers=workers,
        residents=residents,
        names=names,
    )
    area = to_frames(settings, generated)
    steps.update()
    steps.close()
    return area


def describe(area: SampleArea) -> dict[str, int]:
    """Sizes of the generated area (for the CLI, the benchmark and the docs)."""
    sizes = {"residents": int(area.households["size"].sum())}
    sizes |= {name: len(getattr(area, name)) for name in SampleArea.__dataclass_fields__}
    sizes |= {f"service_points.{k}": int(v) for k, v in area.service_points["type"].value_counts().sort_index().items()}
    return sizes


if __name__ == "__main__":  # python -m gis.sample._generate [scale]
    import sys
    import time

    started = time.perf_counter()
    generated = generate_sample(scale=float(sys.argv[1]) if len(sys.argv) > 1 else 1.0, progress=True)
    for key, value in describe(generated).items():
        print(f"{key:32} {value}")
    print(f"{'seconds':32} {time.perf_counter() - started:.1f}")
