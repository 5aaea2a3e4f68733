"""KPIs of a place from the counts behind them (api.storage.kpis): visits done vs due, hazard closure and overdue
rates, request closure, satisfaction. Every rate comes with the counts it rests on and `n`, its denominator; a rate
on fewer than `SMALL_N` cases is flagged `small` (not hidden: the maps that draw it decide what to suppress). A
rate with nothing under it is null."""

from typing import Any

SMALL_N = 5


def rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _n(n: int) -> dict[str, Any]:
    return {"n": n, "small": n < SMALL_N}


def place_kpis(visits: dict | None, hazards: dict | None, requests: dict | None) -> dict[str, dict[str, Any]]:
    """One place's KPIs from its rows of each family's counts (None: no rows)."""
    v = visits or {}
    due, done = int(v.get("due") or 0), int(v.get("done") or 0)
    h = hazards or {}
    reported, closed, overdue = (int(h.get(k) or 0) for k in ("reported", "closed", "overdue"))
    q = requests or {}
    counted, finished = int(q.get("counted") or 0), int(q.get("closed") or 0)
    rated, satisfied = int(q.get("rated") or 0), int(q.get("satisfied") or 0)
    mean = None if rated == 0 else round(float(q["rating_sum"]) / rated, 2)
    return {
        "visits": {"due": due, "done": done, "households": int(v.get("households") or 0), "rate": rate(done, due)}
        | _n(due),
        "hazards": {
            "reported": reported,
            "closed": closed,
            "overdue": overdue,
            "closure_rate": rate(closed, reported),
            "overdue_rate": rate(overdue, reported),
        }
        | _n(reported),
        "requests": {"counted": counted, "closed": finished, "closure_rate": rate(finished, counted)} | _n(counted),
        "satisfaction": {
            "rated": rated,
            "mean": mean,
            "satisfied": satisfied,
            "satisfied_share": rate(satisfied, rated),
        }
        | _n(rated),
    }
