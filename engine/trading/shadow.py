"""Two curves stepped on the trader's own bars, next to its equity: equal weight (rebalanced
every bar, no fees) and the model's own backtest.

The backtest is the training env's semantics on the bars the trader actually traded: each
bar the policy's mean action (from an observation of the BACKTEST's own cash and holdings)
is decided by the trader's decide_bar (without filter or risk engine) and goes through
engine.env.step.trade_step with the model's fee rate, max trade fraction and
minimum order (sells before buys, buys scaled to the cash), at the bar's close. No conviction
filter, no risk engine, no maker execution. It starts at the trader's equity at its first
bar and its state lives in kv, so it survives restarts. Both values a bar records are marked
at that bar's close BEFORE the bar's trades, like the trader's equity row.

Why live and backtest differ (each is a real effect, not noise):
- the conviction filter blocks actions; the risk engine clamps or refuses orders (position
  limit, max notional, daily loss, loss streak pause, stale data, kill switch);
- maker-first execution fills later (the next bars), at the bid/ask rather than the close,
  or not at all (skipped after re-prices); taker fills pay the spread;
- fees: the broker's maker/taker tier against the model's single fee_rate;
- the cash cap: the env scales all buys down by one factor after the sells freed cash; the
  trader caps buys one by one against the cash available before its sells fill;
- product increments and minimum sizes round quantities down.
With the filter off, no binding limit, fills at the close and equal fees, the two coincide
up to those roundings (tests/engine/trading/test_trader.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from engine.env.step import NumpyOps, StepParams, trade_step
from engine.trading.decide import BarInput, decide_bar


@dataclass
class ShadowBook:
    """The backtest's cash and holdings and the equal-weight value (trader-internal state)."""
    cash: float
    holdings: np.ndarray
    ew: float
    prices: np.ndarray   # the previous bar's prices (equal weight's base)

    @classmethod
    def start(cls, equity: float, prices: np.ndarray) -> ShadowBook:
        return cls(float(equity), np.zeros(len(prices)), float(equity),
                   np.asarray(prices, dtype=np.float64).copy())

    @classmethod
    def from_json(cls, text: str) -> ShadowBook:
        d = json.loads(text)
        return cls(float(d["cash"]), np.asarray(d["holdings"], dtype=np.float64),
                   float(d["ew"]), np.asarray(d["prices"], dtype=np.float64))

    def to_json(self) -> str:
        # json writes floats with repr: a restart continues with bit-identical state.
        return json.dumps({"cash": float(self.cash), "holdings": self.holdings.tolist(),
                           "ew": float(self.ew), "prices": self.prices.tolist()})

    def value(self, prices: np.ndarray) -> float:
        return float(self.cash + np.add.reduce(self.holdings * prices))

    def mark(self, prices: np.ndarray) -> tuple[float, float]:
        """Advance equal weight to these prices; (equal-weight value, backtest value)."""
        p = np.asarray(prices, dtype=np.float64)
        if p.shape == self.prices.shape and np.all(self.prices > 0):
            self.ew = float(self.ew * np.mean(p / self.prices))
        self.prices = p.copy()
        return self.ew, self.value(p)

    def trade(self, prm: StepParams, prices: np.ndarray, action: np.ndarray) -> None:
        """The env step at these prices (executed and marked at the same close), with the
        decision of engine.trading.decide.decide_bar, the trader's own function; here with
        no filter and no risk engine, so its keep mask is all ones: the model's orders."""
        p = np.asarray(prices, dtype=np.float64)
        a = np.asarray(action, dtype=np.float64)
        zero = np.float64(0.0)
        d = decide_bar(prm, BarInput(tuple(str(j) for j in range(p.size)), a, a[None, :], p,
                                     self.holdings, p[None, :], Decimal(repr(self.value(p)))))
        out = trade_step(NumpyOps, prm, p, p, np.float64(self.cash), self.holdings, a, zero,
                         zero, d.keep())
        self.cash, self.holdings = float(out.cash), np.asarray(out.holdings, dtype=np.float64)
