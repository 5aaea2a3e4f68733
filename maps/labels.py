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
}

# Tooltip field labels (中文 English), by column.
FIELD_LABELS: dict[str, str] = {
    "code": "编码 Code",
    "name": "名称 Name",
    "kind": "类型 Kind",
    "floors": "层数 Floors",
    "households": "户数 Households",
    "type_label": "类型 Type",
}


def service_label(code: str) -> str:
    """Chinese label of a service type; an unknown code is shown as itself (escape it before display)."""
    return SERVICE_TYPES.get(code, (code, UNKNOWN_SERVICE_COLOUR))[0]


def service_colour(code: str) -> str:
    """Marker colour of a service type; grey for an unknown code."""
    return SERVICE_TYPES.get(code, (code, UNKNOWN_SERVICE_COLOUR))[1]
