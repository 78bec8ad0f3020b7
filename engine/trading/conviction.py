"""The conviction filter: five factors in [0, 1], a weighted score, a pass/fail verdict.

Factors (weights from [conviction.weights]; defaults .30/.20/.20/.15/.15). A decision's
sign is +1 for a buy, -1 for a sell; "agreeing" factors use t = mean / std * sqrt(n) of log
returns and f = (1 + sign * tanh(t / 2)) / 2 (0.5 without data or with zero spread):

- size        the trade's value against one unit of the model's mapping (engine.env.step):
              one equal-weight share (equity / A) for target weights, max_trade_fraction x
              equity for the delta mapping; f = min(1, value / unit).
- momentum    the ticker's own price momentum over `momentum_window` bars agreeing with the
              decision's sign (a buy into a falling price scores low, a sell of it high).
- agreement   the share of ensemble members whose own order (each member's action through
              the same mapping) points the decision's way; with one model there is no second
              opinion: 0.5, neutral (never a free 1).
- volatility  the regime of the ticker: ratio = std of the last `volatility_short_window`
              log returns / std over `volatility_window`; f = clip(1.5 - ratio / 2, 0, 1):
              calm or normal (ratio <= 1) scores 1, a 3x vol spike scores 0.
- context     the market and the book: m = the equal-weight market's trend over
              `volatility_window` bars agreeing with the decision's sign; w = the ticker's
              position value / equity, wmax = [risk] max_position_pct / 100;
              buy:  f = (m + 1 - min(1, w / wmax)) / 2   (room left; no bonus for cash, so
                                                          a buy from cash is still judged)
              sell: f = (m + (1 + min(1, w / wmax)) / 2) / 2   (selling reduces risk)

score = sum(weight_i * f_i); a buy passes when score >= min_score.

Exits are never trapped: a sell of a held position passes at `exit_threshold_factor` x
min_score, and once `exit_max_blocked` sells of that ticker in a row were blocked, the next
one passes whatever its score (reason "exit released"). The risk engine's REDUCING state
lets exits through as well.

Speed: the per-bar factors are numpy over all tickers at once (bar_factors); the verdict is
plain floats per decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.config.schema import ConvictionSection

FACTORS = ("size", "momentum", "agreement", "volatility", "context")


def blamed_factor(weights: tuple[float, ...], factors: tuple[float, ...]) -> str:
    """The factor that cost a decision the most score: weight x (1 - value), the score it
    gave up (ties: the first in FACTORS' order; a factor of weight 0 is never blamed)."""
    costs = [w * (1.0 - f) if w > 0 else -1.0 for w, f in zip(weights, factors, strict=True)]
    return FACTORS[int(np.argmax(costs))]


@dataclass(frozen=True)
class Verdict:
    score: float
    f_size: float
    f_momentum: float
    f_agreement: float
    f_volatility: float
    f_context: float
    passed: bool
    reason: str

    @property
    def factors(self) -> tuple[float, float, float, float, float]:
        """The factor values in FACTORS' order."""
        return (self.f_size, self.f_momentum, self.f_agreement, self.f_volatility,
                self.f_context)


def _clip01(x: float) -> float:
    return 0.0 if x < 0.0 else (1.0 if x > 1.0 else x)


def momentum_factor(returns: np.ndarray | list[float]) -> float:
    r = np.asarray(returns, dtype=float)
    r = r[np.isfinite(r)]
    n = r.size
    if n < 2:
        return 0.5
    sd = float(r.std(ddof=1))
    if sd <= 0.0 or not math.isfinite(sd):
        return 0.5
    t = float(r.mean()) / sd * math.sqrt(n)
    return 0.5 * (1.0 + math.tanh(t / 2.0))


def volatility_factors(closes: np.ndarray, short_window: int, long_window: int) -> np.ndarray:
    """The volatility factor of every column of closes (T, A) at once (one numpy pass per bar)."""
    c = np.asarray(closes, dtype=float)[-(long_window + 1):]
    if c.ndim == 1:
        c = c[:, None]
    out = np.ones(c.shape[1])
    if c.shape[0] < 3:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(c), axis=0)
        long_sd = r.std(axis=0)
        short = r[-short_window:] if short_window < r.shape[0] else r
        ratio = short.std(axis=0) / long_sd
    ok = np.isfinite(ratio) & (long_sd > 0) & np.all(c > 0, axis=0)
    out[ok] = np.clip(1.5 - 0.5 * ratio[ok], 0.0, 1.0)
    return out


def volatility_factor(closes: np.ndarray, short_window: int, long_window: int) -> float:
    return float(volatility_factors(closes, short_window, long_window)[0])


def context_factor(side: str, weight: float, f_market: float, max_weight: float) -> float:
    w = _clip01(weight / max_weight) if max_weight > 0 else 1.0
    if side == "BUY":
        return (f_market + 1.0 - w) / 2.0
    return (f_market + (1.0 + w) / 2.0) / 2.0


def trend_tstats(closes: np.ndarray, window: int) -> np.ndarray:
    """Per column: mean / std * sqrt(n) of the last `window` log returns (0 if flat or short)."""
    c = np.asarray(closes, dtype=float)[-(window + 1):]
    if c.ndim == 1:
        c = c[:, None]
    out = np.zeros(c.shape[1])
    if c.shape[0] < 3:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.diff(np.log(c), axis=0)
        sd = r.std(axis=0, ddof=1)
        t = r.mean(axis=0) / sd * np.sqrt(r.shape[0])
    ok = np.isfinite(t) & (sd > 0)
    out[ok] = t[ok]
    return out


