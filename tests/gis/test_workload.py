"""gis.workload: households, special-care households and center households per grid and per grid worker."""

import pandas as pd
import pytest

from api.privacy import open_workload
from gis.workload import CARE_TAGS, grid_workload, worker_workload


def layers():
    rows = []
    for grid, n, care in (("g1", 100, 10), ("g2", 110, 0), ("g3", 90, 5), ("g4", 300, 40), ("g5", 50, 0)):
        for i in range(n):
            tags = ["elderly_alone", "aged_80"] if i < care else (["rented"] if i % 2 else [])
            rows.append({"source_id": f"{grid}-{i}", "grid_ref": grid, "tags": tags})
    rows.append({"source_id": "lost", "grid_ref": None, "tags": ["disabled"]})
    households = pd.DataFrame(rows)
    grids = pd.DataFrame(
        {
            "source_id": ["g1", "g2", "g3", "g4", "g5", "g6"],
            "community_ref": ["c1", "c1", "c1", "c1", "c2", "c2"],
        }
    )
    centers = pd.DataFrame({"household_ref": ["g1-0", "g1-1", "g4-0"], "capacity": [10, 10, 10]})
    workers = pd.DataFrame(
        {
            "source_id": ["w1", "w2", "w3", "w4"],
            "name": ["张三", "李四", "王五", "赵六"],
            "grid_refs": [["g1", "g2"], ["g3"], ["g4", "g5"], ["g5", "nope"]],
        }
    )
    return households, grids, centers, workers


def test_grid_counts_and_flags():
    households, grids, centers, _ = layers()
    table = grid_workload(households, grids=grids, center_households=centers).set_index("grid_ref")
    assert table.loc["g1", "households"] == 100
    assert table.loc["g1", "special_care"] == 10
    assert table.loc["g1", "tag_aged_80"] == 10
    assert table.loc["g1", "tag_rented"] == 45  # rented is a register, not care
    assert table.loc["g1", "centers"] == 2 and table.loc["g1", "households_per_center"] == 50
    assert table.loc["g6", "households"] == 0  # a grid without households is listed
    # c1 loads: 110, 110, 95, 340 → median 110; g4 is 3.09 × it
    assert table.loc["g4", "load"] == 340
    assert table.loc["g4", "community_median"] == 110
    assert table.loc["g4", "flagged"]
    assert table.loc["g4", "reason"] == "load 340 is 3.09 × the community median 110 (> 1.5 ×)"
    assert not table.loc[["g1", "g2", "g3"], "flagged"].any()
    assert table.loc["g5", "community_median"] == 25  # c2: g5 (50) and the empty g6
    assert table.loc["g5", "flagged"]
    assert "disabled" in CARE_TAGS and "floating" not in CARE_TAGS


def test_weights_and_factor_are_configurable():
    households, grids, centers, _ = layers()
    table = grid_workload(households, grids=grids, care_weight=0, factor=3).set_index("grid_ref")
    assert table.loc["g4", "load"] == 300
    assert not table.loc["g4", "flagged"]  # 300 / 100 = 3.0, not above 3
    only = grid_workload(households, care_tags=["disabled"]).set_index("grid_ref")
    assert only["special_care"].sum() == 0  # the one disabled household has no grid
    assert "g6" not in only.index


def test_workers_share_grids():
    households, grids, centers, workers = layers()
    load = grid_workload(households, grids=grids, center_households=centers)
    table = worker_workload(load, workers).set_index("worker_ref")
    assert table.loc["w1", "households"] == 210 and table.loc["w1", "grids"] == 2
    assert table.loc["w3", "households"] == pytest.approx(300 + 25)  # g5 is shared with w4
    assert table.loc["w3", "shared_grids"] == 1
    assert table.loc["w4", "households"] == pytest.approx(25)
    assert table.loc["w4", "unknown_grids"] == ["nope"]
    assert table.loc["w3", "flagged"] and not table.loc["w1", "flagged"]
    assert table.loc["w1", "name"] == "张三"


def test_tags_from_text_and_is_center_column():
    households = pd.DataFrame(
        {
            "source_id": ["a", "b", "c"],
            "grid_ref": ["g", "g", "g"],
            "tags": ["['hardship', 'infant']", "", None],
            "is_center": [True, False, None],
        }
    )
    table = grid_workload(households)
    assert table.loc[0, "special_care"] == 1 and table.loc[0, "tag_infant"] == 1
    assert table.loc[0, "centers"] == 1


def test_open_workload_masks_names_and_suppresses_small_counts():
    table = pd.DataFrame(
        {
            "name": ["张三丰", "李四", "王", None],
            "special_care": [0, 1, 4, 5],
            "tag_petitioner": [0, 1, 2, 3],
            "households": [10, 10, 10, 10],
            "load": [10.0, 11.0, 14.0, 15.0],
            "load_ratio": [1.0, 1.1, 1.4, 1.5],
            "reason": [None, "load 11 is 1.1 × …", None, "load 15 is 1.5 × …"],
        }
    )
    shown = open_workload(table)
    assert list(shown["name"][:3]) == ["张*丰", "李*", "王"] and pd.isna(shown["name"][3])
    assert list(shown["suppressed"]) == [False, True, True, False]
    assert not [c for c in shown.columns if c.startswith("tag_")]
    assert shown.loc[[1, 2], ["special_care", "load", "load_ratio"]].isna().all().all()
    assert shown.loc[3, "special_care"] == 5 and shown.loc[3, "load"] == 15.0 and shown.loc[0, "special_care"] == 0
    assert "11" not in shown.loc[1, "reason"] and shown.loc[3, "reason"] == "load 15 is 1.5 × …"
