"""The project's one home for performance metrics: Sharpe with its standard error, Sortino,
drawdown, trades per day, maker ratio, fee totals. Reports, gates, the study, the console and
store views all call these (the monitor's rolling Sharpe in engine/monitor/sharpe.py is
still its own windowed variant).

Crypto trades every day: annualisation uses 365-day years of the bar period. numpy is
imported by the functions that need it: the console imports this module at start-up.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from store.period import DecisionBucket, FillBucket

if TYPE_CHECKING:
    import numpy as np

SECONDS_PER_YEAR = 365 * 24 * 3600
DAY_S = 86_400.0
MAKER_TARGET = 0.70      # the share of fills we want resting on the book (maker fees)
DAYS_PER_MONTH = 30.0


def periods_per_year(bar_seconds: float) -> float:
    if bar_seconds <= 0:
        raise ValueError(f"bar_seconds must be positive, got {bar_seconds}")
    return SECONDS_PER_YEAR / bar_seconds


def annualisation(bar_seconds: float) -> float:
    return math.sqrt(periods_per_year(bar_seconds))


def returns(equity: np.ndarray) -> np.ndarray:
    """Per-bar simple returns between consecutive equity points."""
    import numpy as np

    e = np.asarray(equity, dtype=np.float64)
    return e[1:] / e[:-1] - 1.0 if e.size > 1 else np.zeros(0)


returns_from_equity = returns


def sharpe(r: np.ndarray, bar_seconds: float) -> float:
    """mean / std (ddof=1) of per-bar simple returns × sqrt(bars per year); 0 when flat."""
    import numpy as np

    r = np.asarray(r, dtype=np.float64)
    r = r[np.isfinite(r)]
    if r.size < 2:
        return 0.0
    sd = float(r.std(ddof=1))
    if sd < 1e-12:
        return 0.0
    return float(r.mean()) / sd * annualisation(bar_seconds)


def sharpe_of_equity(equity: np.ndarray, bar_seconds: float) -> float:
    return sharpe(returns(equity), bar_seconds)


def sharpe_se(r: np.ndarray, bar_seconds: float) -> float:
    """Standard error of the annualised Sharpe (Lo 2002, i.i.d. returns):
    sqrt((1 + SR²/2) / n) per bar, annualised like the Sharpe; NaN under 2 returns."""
    import numpy as np

    r = np.asarray(r, dtype=float)
    r = r[np.isfinite(r)]
    if r.size < 2:
        return math.nan
    sd = float(r.std(ddof=1))
    per_bar = float(r.mean()) / sd if sd >= 1e-12 else 0.0
    return math.sqrt((1.0 + per_bar ** 2 / 2.0) / r.size) * annualisation(bar_seconds)


def bar_seconds_of(times: np.ndarray, default: float = 300.0) -> float:
    """The median positive spacing of the timestamps (the bar period)."""
    import numpy as np

    t = np.asarray(times, dtype=float)
    if t.size < 2:
        return default
    diffs = np.diff(t)
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) if diffs.size else default


def series_sharpe(at: np.ndarray, equity: np.ndarray) -> tuple[float, int]:
    """Annualised Sharpe of a timed equity series and its number of returns (gates).
    A non-positive equity point yields a zero return rather than a division by it."""
    import numpy as np

    at, e = np.asarray(at, dtype=float), np.asarray(equity, dtype=float)
    if at.size < 2:
        return 0.0, 0
    prev = e[:-1]
    r = np.where(prev > 0, e[1:] / np.where(prev > 0, prev, 1.0) - 1.0, 0.0)
    dt = float(np.median(np.diff(at)))
    return (sharpe(r, dt) if dt > 0 else 0.0), int(r.size)


def sortino(r: np.ndarray, bar_seconds: float) -> float:
    """Mean over downside deviation (root mean square of negative returns), annualised."""
    import numpy as np

    r = np.asarray(r, dtype=float)
    if r.size < 2:
        return 0.0
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return 0.0 if downside == 0 else float(np.mean(r)) / downside * annualisation(bar_seconds)


def drawdown(equity: np.ndarray) -> np.ndarray:
    import numpy as np

    e = np.asarray(equity, dtype=float)
    if e.size == 0:
        return e
    return e / np.maximum.accumulate(e) - 1.0


def max_drawdown(equity: np.ndarray) -> float:
    """The deepest fall from a running peak, as a positive fraction."""
    dd = drawdown(equity)
    return 0.0 if dd.size == 0 else float(-dd.min())


def daily_pnl(at: np.ndarray, equity: np.ndarray) -> list[tuple[float, float]]:
    """(UTC day start, that day's last equity minus the day before's), the first day against
    the first equity point: a one-day period still has its bar."""
    import numpy as np

    at, equity = np.asarray(at, dtype=float), np.asarray(equity, dtype=float)
    if at.size == 0:
        return []
    days = (at // DAY_S).astype(np.int64)
    last = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    closes = equity[last]
    before = np.concatenate(([equity[0]], closes[:-1]))
    return [(float(days[i]) * DAY_S, float(c - b))
            for i, c, b in zip(last, closes, before, strict=True)]


def trades_per_day(trades: int | float, running_s: float, min_running_s: float = 0.0) -> float:
    """Trades over the time the trader ran (seconds), floored at `min_running_s`;
    0 when it has not run at all."""
    span = max(float(running_s), float(min_running_s))
    return float(trades) / (span / DAY_S) if span > 0 else 0.0


def monthly(per_day: float) -> float:
    """A per-day rate projected over a 30-day month."""
    return per_day * DAYS_PER_MONTH


def maker_ratio(maker_fills: int, fills: int) -> float | None:
    """The share of fills that rested on the book; None without fills."""
    return maker_fills / fills if fills else None


def fee_total(fees: Iterable[object]) -> Decimal:
    """The exact sum of fee amounts (Decimal text, numbers or None for unknown)."""
    return sum((Decimal(str(f)) for f in fees if f not in (None, "")), Decimal(0))


# -- a trader's activity over a window, from the store's per-day buckets -------------------
@dataclass(frozen=True)
class ConvictionStats:
    trader: str
    window_s: float
    decisions: int
    passed: int
    pass_rate: float | None
    avg_score: float | None
    trades_per_day: float | None
    projected_per_month: float | None


def conviction_from_buckets(trader: str, buckets: Sequence[DecisionBucket], since: float,
                            until: float) -> ConvictionStats:
    """Decisions that wanted to trade in [since, until], and how many passed. Trades per day
    are over the time since the first decision (at least an hour): a trader that started an
    hour ago is not averaged over a whole week."""
    n = sum(b.decisions for b in buckets)
    passed = sum(b.passed for b in buckets)
    per_day = None
    if n:
        t0 = min(b.first_at for b in buckets if b.decisions)
        per_day = trades_per_day(passed, until - t0, min_running_s=3600.0)
    return ConvictionStats(
        trader=trader, window_s=until - since, decisions=n, passed=passed,
        pass_rate=(passed / n) if n else None,
        avg_score=(sum(b.score_sum for b in buckets) / n) if n else None,
        trades_per_day=per_day, projected_per_month=None if per_day is None else monthly(per_day))


@dataclass(frozen=True)
class ExecutionStats:
    trader: str
    fills: int
    maker_fills: int
    maker_ratio: float | None
    fees_paid: str               # Decimal text
    fee_tier: dict[str, Any] | None
    since: float


def fee_tier_of(text: str | None) -> dict[str, Any] | None:
    """The trader's recorded fee tier (JSON object text); None when absent or unreadable."""
    if not text:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def execution_from_buckets(trader: str, buckets: Sequence[FillBucket], fee_tier: str | None,
                           since: float) -> ExecutionStats:
    """Maker ratio and fees paid over the fills of the buckets."""
    fills = sum(b.fills for b in buckets)
    maker = sum(b.maker_fills for b in buckets)
    fees = fee_total(b.fees for b in buckets)  # Decimal text the store already parsed
    return ExecutionStats(trader=trader, fills=fills, maker_fills=maker,
                          maker_ratio=maker_ratio(maker, fills), fees_paid=str(fees),
                          fee_tier=fee_tier_of(fee_tier), since=since)