def agreeing(t: np.ndarray | float, sign: np.ndarray | float) -> np.ndarray:
    """(1 + sign * tanh(t / 2)) / 2: 1 when the trend backs the decision, 0 against it."""
    return 0.5 * (1.0 + np.asarray(sign, dtype=float) * np.tanh(np.asarray(t, dtype=float) / 2))


@dataclass(frozen=True, eq=False)
class BarFactors:
    """The per-ticker factor inputs of one bar (A,), for the sign each ticker's order has."""
    size: np.ndarray
    momentum: np.ndarray
    agreement: np.ndarray
    volatility: np.ndarray
    market: np.ndarray


def bar_factors(section: ConvictionSection, closes: np.ndarray, orders: np.ndarray,
                member_orders: np.ndarray, prices: np.ndarray, unit: float) -> BarFactors:
    """The factors of every ticker at one bar (see the module docstring).

    closes: (T, A) history up to this bar; orders: (A,) signed shares the policy asks for;
    member_orders: (M, A) each ensemble member's own orders; unit: the size of a full trade.
    The trader and the conviction replay both call this (one copy)."""
    sign = np.sign(orders)
    close = np.asarray(closes, dtype=float)
    trend = trend_tstats(close, section.momentum_window)
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.mean(np.log(close[-(section.volatility_window + 1):]), axis=1)
    market_t = float(trend_tstats(np.exp(index - index[-1]), section.volatility_window)[0])
    size = np.clip(np.abs(orders * prices) / unit, 0.0, 1.0) if unit > 0 else np.ones(len(sign))
    members = np.atleast_2d(member_orders)
    agreement = ((np.sign(members) == sign[None, :]).mean(axis=0) if members.shape[0] > 1
                 else np.full(len(sign), 0.5))
    return BarFactors(size, agreeing(trend, sign), agreement,
                      volatility_factors(close, section.volatility_short_window,
                                         section.volatility_window),
                      agreeing(market_t, sign))


class ConvictionFilter:
    def __init__(self, section: ConvictionSection, max_position_pct: float) -> None:
        self.section = section
        self.enabled = section.enabled
        self.min_score = section.min_score
        self.exit_factor = section.exit_threshold_factor
        self.exit_max_blocked = section.exit_max_blocked
        self.short_window = section.volatility_short_window
        self.long_window = section.volatility_window
        self.momentum_window = section.momentum_window
        w = section.weights
        self._w = (w.size, w.momentum, w.agreement, w.volatility, w.context)
        self.weights = self._w   # in FACTORS' order
        self.max_weight = max_position_pct / 100.0
        self._blocked_exits: dict[str, int] = {}

    def restore_blocked_exits(self, counts: dict[str, int]) -> None:
        """Blocked-exit streaks from the decisions table, so a restart does not reset them."""
        self._blocked_exits.update(counts)

    @property
    def blocked_exits(self) -> dict[str, int]:
        """Sells blocked in a row per ticker (a copy)."""
        return dict(self._blocked_exits)

    def threshold(self, side: str, holds_position: bool) -> float:
        """The score a decision needs: min_score, x exit_threshold_factor for an exit."""
        exit_ = side == "SELL" and holds_position
        return self.min_score * (self.exit_factor if exit_ else 1.0)

    def evaluate(self, ticker: str, side: str, size: float, agreement: float,
                 f_momentum: float, f_volatility: float, weight: float, f_market: float,
                 holds_position: bool) -> Verdict:
        """size, agreement, f_momentum, f_volatility, f_market: BarFactors' values for this
        ticker (size: the trade against one unit; the delta mapping's |action|). Updates
        the ticker's blocked-exit streak (see judge for the pure rule)."""
        v = self.judge(side, size, agreement, f_momentum, f_volatility, weight, f_market,
                       holds_position, self._blocked_exits.get(ticker, 0))
        if side == "SELL" and holds_position and self.enabled:
            self._blocked_exits[ticker] = streak_after(v, self._blocked_exits.get(ticker, 0))
        return v

    def judge(self, side: str, size: float, agreement: float, f_momentum: float,
              f_volatility: float, weight: float, f_market: float, holds_position: bool,
              blocked_in_row: int) -> Verdict:
        """The verdict (pure): evaluate's rule with the ticker's blocked-exit streak given."""
        f_size = _clip01(abs(size))
        f_agree = _clip01(agreement)
        f_ctx = context_factor(side, weight, _clip01(f_market), self.max_weight)
        ws, wm, wa, wv, wc = self._w
        score = ws * f_size + wm * f_momentum + wa * f_agree + wv * f_volatility + wc * f_ctx
        if side == "HOLD":
            return Verdict(score, f_size, f_momentum, f_agree, f_volatility, f_ctx, False, "hold")
        if not self.enabled:
            return Verdict(score, f_size, f_momentum, f_agree, f_volatility, f_ctx, True,
                           "filter disabled")
        exit_ = side == "SELL" and holds_position
        threshold = self.threshold(side, holds_position)
        if score >= threshold:
            passed, reason = True, ("exit" if exit_ else "passed")
        elif exit_ and blocked_in_row >= self.exit_max_blocked:
            passed, reason = True, "exit released"
        else:
            passed, reason = False, f"score {score:.2f} < {threshold:.2f}"
        return Verdict(score, f_size, f_momentum, f_agree, f_volatility, f_ctx, passed, reason)


def streak_after(v: Verdict, blocked_in_row: int) -> int:
    """An exit's blocked-in-a-row count after its verdict (0 once one passes)."""
    return 0 if v.passed else blocked_in_row + 1

