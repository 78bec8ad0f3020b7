"""The project's one home for performance metrics: Sharpe with its standard error, Sortino,
drawdown, trades per day, maker ratio, fee totals. Reports, gates, the study, the monitor, the
console and store views all call these; the monitor's rolling Sharpe and its z-score of live
against backtest are here too (the standard error with a Newey-West correction).

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

    from store.trading import DecisionSpan, LiquidityCounts

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
    return sharpe_se_of(sharpe(r, bar_seconds), r.size, periods_per_year(bar_seconds))


def sharpe_se_of(sharpe_ann: float, n: int, ppy: float, lrv: float = 1.0) -> float:
    """Standard error of an annualised Sharpe measured on n bars, ppy bars a year.

    Lo (2002), "The Statistics of Sharpe Ratios", eq. 8: Var(SR) ≈ (1 + SR²/2) / n per bar
    for i.i.d. returns. Bars are autocorrelated: with `lrv` the long-run over the plain
    variance of the returns (`lrv_ratio`), Var(SR) ≈ (lrv + SR²/2) / n, its HAC form
    (lrv = 1 is the i.i.d. case). Infinite under 2 bars."""
    if n < 2 or ppy <= 0:
        return math.inf
    per_bar = sharpe_ann / math.sqrt(ppy)
    return math.sqrt((lrv + per_bar * per_bar / 2.0) / n * ppy)


def newey_west_lags(n: int) -> int:
    """The Newey-West (1994) automatic lag: floor(4 (n/100)^(2/9))."""
    return int(math.floor(4.0 * (max(n, 1) / 100.0) ** (2.0 / 9.0)))


def lrv_ratio(r: np.ndarray, lags: int | None = None) -> float:
    """Newey-West (1987) long-run variance of r over its plain variance (1.0 when r is IID):
    LRV = γ0 + 2 Σ_{k=1..L} (1 - k/(L+1)) γ_k with the Bartlett weights, which keep it ≥ 0,
    and L = newey_west_lags(n). A flat series gives 1.0."""
    import numpy as np

    r = np.asarray(r, dtype=np.float64)
    n = r.size
    if n < 3:
        return 1.0
    x = r - r.mean()
    g0 = float(x @ x) / n
    if g0 <= 1e-20 * float(r @ r) / n:   # flat (up to rounding): no autocorrelation to see
        return 1.0
    lags = newey_west_lags(n) if lags is None else int(lags)
    lrv = g0
    for k in range(1, min(lags, n - 1) + 1):
        lrv += 2.0 * (1.0 - k / (lags + 1.0)) * float(x[k:] @ x[:-k]) / n
    return max(lrv / g0, 0.0)


def sharpe_gap_z(live: float, n_live: int, backtest: float, n_backtest: int, ppy: float,
                 lrv: float = 1.0) -> tuple[float, float]:
    """(z, SE of the gap) of live − backtest Sharpe, both annualised with ppy: the gap over
    √(SE_live² + SE_backtest²) (independent samples). The backtest's SE uses its own number
    of bars and the live window's autocorrelation (same model, same market: the backtest's
    returns are not kept beside the trader)."""
    se = math.hypot(sharpe_se_of(live, n_live, ppy, lrv),
                    sharpe_se_of(backtest, n_backtest, ppy, lrv))
    if not math.isfinite(se) or se <= 0:
        return 0.0, se
    return (live - backtest) / se, se


def bar_seconds_of(times: np.ndarray, default: float = 300.0) -> float:
    """The median positive spacing of the timestamps (the bar period)."""
    import numpy as np

    t = np.asarray(times, dtype=float)
    if t.size < 2:
        return default
    diffs = np.diff(t)
    diffs = diffs[diffs > 0]
    return float(np.median(diffs)) if diffs.size else default


def guarded_returns(equity: np.ndarray) -> np.ndarray:
    """Per-bar simple returns of a recorded equity series; a non-positive point yields a
    zero return rather than a division by it."""
    import numpy as np

    e = np.asarray(equity, dtype=float)
    if e.size < 2:
        return np.zeros(0)
    prev = e[:-1]
    return np.where(prev > 0, e[1:] / np.where(prev > 0, prev, 1.0) - 1.0, 0.0)


def series_sharpe(at: np.ndarray, equity: np.ndarray) -> tuple[float, int]:
    """Annualised Sharpe of a timed equity series and its number of returns (gates)."""
    import numpy as np

    at = np.asarray(at, dtype=float)
    if at.size < 2:
        return 0.0, 0
    r = guarded_returns(equity)
    dt = float(np.median(np.diff(at)))
    return (sharpe(r, dt) if dt > 0 else 0.0), int(r.size)


def rolling_sharpe(at: np.ndarray, equity: np.ndarray, ends: np.ndarray,
                   window_s: float) -> tuple[np.ndarray, np.ndarray]:
    """`sharpe` of the returns in the window ending at each of `ends`, and their number.

    A window ending at e holds the returns whose both points lie in [e - window_s, e]
    (`window_returns`); annualised by the series' median spacing. O(n + len(ends)) through
    cumulative sums, so the monitor can judge many checkpoints of a long series each cycle."""
    import numpy as np

    ends = np.asarray(ends, dtype=float)
    if len(at) < 2:
        return np.zeros(len(ends)), np.zeros(len(ends), dtype=int)
    r = guarded_returns(equity)
    cs = np.concatenate(([0.0], np.cumsum(r)))
    cs2 = np.concatenate(([0.0], np.cumsum(r * r)))
    lo = np.searchsorted(at, ends - window_s, side="left")
    hi = np.searchsorted(at, ends, side="right")
    n = np.maximum(hi - lo - 1, 0)
    last = np.maximum(hi - 1, lo)  # returns j in [lo, hi-1)
    s = cs[last] - cs[lo]
    s2 = cs2[last] - cs2[lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s / np.maximum(n, 1), 0.0)
        var = np.where(n > 1, (s2 - n * mean * mean) / np.maximum(n - 1, 1), 0.0)
        std = np.sqrt(np.maximum(var, 0.0))
        out = np.where(std > 1e-12, mean / std, 0.0) * annualisation(bar_seconds_of(at))
    return out, n


def window_returns(at: np.ndarray, equity: np.ndarray, end: float,
                   window_s: float) -> np.ndarray:
    """The returns `rolling_sharpe` uses for the window ending at `end`."""
    import numpy as np

    lo = int(np.searchsorted(at, end - window_s, side="left"))
    hi = int(np.searchsorted(at, end, side="right"))
    return guarded_returns(np.asarray(equity)[lo:hi])


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


def maker_ratio_of(counts: LiquidityCounts) -> float | None:
    """`maker_ratio` of the store's fill counts (store.trading.liquidity_counts)."""
    return maker_ratio(counts.maker_fills, counts.fills)


