"""Conviction replay: a model and the conviction filter over historical bars, side by side.

Two portfolios start with the model's [env] initial_cash at the same bar and step over the
same bars with the training env's own step (engine.env.step.trade_step: the model's own
action mapping and execution delay, sells before buys, buys scaled down to the cash, orders
under min_order_value skipped, the target broker's fee and half spread per side):

  raw       executes every decision of the model (this is the plain backtest);
  filtered  the live trader's path: policy -> side per ticker -> the five conviction
            factors -> engine.trading.conviction.ConvictionFilter; a blocked decision's
            order is dropped, everything else goes to the step unchanged.

Each portfolio feeds its own cash and holdings to the model (the observation holds them), so
the two paths may diverge. With min_score 0 nothing is blocked and the two are identical.

What the live trader records is the filtered path's decisions, so the counts come from it:
`decisions.raw` = its non-HOLD decisions, `decisions.passed` = those the filter let
through, pass rate = passed / raw. Trades per day = count / days of the window; per month
= per day x 30. `pnl.*.orders` are the orders the env step executed for each portfolio.

Per-bar inputs, as the trader computes them (engine.reports.walk): features by
engine.features.compute_features on the whole history (bit-identical to the trader's
trailing window, see engine.features), the observation by engine.features.observation, and
the trader's own decision function, engine.trading.decide.decide_bar (the model's mapping,
the five conviction factors, the filter's rule). Not replayed: the risk engine (daily loss,
loss streaks, per-order notional and product increments; `cappuccino backtest` replays it)
and maker-first execution: orders fill at the bar's close (the next bar's with the model's
execution delay). Per factor, the PnL of what it blocked against what it passed:
engine.reports.replay_pnl.

Blocked-by attribution: for each blocked decision, every factor's cost is the score it
gave up, weight x (1 - factor value) (its full weight minus what it contributed); the
factor with the largest cost is counted (engine.trading.conviction.blamed_factor, which
decide_bar names on each blocked decision; ties: the first in the order size, momentum,
agreement, volatility, context; factors with weight 0 are never blamed).

The min_score hint re-applies the filter's pass rule (exit threshold and exit release
included) to the filtered path's recorded decisions at other thresholds; see rescore(). It
is exact at the min_score of the run and an estimate elsewhere: a different threshold
changes the positions, and so the later decisions. Below the run's min_score it runs low,
so re-run with the suggested value to confirm. `tune=True` (CLI --tune) instead bisects
min_score toward the target by replaying the filtered path at each probe (exact counts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.config.schema import ConvictionSection
from engine.data.candles import TIMEFRAME_SECONDS, Candles, DataError, bar_seconds
from engine.model.artifact import ModelError
from engine.reports.metrics import max_drawdown, returns, sharpe
from engine.reports.replay_pnl import FactorPnl, factor_pnl
from engine.reports.walk import Bars, prepare, walk
from engine.trading.conviction import FACTORS, blamed_factor
from engine.trading.policy import Policy, data_mismatch

TARGET_PER_MONTH = (75.0, 100.0)   # the seed's target trade count
DAYS_PER_MONTH = 30.0
HINT_GRID = tuple(round(0.01 * i, 2) for i in range(101))
_TIME_COLUMNS = ("timestamp", "time", "date", "datetime", "start", "t")


class MismatchError(ModelError):
    """The model's tickers, timeframe or features do not match the data (one line)."""


# ------------------------------------------------------------------------------- data

