"""The words of a residents' register: its column headers, genders and tags, in Chinese as communities write
them and as gridmap stores them (gender 男/女; tags as the household tag codes of docs/layers.md,
gis.workload.ALL_TAGS)."""

import unicodedata

from gis.workload import ALL_TAGS

__all__ = ["COLUMNS", "GENDERS", "TAG_LABELS", "column_of", "gender_code", "tag_code"]

# Column -> the headers that name it (Chinese as registers write them, and the column name itself).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "name"),
    "gender": ("性别", "gender", "sex"),
    "id_number": ("身份证号", "身份证号码", "公民身份号码", "id_number"),
    "phone": ("联系电话", "手机号", "手机号码", "电话", "phone"),
    "birth_year": ("出生年份", "出生年月", "出生日期", "birth_year"),
    "building": ("楼栋", "楼号", "building"),
    "unit": ("单元", "unit"),
    "room": ("房号", "门牌号", "户号", "room"),
    "tags": ("标签", "人员类别", "tags"),
    "relation": ("与户主关系", "relation"),
}
GENDERS = {"男": "男", "男性": "男", "male": "男", "m": "男", "女": "女", "女性": "女", "female": "女", "f": "女"}

# Tag code -> its label (written into registers) and the other words registers use for it.
TAG_LABELS = {
    "elderly_alone": "独居老人",
    "aged_80": "高龄老人",
    "disabled": "残疾人",
    "hardship": "低保",
    "infant": "婴幼儿",
    "left_behind_child": "留守儿童",
    "floating": "流动人口",
    "rented": "出租房屋",
    "hospitalized": "住院",
    "unemployed": "失业",
    "released": "刑满释放",
    "petitioner": "信访",
}
TAG_SYNONYMS = {
    "elderly_alone": ("空巢老人", "独居", "空巢", "孤寡老人"),
    "aged_80": ("高龄",),
    "disabled": ("残疾", "残障"),
    "hardship": ("低保户", "特困", "特困人员", "困难家庭", "低保边缘"),
    "infant": ("婴儿", "幼儿"),
    "floating": ("外来人口",),
    "rented": ("租户", "出租户"),
    "unemployed": ("下岗失业", "失业人员", "下岗"),
    "released": ("刑满释放人员", "社区矫正", "社区矫正对象", "安置帮教"),
    "petitioner": ("信访户", "信访人员"),
}


def _key(text: str) -> str:
    """Headers and words compared without width, case, spaces or a required-field star ('*姓名', ' Name ')."""
    return "".join(unicodedata.normalize("NFKC", text).split()).strip("*").lower()


_HEADERS = {_key(h): column for column, headers in COLUMNS.items() for h in headers}
_TAGS = {_key(w): code for code in ALL_TAGS for w in (code, TAG_LABELS[code], *TAG_SYNONYMS.get(code, ()))}
_GENDERS = {_key(w): code for w, code in GENDERS.items()}


def column_of(header: str) -> str | None:
    """The column a header names, None when it is not one of ours."""
    return _HEADERS.get(_key(header))


def tag_code(word: str) -> str | None:
    """The stored code of a tag as written ('独居老人', '空巢老人', 'elderly_alone' → 'elderly_alone')."""
    return _TAGS.get(_key(word))


def gender_code(word: str) -> str | None:
    """'男', '男性', 'M', 'male' → '男'; '女', '女性', 'F', 'female' → '女' (as stored); None otherwise."""
    return _GENDERS.get(_key(word))
