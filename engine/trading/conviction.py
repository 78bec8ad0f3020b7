"""The conviction filter: five factors in [0, 1], a weighted score, a pass/fail verdict.

Factors (weights from [conviction.weights]; defaults .30/.20/.20/.15/.15):

- size        f = |a|, the mean ensemble action's strength (a in [-1, 1]).
- momentum    the recent strategy returns r (trader equity, last `momentum_window` bars):
              t = mean(r) / std(r) * sqrt(n); f = (1 + tanh(t / 2)) / 2. Neutral 0.5 with
              fewer than 2 returns or zero spread. Computed once per bar for all tickers.
- agreement   f = share of ensemble members whose action has the sign of the mean (1.0 for
              a single model).
- volatility  the regime of the ticker: ratio = std of the last `volatility_short_window`
              log returns / std over `volatility_window`; f = clip(1.5 - ratio / 2, 0, 1):
              calm or normal (ratio <= 1) scores 1, a 3x vol spike scores 0.
- context     w = the ticker's position value / equity, c = cash / equity,
              wmax = [risk] max_position_pct / 100.
              buy:  f = (min(1, 2c) + 1 - min(1, w / wmax)) / 2   (cash to spend, room left)
              sell: f = (1 + min(1, w / wmax)) / 2                (selling reduces risk)

score = sum(weight_i * f_i); a buy passes when score >= min_score.

Exits are never trapped: a sell of a held position passes at `exit_threshold_factor` x
min_score, and once `exit_max_blocked` sells of that ticker in a row were blocked, the next
one passes whatever its score (reason "exit released"). The risk engine's REDUCING state
lets exits through as well.

Speed: plain floats per decision; numpy only for the two per-bar window statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.config.schema import ConvictionSection


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


def context_factor(side: str, weight: float, cash_frac: float, max_weight: float) -> float:
    w = _clip01(weight / max_weight) if max_weight > 0 else 1.0
    if side == "BUY":
        return (_clip01(2.0 * cash_frac) + 1.0 - w) / 2.0
    return (1.0 + w) / 2.0


class ConvictionFilter:
    def __init__(self, section: ConvictionSection, max_position_pct: float) -> None:
        self.enabled = section.enabled
        self.min_score = section.min_score
        self.exit_factor = section.exit_threshold_factor
        self.exit_max_blocked = section.exit_max_blocked
        self.short_window = section.volatility_short_window
        self.long_window = section.volatility_window
        self.momentum_window = section.momentum_window
        w = section.weights
        self._w = (w.size, w.momentum, w.agreement, w.volatility, w.context)
        self.max_weight = max_position_pct / 100.0
        self._blocked_exits: dict[str, int] = {}

    def restore_blocked_exits(self, counts: dict[str, int]) -> None:
        """Blocked-exit streaks from the decisions table, so a restart does not reset them."""
        self._blocked_exits.update(counts)

    def evaluate(self, ticker: str, side: str, action: float, agreement: float,
                 f_momentum: float, f_volatility: float, weight: float, cash_frac: float,
                 holds_position: bool) -> Verdict:
        f_size = _clip01(abs(action))
        f_agree = _clip01(agreement)
        f_ctx = context_factor(side, weight, cash_frac, self.max_weight)
        ws, wm, wa, wv, wc = self._w
        score = ws * f_size + wm * f_momentum + wa * f_agree + wv * f_volatility + wc * f_ctx
        if side == "HOLD":
            return Verdict(score, f_size, f_momentum, f_agree, f_volatility, f_ctx, False, "hold")
        if not self.enabled:
            return Verdict(score, f_size, f_momentum, f_agree, f_volatility, f_ctx, True,
                           "filter disabled")
        exit_ = side == "SELL" and holds_position
        threshold = self.min_score * (self.exit_factor if exit_ else 1.0)
        if score >= threshold:
            passed, reason = True, ("exit" if exit_ else "passed")
        elif exit_ and self._blocked_exits.get(ticker, 0) >= self.exit_max_blocked:
            passed, reason = True, "exit released"
        else:
            passed, reason = False, f"score {score:.2f} < {threshold:.2f}"
        if exit_:
            self._blocked_exits[ticker] = 0 if passed else self._blocked_exits.get(ticker, 0) + 1
        return Verdict(score, f_size, f_momentum, f_agree, f_volatility, f_ctx, passed, reason)