def load_data(data: str, tickers: tuple[str, ...], timeframe: str, max_fill_bars: int,
              on_repair: Callable[[str], None] | None = None) -> Candles:
    """`demo` (the bundled real closes) or a CSV/Parquet file -> Candles of the model's
    tickers on the model's timeframe (resampled from finer data). DataError: unreadable or
    unusable; MismatchError: missing tickers, or data coarser than the model's timeframe.
    on_repair gets one line naming what was repaired (text or absurd prices, gaps), so a
    result over repaired data never reads as one over clean data."""
    from engine.data.load import read_bundled, read_table, resample
    from engine.data.validate import validate

    df = read_bundled() if data == "demo" else read_table(data)
    want = bar_seconds(timeframe)
    native = _native_seconds(df)
    stored = timeframe
    if native is not None and native != want:
        name = next((k for k, v in TIMEFRAME_SECONDS.items() if v == native), f"{native}s")
        if native > want or want % native or name not in TIMEFRAME_SECONDS:
            raise MismatchError(f"timeframe: model {timeframe} vs data {name} (bars every "
                                f"{native}s)")
        stored = name
    try:
        candles, report = validate(df, tickers=list(tickers), timeframe=stored,
                                   max_fill_bars=max_fill_bars, min_bars=2)
    except DataError as e:
        if str(e).startswith("ticker(s)"):
            raise MismatchError(f"tickers: model needs {', '.join(tickers)}; {e}") from None
        raise
    if on_repair is not None and not report.clean:
        on_repair("repaired: " + "; ".join(report.lines))
    return resample(candles, timeframe)


def _native_seconds(df: Any) -> int | None:
    """The data's bar spacing (smallest step between distinct timestamps), if readable."""
    from engine.data.validate import to_unix_seconds

    cols = {str(c).strip().lower(): c for c in df.columns}
    col = next((cols[n] for n in _TIME_COLUMNS if n in cols), None)
    if col is None:
        return None  # validate() names the problem
    ts = np.unique(to_unix_seconds(df[col]))
    ts = ts[np.isfinite(ts)]
    if ts.size < 2:
        return None
    return int(round(float(np.min(np.diff(ts)))))


def check_model(policy: Policy, candles: Candles) -> None:
    """The trader's check (policy.data_mismatch): tickers, timeframe, needed fields."""
    diffs = data_mismatch(policy.spec, candles.tickers, candles.timeframe, candles)
    if diffs:
        raise MismatchError("; ".join(diffs))


def window(candles: Candles, start: float | None, end: float | None) -> tuple[int, int]:
    """Bar indices [lo, hi) with start <= time < end (the history before lo still feeds the
    features)."""
    lo = 0 if start is None else int(np.searchsorted(candles.times, start, side="left"))
    hi = candles.n_bars if end is None else int(np.searchsorted(candles.times, end,
                                                                side="left"))
    return lo, hi


# ----------------------------------------------------------------------- the replay

@dataclass(frozen=True)
class PortfolioResult:
    orders: int             # executed by the env step (after min order and the cash cap)
    orders_per_day: float
    final_equity: float
    total_return: float
    fees: float
    sharpe: float
    max_drawdown: float


@dataclass(frozen=True)
class HintRow:
    min_score: float
    passed: int
    trades_per_month: float


@dataclass(frozen=True)
class ReplayResult:
    model: str
    members: int
    tickers: tuple[str, ...]
    timeframe: str
    start: float            # first acting bar (UTC unix seconds)
    end: float              # the last bar (marked to, not acted on)
    bars: int               # acting bars
    days: float
    min_score: float
    fee_rate: float
    initial_cash: float
    decisions: int          # non-HOLD decisions on the filtered path
    passed: int
    exits_released: int
    avg_score: float
    blocked_by: dict[str, int]
    raw: PortfolioResult
    filtered: PortfolioResult
    hint: tuple[HintRow, ...]
    tuned: tuple[HintRow, ...] = ()   # replayed probes (--tune), in the order run
    factor_pnl: dict[str, FactorPnl] = field(default_factory=dict)   # engine.reports.replay_pnl
    horizon: int = 0                  # bars of the decisions' forward PnL

    @property
    def blocked(self) -> int:
        return self.decisions - self.passed

    @property
    def pass_rate(self) -> float:
        return self.passed / self.decisions if self.decisions else 0.0

    def per_day(self, n: int) -> float:
        return n / self.days if self.days > 0 else 0.0

    def per_month(self, n: int) -> float:
        return self.per_day(n) * DAYS_PER_MONTH

    def hint_range(self) -> tuple[float, float] | None:
        lo, hi = TARGET_PER_MONTH
        hits = [h.min_score for h in self.hint if lo <= h.trades_per_month <= hi]
        return (min(hits), max(hits)) if hits else None


