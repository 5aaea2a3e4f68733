"""Chinese + English names and colours that the maps show, kept in one place so every map and legend agrees."""

# Service point `type` code → (Chinese label, colour). The codes are the ones in docs/layers.md.
SERVICE_TYPES: dict[str, tuple[str, str]] = {
    "party_center": ("党群服务中心", "#d62728"),
    "red_post": ("红色驿站", "#ff7f0e"),
    "clinic": ("社区卫生服务站", "#2ca02c"),
    "elderly_care": ("养老服务站", "#9467bd"),
    "kindergarten": ("幼儿园", "#e377c2"),
    "school": ("学校", "#1f77b4"),
    "market": ("菜市场/超市", "#bcbd22"),
    "police": ("警务室", "#393b79"),
    "sports": ("文体活动场所", "#17becf"),
}
UNKNOWN_SERVICE_COLOUR = "#7f7f7f"

# Overlay names in the layer control (中文 English).
LAYER_NAMES: dict[str, str] = {
    "communities": "社区 Communities",
    "grids": "网格 Grids",
    "compounds": "小区 Compounds",
    "buildings": "楼栋 Buildings",
    "walk_edges": "步行网络 Walk network",
    # coverage map (maps/coverage.py)
    "walk_time": "楼栋步行时间 Buildings by walk time",
    "uncovered": "未覆盖楼栋 Uncovered buildings",
    "euclidean": "直线距离参考圈 Euclidean reference (not walkable)",
    "suggestions": "建议新增点位 Suggested sites",
}

# Tooltip field labels (中文 English), by column.
FIELD_LABELS: dict[str, str] = {
    "code": "编码 Code",
    "name": "名称 Name",
    "kind": "类型 Kind",
    "floors": "层数 Floors",
    "households": "户数 Households",
    "type_label": "类型 Type",
    # coverage map (maps/coverage.py)
    "walk": "步行 Walk",
    "nearest": "最近服务点 Nearest point",
    "covered": "覆盖 Covered (min)",
    "residents": "居民 Residents",
    "served": "最近楼栋 Buildings nearest",
    "rank": "排名 Rank",
    "new_buildings": "新覆盖楼栋 Buildings newly covered",
    "candidate_id": "候选点 Candidate",
}

# What a suggested site's gain counts (the gis.coverage.siting weight column) → (tooltip label, legend unit).
GAIN_UNITS: dict[str, tuple[str, str]] = {
    "residents": ("新覆盖居民 Residents newly covered", "居民 residents"),
    "households": ("新覆盖户数 Households newly covered", "户 households"),
}

# Walking profile name (gis.coverage.PROFILES) → (Chinese, English); an unknown profile is shown as its name.
WALK_PROFILES: dict[str, tuple[str, str]] = {
    "standard": ("标准步行", "standard walk"),
    "elderly": ("老年人步行", "elderly walk"),
}


def service_label(code: str) -> str:
    """Chinese label of a service type; an unknown code is shown as itself (escape it before display)."""
    return SERVICE_TYPES.get(code, (code, UNKNOWN_SERVICE_COLOUR))[0]


def service_colour(code: str) -> str:
    """Marker colour of a service type; grey for an unknown code."""
    return SERVICE_TYPES.get(code, (code, UNKNOWN_SERVICE_COLOUR))[1]


def circle_layer_name(level: float) -> str:
    """Overlay name of the network service circles of one level, e.g. '15分钟服务圈 15-min circle (network)'."""
    return f"{level:g}分钟服务圈 {level:g}-min circle (network)"


def profile_label(profile: str) -> tuple[str, str]:
    """(Chinese, English) label of a walking profile; an unknown one is its own name (escape it before display)."""
    return WALK_PROFILES.get(profile, (profile, profile))
