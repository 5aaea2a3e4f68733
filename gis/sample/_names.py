"""Fictional names for the sample area: roads, 小区, villages, communities, schools, grid workers and residents.

Names are built from small lists of common auspicious syllables and surnames, so they read like Chinese place and
person names without describing any real place or person. Each pool hands out names without repeating them until
it is exhausted, then adds a distinguishing prefix or phase (二期, 三期 …).
"""

import numpy as np

SYLLABLES = list("安和康华景泰嘉瑞丰福馨怡翠锦润祥悦盛恒欣宁远明清春兴隆永乐平顺达宏裕晨曦雅")
ROAD_WORDS = [
    "建设", "光明", "团结", "和平", "解放", "人民", "幸福", "文化", "振兴", "复兴", "新华", "长青", "友谊", "胜利",
    "前进", "育才", "民主", "富强", "朝晖", "东风", "红旗", "青年", "工农", "劳动", "科技", "创业", "迎宾", "滨河",
    "丰收", "向阳", "拥军", "新风", "广场", "学院", "体育", "花园", "安康", "兴业", "和顺", "同心", "正义", "永安",
    "长乐", "太平", "春晖", "明珠", "锦绣", "秀水",
]  # fmt: skip
SURNAMES = list("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕")
GIVEN = [
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英",
    "霞", "平", "刚", "桂英", "华", "红", "玉兰", "建国", "志强", "海燕", "晓东", "春梅", "立新", "淑珍", "凤兰",
    "国庆", "文博", "雨桐", "子涵", "思远", "佳怡", "宇航",
]  # fmt: skip
# Given names of residents by gender (names read as male or female in Chinese); several generations' fashions.
GIVEN_MALE = [
    "伟", "强", "磊", "军", "勇", "杰", "涛", "超", "刚", "建国", "志强", "晓东", "立新", "国庆", "文博", "思远",
    "宇航", "浩然", "子轩", "俊杰", "建华", "德明", "永福", "海涛", "明辉", "鹏", "斌", "浩宇", "博文", "振华",
]  # fmt: skip
GIVEN_FEMALE = [
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀英", "桂英", "玉兰", "海燕", "春梅", "淑珍", "凤兰",
    "雨桐", "佳怡", "子涵", "欣怡", "梓萱", "诗涵", "丽华", "秀兰", "慧", "婷", "雪", "晓燕", "美玲", "思琪", "桂芳",
]  # fmt: skip
COMPOUND_SUFFIXES = ["家园", "小区", "苑", "花园", "嘉园", "新村", "公寓", "里"]
VILLAGE_PREFIXES = ["", "前", "后", "东", "西", "南", "北", "小", "大"]
VILLAGE_SUFFIXES = ["家村", "庄", "营", "屯", "各庄", "家胡同"]
COMMUNITY_SUFFIXES = ["", "里", "园", "苑", "东里", "西里", "北里", "南里"]
PHASES = ["二期", "三期", "四期", "五期", "六期", "七期", "八期", "九期"]


class NamePool:
    """Hands out unique names drawn (seeded) from all combinations of the given parts."""

    def __init__(self, rng: np.random.Generator, *parts: list[str], laps: list[str] = PHASES) -> None:
        grids = np.meshgrid(*[np.arange(len(p)) for p in parts], indexing="ij")
        combos = np.stack([g.ravel() for g in grids], axis=1)
        combos = combos[rng.permutation(len(combos))]
        names = ["".join(p[i] for p, i in zip(parts, row, strict=True)) for row in combos]
        self._names = [n for n in names if len(n) < 2 or n[0] != n[1]]  # no '安安家园'
        self._laps = laps
        self._next = 0

    def take(self) -> str:
        name = self._names[self._next % len(self._names)]
        lap = self._next // len(self._names)
        self._next += 1
        return name if lap == 0 else f"{name}{self._laps[(lap - 1) % len(self._laps)]}"


class Names:
    """All name pools of one generated area (one seeded generator, so names are reproducible)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.compounds = NamePool(rng, SYLLABLES, SYLLABLES, COMPOUND_SUFFIXES)
        self.villages = NamePool(rng, VILLAGE_PREFIXES, SURNAMES, VILLAGE_SUFFIXES)
        self.communities = NamePool(rng, SYLLABLES, SYLLABLES, COMMUNITY_SUFFIXES)
        self.streets = NamePool(rng, SYLLABLES, SYLLABLES)
        self.places = NamePool(rng, SYLLABLES, SYLLABLES)  # schools, parks, markets
        self.roads = NamePool(rng, ROAD_WORDS, laps=["二", "三", "四", "五", "六"])  # 建设二路
        self.lanes = NamePool(rng, SYLLABLES, SYLLABLES, ["胡同", "巷", "条"])
        self.people = NamePool(rng, SURNAMES, GIVEN, laps=[""])  # people may share a name

    def road(self, horizontal: bool, primary: bool) -> str:
        """Arterial names: east–west roads are 路, north–south ones 街; the primary ones 大街/大道."""
        word = self.roads.take()
        if primary:
            return word + ("大道" if horizontal else "大街")
        return word + ("路" if horizontal else "街")