@dataclass
class _Book:
    """One portfolio's mutable state during the replay (never leaves this module)."""
    cash: np.float64
    holdings: np.ndarray
    equity: list[float]
    fees: float = 0.0
    orders: int = 0

    def value(self, prices: np.ndarray) -> float:
        return float(self.cash + np.add.reduce(self.holdings * prices))


@dataclass(frozen=True)
class _Rec:
    ticker: str
    side: str
    bar: int            # the bar the decision was made at
    column: int         # the ticker's column
    value: float        # the order's value at the bar's close
    holds: bool
    score: float
    threshold: float    # the score it needed (exits: x exit_threshold_factor)
    factors: tuple[float, float, float, float, float]
    passed: bool
    reason: str


def _simulate(b: Bars, section: ConvictionSection | None) -> tuple[_Book, list[_Rec]]:
    """One portfolio over the window (engine.reports.walk). section None: raw (every action
    to the env step); else the live trader's path through a ConvictionFilter with that
    section."""
    book = _Book(np.float64(b.initial), np.zeros(b.candles.n_assets), [b.initial])
    recs: list[_Rec] = []
    for s in walk(b, section):
        p = b.candles.close[s.t]
        if section is not None:
            for j, d in enumerate(s.decision.decisions):
                if d.side == "HOLD" or d.verdict is None:
                    continue
                v = d.verdict
                recs.append(_Rec(d.ticker, d.side, s.t, j, abs(d.shares) * float(p[j]),
                                 d.holds, v.score, d.threshold,
                                 (v.f_size, v.f_momentum, v.f_agreement, v.f_volatility,
                                  v.f_context), d.passed, d.reason))
        _step(book, s.result)
    return book, recs


def _section(conviction: ConvictionSection, min_score: float | None = None
             ) -> ConvictionSection:
    """The filter is always on here (replaying it is the point)."""
    update: dict[str, Any] = {"enabled": True}
    if min_score is not None:
        update["min_score"] = min_score
    return conviction.model_copy(update=update)


def replay(policy: Policy, candles: Candles, conviction: ConvictionSection,
           max_position_pct: float, lo: int = 0, hi: int | None = None,
           model: str = "", tune: bool = False, cost: float | None = None) -> ReplayResult:
    """Run both portfolios over bars [lo, hi) (raised to the first bar with a full feature
    and volatility window); `conviction.min_score` is the threshold. tune: also search for
    a min_score in the target range by replaying the filtered path (see tune_min_score)."""
    b = prepare(policy, candles, conviction, max_position_pct, lo, hi, cost)
    section = _section(conviction)
    raw, _ = _simulate(b, None)
    flt, recs = _simulate(b, section)
    secs, days = candles.bar_seconds, b.days
    passed = sum(r.passed for r in recs)
    weights = (section.weights.size, section.weights.momentum, section.weights.agreement,
               section.weights.volatility, section.weights.context)
    hint = rescore(recs, section, days, sorted(set(HINT_GRID) | {section.min_score}),
                   section.min_score)
    tuned = tune_min_score(b, section, (section.min_score, passed)) if tune else ()
    return ReplayResult(
        model=model or policy.describe(), members=len(policy.members),
        tickers=candles.tickers, timeframe=candles.timeframe,
        start=float(candles.times[b.first]), end=float(candles.times[b.hi - 1]),
        bars=b.hi - 1 - b.first, days=days, min_score=section.min_score,
        fee_rate=b.prm.fee, initial_cash=b.initial, decisions=len(recs), passed=passed,
        exits_released=sum(r.reason == "exit released" for r in recs),
        avg_score=float(np.mean([r.score for r in recs])) if recs else 0.0,
        blocked_by=blocked_by(recs, weights),
        raw=_summary(raw, secs, days), filtered=_summary(flt, secs, days), hint=hint,
        tuned=tuned, horizon=section.momentum_window,
        factor_pnl=factor_pnl(recs, candles.close, FACTORS, weights, section.momentum_window,
                              b.prm.fee, b.hi - 1))


