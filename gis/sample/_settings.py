"""Settings of the sample-area generator, read from data/sample.toml (see that file for what each one means)."""

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "data" / "sample.toml"
CODE_PROFILES = {"DB11_15": 3, "CJT213_14": 2}  # profile -> digits of the grid sequence number


@dataclass(frozen=True)
class SampleSettings:
    """Everything that shapes the fictional area; the defaults equal data/sample.toml."""

    seed: int = 20241122
    origin_lon: float = 116.47
    origin_lat: float = 39.93
    district_code: str = "110105"
    street_code: str = "001"
    street_name: str = "示范街道"
    grid_code_profile: str = "DB11_15"
    street_width_m: float = 2200.0
    street_height_m: float = 1700.0
    superblock_min_m: float = 400.0
    superblock_max_m: float = 700.0
    parcel_max_m: float = 320.0
    parcel_min_m: float = 140.0
    primary_share: float = 0.4
    village_share: float = 0.2
    land_use: dict[str, float] = field(
        default_factory=lambda: {"compound": 0.5, "public": 0.3, "school": 0.1, "park": 0.1}
    )
    community_households: int = 2500
    communities_min: int = 4
    communities_max: int = 8
    grid_households_min: int = 300
    grid_households_max: int = 500
    grid_households_target: int = 400
    households_per_center: int = 10
    center_capacity: int = 10
    center_capacity_large: int = 15
    center_large_share: float = 0.1
    shared_worker_share: float = 0.1
    household_size_shares: tuple[float, ...] = (0.24, 0.29, 0.21, 0.14, 0.12)
    party_member_rate: float = 0.15
    tag_rates: dict[str, float] = field(default_factory=dict)
    tag_rates_village: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.grid_code_profile not in CODE_PROFILES:
            raise ValueError(f"grid_code_profile must be one of {sorted(CODE_PROFILES)}")
        if len(self.district_code) != 6 or not self.district_code.isdigit():
            raise ValueError("district_code must be 6 digits (GB/T 2260)")
        if len(self.street_code) != 3 or not self.street_code.isdigit():
            raise ValueError("street_code must be 3 digits")
        if abs(sum(self.household_size_shares) - 1) > 1e-6:
            raise ValueError("household_size_shares must sum to 1")


def load_settings(path: Path | None = None) -> SampleSettings:
    """Read the generator settings (TOML); keys not given keep their defaults, unknown keys are an error."""
    with open(path or DEFAULT_PATH, "rb") as f:
        raw = tomllib.load(f)
    known = {f.name for f in fields(SampleSettings)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown sample settings: {', '.join(unknown)}")
    if "household_size_shares" in raw:
        raw["household_size_shares"] = tuple(raw["household_size_shares"])
    return SampleSettings(**raw)
