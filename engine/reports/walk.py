"""One walk over historical bars, shared by the conviction replay and `cappuccino backtest`.

Each bar: the observation of the walk's own cash and holdings (engine.features.observation
on features computed once over the whole history: bit-identical to the trader's trailing
window), the policy, the trader's decision (engine.trading.decide.decide_bar: the model's
mapping, the conviction filter, the risk engine when given), then the fills by one of the
models of engine.reports.fills: at the close, the training env's own step
(engine.env.step.trade_step) with decide_bar's keep mask (the model's execution delay,
sells before buys, buys scaled down to the cash, orders under min_order_value skipped, the
fee plus half spread per side); or maker first, the trader's executor rule on the next bar."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from engine.config.schema import ConvictionSection
from engine.data.candles import Candles, DataError
from engine.env.step import StepOut, StepParams
from engine.reports.fills import BarFill, MakerFirst, bar_range, close_fills
from engine.trading.conviction import ConvictionFilter
from engine.trading.decide import BarDecision, BarInput, decide_bar
from engine.trading.policy import Policy, PolicyOutput
from engine.trading.risk import RiskEngine


@dataclass(frozen=True, eq=False)
class Bars:
    """What every walk over the window shares: features, prices, env params."""
    policy: Policy
    candles: Candles
    feats: np.ndarray        # (T, A, F) features of the whole history
    first: int               # first acting bar
    hi: int                  # one past the last bar
    lookback: int
    prm: StepParams
    initial: float
    max_position_pct: float

    @property
    def days(self) -> float:
        return (self.hi - 1 - self.first) * self.candles.bar_seconds / 86400.0


def prepare(policy: Policy, candles: Candles, conviction: ConvictionSection,
            max_position_pct: float, lo: int, hi: int | None,
            cost: float | None = None) -> Bars:
    """Bars [lo, hi), lo raised to the first bar with a full feature and volatility window;
    cost: the target broker's fee + half spread (else the model's own)."""
    from engine.env.step import step_params
    from engine.features import FeatureSpec, compute_features

    fspec = FeatureSpec.from_dict(policy.spec.features)
    env = policy.spec.env
    prm = step_params(env)   # the model's own mapping, band, sizing and delay
    if cost is not None:     # the target broker's fee + half spread (engine.env.step)
        prm = replace(prm, fee=cost)
    hi = candles.n_bars if hi is None else min(hi, candles.n_bars)
    need = max(fspec.warmup + fspec.lookback - 1, conviction.volatility_window)
    first = max(need, lo)
    if hi - first < 2:
        raise DataError(f"nothing to replay: {max(hi - lo, 0)} bars in the window, the data "
                        f"covers {iso(candles.times[0])} .. {iso(candles.times[-1])} "
                        f"({candles.n_bars} bars) and the model needs {need} bars of "
                        "history before its first decision")
    return Bars(policy, candles, compute_features(candles, fspec), first, hi,
                fspec.lookback, prm, float(env.get("initial_cash", 10_000.0)),
                max_position_pct)


@dataclass(frozen=True, eq=False)
class Step:
    """One bar of a walk: t, the policy's output, the decision, the cash and holdings before
    it, the step's result (the env step's, or one built the same way for maker fills) and
    its fills, marked at bar `filled_at`."""
    t: int
    out: PolicyOutput
    decision: BarDecision
    cash0: float
    holdings0: np.ndarray
    result: StepOut
    fills: tuple[BarFill, ...]
    filled_at: int


def walk(b: Bars, section: ConvictionSection | None, risk: RiskEngine | None = None,
         execution: MakerFirst | None = None) -> Iterator[Step]:
    """Step over the bars; section None: no filter (the plain backtest). With `risk`, its
    update() runs before each bar's decision (the bar closed at times[t] + period, so the
    data is never stale); the caller records its trades (record_trade) between steps.
    execution: None fills at the close (the env step), else maker first
    (engine.reports.fills)."""
    from engine.env.step import NumpyOps, trade_step
    from engine.features import observation

    close, tickers = b.candles.close, b.candles.tickers
    filt = None if section is None else ConvictionFilter(section, b.max_position_pct)
    span = 0 if section is None else max(section.volatility_window,
                                         section.momentum_window) + 1
    period = float(b.candles.bar_seconds)
    cash, hold = np.float64(b.initial), np.zeros(b.candles.n_assets)
    streaks: dict[str, int] = {}
    zero = np.float64(0.0)
    low, high = bar_range(close, b.candles.low, b.candles.high)
    column = {tk: j for j, tk in enumerate(tickers)}
    for t in range(b.first, b.hi - 1):
        p = close[t]
        at = float(b.candles.times[t]) + period
        out = b.policy.act(observation(b.feats[t - b.lookback + 1:t + 1], float(cash), hold,
                                       p, b.initial))
        equity = float(cash + np.add.reduce(hold * p))
        if risk is not None:
            risk.update(at, equity, float(b.candles.times[t]), False)
        quotes = None if execution is None else execution.quotes(tickers, p, at)
        d = decide_bar(b.prm, BarInput(tickers, out.actions, out.members, p, hold,
                                       close[max(t + 1 - span, 0):t + 1],
                                       Decimal(repr(equity)), Decimal(repr(float(cash))),
                                       quotes=quotes, exit_streaks=streaks), filt, risk)
        streaks = dict(d.exit_streaks)
        if execution is None:
            res = trade_step(NumpyOps, b.prm, p, close[t + 1], cash, hold, out.actions, zero,
                             zero, d.keep())
            px = close[t + 1] if b.prm.delay else p
            fills = close_fills(b.prm.fee, hold, res.holdings, px)
            filled_at = t + 1 if b.prm.delay else t
        else:
            c1, h1, fills = execution.step(d.intents, column, float(cash), hold, low[t + 1],
                                           high[t + 1], close[t + 1])
            res = StepOut(np.float64(c1), h1, equity, float(c1 + np.add.reduce(h1 * close[t + 1])),
                          0.0, sum(f.fee for f in fills), len(fills))
            filled_at = t + 1
        yield Step(t, out, d, float(cash), hold, res, fills, filled_at)
        cash, hold = res.cash, np.asarray(res.holdings, dtype=np.float64)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M")

