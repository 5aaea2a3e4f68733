"""Small hand-made 中心户 cases shared by the center tests: street lattices and irregular streets, towns of
households, and a reference optimum by linear_sum_assignment."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_array

from gis.centers import Access, have_ortools, prepare_households

SOLVERS = ["scipy", pytest.param("ortools", marks=pytest.mark.skipif(not have_ortools(), reason="no ortools"))]
SHARED_OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"


def lattice(n: int, spacing: float = 50.0) -> tuple[csr_array, np.ndarray, np.ndarray, np.ndarray]:
    """An n × n street lattice: CSR graph (both directions), node xy, edge u, edge v."""
    idx = np.arange(n * n).reshape(n, n)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    w = np.full(len(u), spacing)
    graph = csr_array((np.r_[w, w], (np.r_[u, v], np.r_[v, u])), shape=(n * n, n * n))
    xy = np.c_[(np.arange(n * n) % n) * spacing, (np.arange(n * n) // n) * spacing]
    return graph, xy, u, v


def town(seed: int = 0, n_households: int = 300, n: int = 16, p_center: float = 0.1, capacity: int = 10):
    """Households on random lattice edges, split into a west and an east grid; returns graph, xy, access, frame."""
    rng = np.random.default_rng(seed)
    graph, xy, u, v = lattice(n)
    edge = rng.integers(0, len(u), n_households)
    along = rng.uniform(0, 50, n_households)
    access = Access.on_edges(
        edge_u=u[edge],
        edge_v=v[edge],
        to_u=along,
        to_v=50 - along,
        snap_m=rng.uniform(0, 15, n_households),
        edge=edge,
    )
    x = (xy[u[edge], 0] + xy[v[edge], 0]) / 2
    households = pd.DataFrame(
        {
            "id": [f"h{i:03d}" for i in range(n_households)],
            "grid_id": np.where(x < n * 25, "W", "E"),
            "is_center": rng.random(n_households) < p_center,
            "capacity": capacity,
            "is_party_member": rng.random(n_households) < 0.3,
        }
    )
    return graph, xy, access, households


def reference_total(households: pd.DataFrame, pairs: pd.DataFrame) -> tuple[float, int]:
    """Optimal (covered, total walk) per grid by linear_sum_assignment on capacity-expanded columns.

    Covering comes first: a household left out costs BIG, more than any total walk."""
    big = 1e7
    total, covered = 0.0, 0
    hh = prepare_households(households)
    for _, grid in hh.groupby("grid_id"):
        clients = grid.loc[~grid.is_center, "id"].tolist()
        centers = grid[grid.is_center]
        if not clients or centers.empty:
            continue
        d = (
            pairs.pivot_table(index="household_id", columns="center_id", values="walk_m", aggfunc="min")
            .reindex(index=clients, columns=centers["id"].tolist())
            .to_numpy()
        )
        d = np.where(np.isnan(d), big * 10, d)
        expanded = np.repeat(d, centers["capacity"].to_numpy(), axis=1)
        expanded = np.c_[expanded, np.full((len(clients), len(clients)), big)]  # "uncovered" columns
        rows, cols = linear_sum_assignment(expanded)
        chosen = expanded[rows, cols]
        real = chosen < big
        total += chosen[real].sum()
        covered += int(real.sum())
    return total, covered


def check_invariants(households: pd.DataFrame, result) -> None:
    hh = prepare_households(households).set_index("id")
    table = result.households.set_index("household_id")
    assigned = table[table["center_id"].notna() & (table["status"] != "center")]
    # every center is assigned to itself at 0 m
    centers = hh.index[hh["is_center"]]
    assert (table.loc[centers, "center_id"] == centers).all()
    assert (table.loc[centers, "walk_m"] == 0).all()
    # only centers are chosen, never across a grid line
    assert hh.loc[assigned["center_id"], "is_center"].all()
    assert (hh.loc[assigned["center_id"], "grid_id"].to_numpy() == hh.loc[assigned.index, "grid_id"].to_numpy()).all()
    # capacities are never exceeded (the center's own household does not count)
    load = assigned["center_id"].value_counts()
    assert (load <= hh.loc[load.index, "capacity"]).all()


def streets(seed: int, n: int = 40) -> tuple[csr_array, np.ndarray, np.ndarray, np.ndarray]:
    """A random tree of streets with a few cross links, a detached ring with a stub, chains of 2 m to 40 m edges and
    building stubs (leaves): what `gis.centers._graph` reduces. Returns graph, xy, edge u, edge v."""
    rng = np.random.default_rng(seed)
    xy = [np.zeros(2)]
    u, v = [], []
    for i in range(1, n):
        parent = int(rng.integers(0, i))
        xy.append(xy[parent] + rng.normal(0, 20, 2))
        u.append(parent), v.append(i)
    for _ in range(3):  # cross links
        a, b = rng.integers(0, n, 2)
        if a != b:
            u.append(int(a)), v.append(int(b))
    ring = np.arange(n, n + 5)
    for a, b in zip(ring, np.roll(ring, 1), strict=True):
        u.append(int(a)), v.append(int(b))
    xy += [np.array([500.0 + 10 * np.cos(t), 10 * np.sin(t)]) for t in np.linspace(0, 6, 5)]
    xy.append(np.array([520.0, 0.0]))
    u.append(n), v.append(n + 5)  # a stub on the ring
    xy = np.array(xy)
    u, v = np.array(u), np.array(v)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    edges = pd.DataFrame({"lo": lo, "hi": hi}).drop_duplicates().query("lo != hi")
    lo, hi = edges["lo"].to_numpy(), edges["hi"].to_numpy()
    w = np.maximum(np.hypot(*(xy[lo] - xy[hi]).T), 0.5)
    m = len(xy)
    graph = csr_array((np.r_[w, w], (np.r_[lo, hi], np.r_[hi, lo])), shape=(m, m))
    return graph, xy, lo, hi
