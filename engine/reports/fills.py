"""How a walk over history fills its orders (engine.reports.walk): two models.

close  (the default; the replay's, and the study's) the training env's own step
       (engine.env.step.trade_step): every order fills at the bar's close (the next bar's
       with the model's execution delay) paying the fee plus half the spread per side, buys
       scaled down to the cash.
maker  the trader's maker-first executor on the sim broker's rule (engine.trading.execution,
       engine.brokers.sim): each order is a limit at the bar's quote (the bid for a buy, the
       ask for a sell: the close -/+ half the spread, as the sim quotes), filled at its limit
       with the maker fee when the next bar trades through it (a buy when the bar's low is
       below the limit, a sell when its high is above; close-only data: the range of the two
       closes, as the sim). Otherwise, with [execution] on_exhausted = "taker", it crosses at
       the next bar's close (the ask for a buy, the bid for a sell) with the taker fee: the
       executor's re-price deadline falls inside that bar; with "skip" it stays unfilled
       and the next bar decides again (the sim replay's case). Fees and spread are the
       paper broker's ([gates] paper_broker: the sim's [trader] sim_* rates, or Alpaca's).
       Not seen here: the path inside a bar (a live order re-priced to a moving bid may still
       fill as maker where this says taker), the queue (a limit the low touches counts as
       filled) and the product's increments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from engine.brokers.base import Quote
from engine.config import Config
from engine.config.schema import broker_costs
from engine.trading.decide import Intent


@dataclass(frozen=True)
class BarFill:
    column: int       # the ticker's column
    side: str         # BUY | SELL
    shares: float
    price: float
    fee: float        # in cash
    maker: bool


@dataclass(frozen=True)
class MakerFirst:
    maker_fee: float
    taker_fee: float
    half_spread: float             # of the price, per side
    taker_at_deadline: bool = True  # [execution] on_exhausted = "taker" (else "skip")

    @property
    def name(self) -> str:
        return "maker-first (" + ("taker at the deadline" if self.taker_at_deadline
                                  else "unfilled dropped") + ")"

    def quotes(self, tickers: Sequence[str], prices: np.ndarray, at: float
               ) -> dict[str, Quote]:
        """The bar's quotes: its close -/+ half the spread."""
        return {t: Quote(t, Decimal(repr(float(p) * (1 - self.half_spread))),
                         Decimal(repr(float(p) * (1 + self.half_spread))), at)
                for t, p in zip(tickers, prices, strict=True)}

    def step(self, intents: Sequence[Intent], column: dict[str, int], cash: float,
             holdings: np.ndarray, low: np.ndarray, high: np.ndarray, close: np.ndarray
             ) -> tuple[float, np.ndarray, tuple[BarFill, ...]]:
        """Fill the bar's intents (sells first, as decide_bar orders them) on the next bar
        (its low, high and close). Returns (cash, holdings, fills); a buy is cut to the cash
        left (fee included), as the exchange refuses more."""
        hold = holdings.astype(np.float64, copy=True)
        fills: list[BarFill] = []
        for i in intents:
            j = column[i.ticker]
            limit = float(i.price)
            buy = i.side == "BUY"
            maker = bool(low[j] < limit) if buy else bool(high[j] > limit)
            if maker:
                price, rate = limit, self.maker_fee
            elif self.taker_at_deadline:
                price = float(close[j]) * (1 + self.half_spread if buy else 1 - self.half_spread)
                rate = self.taker_fee
            else:
                continue
            qty = float(i.qty)
            if buy:
                qty = min(qty, cash / (price * (1 + rate))) if price > 0 else 0.0
            else:
                qty = min(qty, float(hold[j]))
            if qty <= 0:
                continue
            value = qty * price
            fee = value * rate
            cash = max(cash - value - fee, 0.0) if buy else cash + value - fee
            hold[j] += qty if buy else -qty
            fills.append(BarFill(j, i.side, qty, price, fee, maker))
        return cash, hold, tuple(fills)


def maker_first(cfg: Config) -> MakerFirst:
    """The maker-first model at the paper broker's fees and spread and [execution]'s
    on_exhausted."""
    taker, spread_bps = broker_costs(cfg, "paper")
    maker = (cfg.alpaca.maker_fee_rate if cfg.gates.paper_broker == "alpaca"
             else cfg.trader.sim_maker_fee_rate)
    return MakerFirst(maker, taker, spread_bps / 20_000.0,
                      cfg.execution.on_exhausted == "taker")


def close_fills(fee: float, before: np.ndarray, after: np.ndarray, prices: np.ndarray
                ) -> tuple[BarFill, ...]:
    """The close model's fills: the env step's holdings changes at its fill prices."""
    delta = np.asarray(after, dtype=np.float64) - before
    out = []
    for jj in np.flatnonzero(np.abs(delta) > 0):
        j = int(jj)
        d, price = float(delta[j]), float(prices[j])
        out.append(BarFill(j, "BUY" if d > 0 else "SELL", abs(d), price, abs(d) * price * fee,
                           False))
    return tuple(out)


def bar_range(close: np.ndarray, low: np.ndarray | None, high: np.ndarray | None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Each bar's (low, high); close-only data: the range of the bar's and the previous
    close, as the sim broker takes it."""
    prev = np.vstack([close[:1], close[:-1]])
    return (low if low is not None else np.minimum(prev, close),
            high if high is not None else np.maximum(prev, close))
