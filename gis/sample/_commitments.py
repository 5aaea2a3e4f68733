"""Party members' commitments (党员承诺) for the sample's party-member households, and their fulfilment (践诺).

Each party-member household (党员户) makes one or two commitments a year at the start of the year (年初亮诺, in
January to March), due at mid-year or the year's end; most of last year's are fulfilled (some late, a few
cancelled, a few left open), and this year's are fulfilled in proportion to the part of the year gone by. The party
member is the household's head (户主). Nothing here happens after `today`.

Deterministic: the same households, residents and `today` give the same rows (the generator does not read the
clock; the sample's loader passes the day it loads).
"""

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from gis.sample._clock import CHINA

SEED = 20241201
PER_YEAR = (1, 2)  # commitments a household makes in a year, drawn uniformly
# (承诺内容, 践诺情况): what party members commit to in the source reports' communities, and how it is written up.
COMMITMENTS = (
    ("每月走访联系户不少于2次，及时反映群众诉求", "全年走访联系户24次，反映诉求5件均已办结"),
    ("帮助独居老人代购生活用品、陪同就医", "为2户独居老人代购12次，陪同就医3次"),
    ("参加小区环境整治志愿服务每月不少于1次", "参加环境整治志愿服务13次，清理楼道堆物"),
    ("为困难家庭子女辅导功课", "每周辅导2名学生功课，期末成绩均有提高"),
    ("开展垃圾分类入户宣传", "入户宣传垃圾分类80余户，楼门分类准确率明显提高"),
    ("调解邻里矛盾纠纷，做到小事不出楼门", "参与调解邻里纠纷4起，均已化解"),
    ("教老年人使用智能手机和健康码", "举办智能手机课堂3场，帮助30余名老人学会使用"),
    ("参加防汛值守和应急处置", "汛期值守15次，协助疏通积水点2处"),
    ("认领并实现居民微心愿不少于2个", "认领微心愿3个，均已实现"),
    ("带头遵守文明养犬规定，劝导不文明行为", "劝导不文明养犬行为20余次"),
    ("协助开展消防安全检查，清理楼道杂物", "协助检查楼栋8栋，清理楼道杂物和飞线充电6处"),
    ("参加党员先锋岗值守", "在党群服务中心值守18次"),
    ("关心帮扶一户困难家庭", "每月上门看望，协助申请临时救助1次"),
    ("宣传反诈知识，守护老人钱袋子", "开展反诈宣传4次，覆盖居民100余人"),
)
COLUMNS = (
    "source_id",
    "household_ref",
    "resident_ref",
    "year",
    "content",
    "made_at",
    "promised_by",
    "state",
    "fulfilled_at",
    "fulfilment_note",
)


def _at(day: date, minutes: int) -> datetime:
    """Office hours of `day` in China time, as UTC."""
    return (datetime(day.year, day.month, day.day, 9, tzinfo=CHINA) + timedelta(minutes=minutes)).astimezone(UTC)


def draw_commitments(households: pd.DataFrame, residents: pd.DataFrame, today: date) -> pd.DataFrame:
    """Commitments of last year and this year (up to `today`) for the households with ``is_party_member``.

    `households`: ``source_id``, ``is_party_member``; `residents`: ``source_id``, ``household_ref``, ``relation``.
    Returns the `COLUMNS`; ``resident_ref`` is the household's head (户主), or None."""
    party = households.loc[households["is_party_member"].astype(bool), "source_id"].to_numpy(dtype=object)
    heads = residents.loc[residents["relation"] == "户主"].drop_duplicates("household_ref")
    head_of = dict(zip(heads["household_ref"], heads["source_id"], strict=True))
    rows: list[tuple] = []
    for year in (today.year - 1, today.year):
        rng = np.random.default_rng([SEED, year])
        count = rng.integers(PER_YEAR[0], PER_YEAR[1] + 1, len(party))
        household = np.repeat(party, count)
        n = len(household)
        which = rng.integers(0, len(COMMITMENTS), n)
        made_day = rng.integers(4, 90, n)  # 5 January … 31 March
        minutes = rng.integers(0, 8 * 60, (n, 2))
        mid_year = rng.random(n) < 0.3
        u = rng.random((n, 2))
        start = date(year, 1, 1)
        for i in range(n):
            made = start + timedelta(days=int(made_day[i]))
            if made >= today:
                continue
            due = date(year, 6, 30) if mid_year[i] else date(year, 12, 31)
            # last year's: 85% fulfilled (a tenth of those late), 3% cancelled; this year's: as the year goes by
            share = 0.85 if year < today.year else 0.85 * min(1.0, (today - made).days / max(1, (due - made).days))
            state, fulfilled, note = "made", None, None
            if u[i, 0] < share:
                late = year < today.year and u[i, 1] < 0.1
                end = min(today - timedelta(days=1), due + timedelta(days=45) if late else due)
                span = max(0, (end - made).days)
                day = made + timedelta(days=int(span * (u[i, 1] if not late else 1.0)))
                if made <= day < today:
                    state, fulfilled, note = "fulfilled", _at(day, int(minutes[i, 1])), COMMITMENTS[which[i]][1]
            elif year < today.year and u[i, 0] > 0.97:
                state = "cancelled"
            ref = household[i]
            rows.append(
                (
                    f"{ref}:{year}:{i}",
                    ref,
                    head_of.get(ref),
                    year,
                    COMMITMENTS[which[i]][0],
                    _at(made, int(minutes[i, 0])),
                    due,
                    state,
                    fulfilled,
                    note,
                )
            )
    return pd.DataFrame(rows, columns=list(COLUMNS))