def tune_min_score(b: Bars, section: ConvictionSection, known: tuple[float, int],
                   max_runs: int = 8) -> tuple[HintRow, ...]:
    """Bisect min_score toward the middle of the target range, replaying the filtered path
    at each probe (exact counts, max_runs replays). Assumes fewer passes at a higher
    min_score, which holds in general but not strictly (the path changes)."""
    per_month = DAYS_PER_MONTH / b.days if b.days > 0 else 0.0
    lo_t, hi_t = TARGET_PER_MONTH
    probes = [HintRow(known[0], known[1], known[1] * per_month)]
    lo, hi = 0.0, 1.0  # the answer lies in [lo, hi]
    for _ in range(max_runs):
        last = probes[-1]
        if lo_t <= last.trades_per_month <= hi_t:
            break
        if last.trades_per_month > hi_t:
            lo = max(lo, last.min_score)
        else:
            hi = min(hi, last.min_score)
        if hi - lo < 0.005:
            break
        m = round((lo + hi) / 2, 3)
        _, recs = _simulate(b, section.model_copy(update={"min_score": m}))
        n = sum(r.passed for r in recs)
        probes.append(HintRow(m, n, n * per_month))
    return tuple(probes)


def _step(book: _Book, out: Any) -> None:
    book.cash, book.holdings = out.cash, out.holdings
    book.equity.append(float(out.value1))
    book.fees += float(out.fees)
    book.orders += int(out.trades)


def _summary(book: _Book, bar_secs: int, days: float) -> PortfolioResult:
    eq = np.asarray(book.equity)
    return PortfolioResult(
        orders=book.orders, orders_per_day=book.orders / days if days > 0 else 0.0,
        final_equity=float(eq[-1]), total_return=float(eq[-1] / eq[0] - 1.0),
        fees=book.fees, sharpe=sharpe(returns(eq), bar_secs), max_drawdown=max_drawdown(eq))


def blocked_by(recs: list[_Rec], weights: tuple[float, ...]) -> dict[str, int]:
    """Per factor, how many blocked decisions it cost most (see the module docstring)."""
    counts = dict.fromkeys(FACTORS, 0)
    for r in recs:
        if not r.passed:
            counts[blamed_factor(weights, r.factors)] += 1
    return counts


def rescore(recs: list[_Rec], section: ConvictionSection, days: float,
            thresholds: list[float], run_min_score: float) -> tuple[HintRow, ...]:
    """Estimated passes at each threshold from this run's decisions (the path is fixed).

    Entries pass when score >= threshold. Exits (sells of held positions) follow the
    filter's exit rule in order: score >= threshold x exit_threshold_factor, else released
    after exit_max_blocked blocked exits of that ticker in a row; this is the rule of
    ConvictionFilter.evaluate run for every threshold at once (one numpy pass per exit
    instead of a filter per threshold), and the tests hold it to the filter's own count at
    the run's min_score. Exits exist only for positions that entries opened, so above the
    run's min_score they are scaled by entries(threshold) / entries(run's min_score).
    """
    thr = np.asarray(thresholds, dtype=float)
    entry = np.array([r.score for r in recs if not (r.side == "SELL" and r.holds)])
    entries = (entry[None, :] >= thr[:, None]).sum(axis=1) if entry.size else np.zeros(
        thr.size, dtype=int)
    exit_thr = thr * section.exit_threshold_factor
    exits = np.zeros(thr.size, dtype=int)
    blocked: dict[str, np.ndarray] = {}
    for r in recs:
        if not (r.side == "SELL" and r.holds):
            continue
        cnt = blocked.setdefault(r.ticker, np.zeros(thr.size, dtype=int))
        ok = (r.score >= exit_thr) | (cnt >= section.exit_max_blocked)
        exits += ok
        blocked[r.ticker] = np.where(ok, 0, cnt + 1)
    base = int(np.count_nonzero(entry >= run_min_score)) if entry.size else 0
    at_run = np.isclose(thr, run_min_score, rtol=0, atol=1e-12)
    # Only scaled down: below the run's min_score the extra entries' exits are not on this
    # path, so the estimate there is low (never above this path's decisions).
    scale = np.where(at_run, 1.0, np.minimum(entries / base, 1.0) if base else 1.0)
    est = entries + np.where(at_run, exits, np.rint(exits * scale)).astype(int)
    per_month = DAYS_PER_MONTH / days if days > 0 else 0.0
    return tuple(HintRow(float(t), int(n), float(n) * per_month)
                 for t, n in zip(thr, est, strict=True))