def bars_running_s(first_bar_at: float, last_bar_at: float, bars: int) -> float:
    """The time b bars from first to last stand for: each bar is one period, so
    (last - first) × b / (b - 1); 0 under 2 bars."""
    return (last_bar_at - first_bar_at) * bars / (bars - 1) if bars > 1 else 0.0


@dataclass(frozen=True)
class DecisionStats:
    decisions: int            # BUY/SELL decisions (HOLDs excluded)
    passed: int
    pass_rate: float
    trades_per_day: float     # passed decisions over the bar time the decisions span
    projected_trades_per_month: float
    avg_score: float


def decision_stats(span: DecisionSpan) -> DecisionStats:
    """Pass rate, trades per day (passed decisions over the bar-time span, `bars_running_s`)
    and the average score of a trader's decisions (store.trading.decision_span)."""
    running = (bars_running_s(span.first_bar_at, span.last_bar_at, span.bars)
               if span.first_bar_at is not None and span.last_bar_at is not None else 0.0)
    per_day = trades_per_day(span.passed, running)
    return DecisionStats(
        decisions=span.decisions, passed=span.passed,
        pass_rate=span.passed / span.decisions if span.decisions else 0.0,
        trades_per_day=per_day, projected_trades_per_month=monthly(per_day),
        avg_score=0.0 if span.avg_score is None else span.avg_score)


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
