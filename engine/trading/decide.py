"""One bar's decision, written once: the policy's output -> per-ticker decisions and the
order intents.

The trader (engine.trading.trader), the conviction replay (engine.reports.replay),
`cappuccino backtest` (engine.reports.backtest) and the trader's shadow backtest
(engine.trading.shadow) all call decide_bar. It is pure: no I/O, no clock, no store; the
caller gathers the quotes, products, cash and streaks, and books what it returns.

Per ticker, in the order of the tickers:
  order    the model's own mapping (engine.trading.decision.bar_orders) at the bar's close;
  side     engine.trading.decision.decision_side (BUY / SELL / HOLD);
  filter   the five conviction factors (engine.trading.conviction.bar_factors) through the
           filter's rule (ConvictionFilter.judge) with the ticker's blocked-exit streak; a
           blocked decision names the factor that cost it most (conviction.blamed_factor);
           without a filter (the shadow backtest) every BUY and SELL passes ("no filter");
  risk     RiskEngine.check (read only) at the limit price: the bid for a buy and the ask
           for a sell (maker first), or the close without quotes; with the ticker's sellable
           quantity, the cash the earlier buys of this bar left (each buy reserves its cost
           with the taker fee) and the product's increments. A refusal blocks the decision
           ("risk: ..."), a clamp is noted in its reason. Without a risk engine (the replay,
           the shadow) the order is the model's: a sell at most what is held.
Intents: the sells, then the buys (sells free cash and reduce risk).

One rule found written two ways and settled here: the backtest checked every buy of a bar
against the whole cash, the trader against the cash its earlier buys of the bar had not
reserved. The trader's is right (two buys that each fit the cash may not fit it together,
and a real account refuses the second), so both now reserve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

import numpy as np

from engine.brokers.base import Product, Quote
from engine.env.step import StepParams
from engine.trading.conviction import (
    ConvictionFilter,
    Verdict,
    bar_factors,
    blamed_factor,
    streak_after,
)
from engine.trading.decision import bar_orders, decision_side, size_unit
from engine.trading.risk import ProposedOrder, RiskEngine

ZERO = Decimal(0)


@dataclass(frozen=True, eq=False)
class BarInput:
    """What one bar's decision sees. Arrays are per ticker (A,), in `tickers` order."""
    tickers: tuple[str, ...]
    actions: np.ndarray       # the policy's mean action
    members: np.ndarray       # (M, A) each ensemble member's action
    prices: np.ndarray        # the bar's closes (0: no price)
    holdings: np.ndarray      # the book's quantities
    closes: np.ndarray        # (T, A) closes up to this bar (the factors' history)
    equity: Decimal           # the book marked at `prices`
    cash: Decimal = ZERO      # what buys may spend (a risk engine's cash limit)
    sellable: tuple[Decimal, ...] | None = None   # None: the holdings
    quotes: Mapping[str, Quote] | None = None     # None: orders at the close
    products: Mapping[str, Product] | None = None  # None: no increments or minimums
    exit_streaks: Mapping[str, int] | None = None  # blocked sells in a row per ticker


@dataclass(frozen=True)
class Decision:
    ticker: str
    action: float
    side: str                 # BUY | SELL | HOLD
    shares: float             # the model's signed order
    holds: bool               # something was held
    verdict: Verdict | None   # the conviction factors and their verdict (None: no filter)
    threshold: float          # the score the filter asked for
    passed: bool              # through the filter and the risk engine
    reason: str
    qty: Decimal              # the intent's quantity (0 when not passed)
    fraction: float           # qty / |shares|: the share of the model's order kept
    blocked_by: str | None    # the conviction factor that cost a blocked decision most


@dataclass(frozen=True)
class Intent:
    ticker: str
    side: str                 # BUY | SELL
    qty: Decimal
    price: Decimal            # the limit (the close without quotes)


@dataclass(frozen=True, eq=False)
class BarDecision:
    decisions: tuple[Decision, ...]
    intents: tuple[Intent, ...]
    exit_streaks: Mapping[str, int]

    def keep(self) -> np.ndarray:
        """Per ticker, the share of the model's order the env step executes (engine.env.step
        trade_step's keep mask): 0 when blocked, the risk's clamp, 1 for HOLD (the step's
        own minimum-order rule leaves it out). With the model's execution delay the step
        sizes the order again at the next close, where a HOLD may have grown into an order:
        the training env's rule, kept for the replay and backtest (the trader places none)."""
        return np.array([d.fraction if d.side != "HOLD" else 1.0 for d in self.decisions])


def decide_bar(prm: StepParams, bar: BarInput, conviction: ConvictionFilter | None = None,
               risk: RiskEngine | None = None, unit: float | None = None) -> BarDecision:
    """Decisions and intents of one bar (see the module docstring). `conviction` and `risk`
    are only read. unit: the conviction size unit (default decision.size_unit)."""
    equity_f = float(bar.equity)
    n = len(bar.tickers)
    prices = np.asarray(bar.prices, dtype=np.float64)
    holdings = np.asarray(bar.holdings, dtype=np.float64)
    orders, member_orders = bar_orders(prm, bar.actions, bar.members, prices, holdings,
                                       equity_f)
    fac = None
    if conviction is not None:
        fac = bar_factors(conviction.section, bar.closes, orders, member_orders,
                          prices, size_unit(prm, equity_f, n) if unit is None else unit)
    streaks = dict(bar.exit_streaks or {})
    budget = bar.cash
    decisions: list[Decision] = []
    sells: list[Intent] = []
    buys: list[Intent] = []
    for j, t in enumerate(bar.tickers):
        price, held, shares = float(prices[j]), float(holdings[j]), float(orders[j])
        side = decision_side(shares, price, held, prm.min_order)
        verdict, threshold, blamed = None, 0.0, None
        passed, reason = side != "HOLD", ("no filter" if side != "HOLD" else "hold")
        if fac is not None and conviction is not None:
            weight = held * price / equity_f if equity_f > 0 else 0.0
            verdict = conviction.judge(side, float(fac.size[j]), float(fac.agreement[j]),
                                       float(fac.momentum[j]), float(fac.volatility[j]),
                                       weight, float(fac.market[j]), held > 0,
                                       streaks.get(t, 0))
            threshold = conviction.threshold(side, held > 0)
            if side == "SELL" and held > 0 and conviction.enabled:
                streaks[t] = streak_after(verdict, streaks.get(t, 0))
            passed, reason = verdict.passed, verdict.reason
            if side != "HOLD" and not passed:
                blamed = blamed_factor(conviction.weights, verdict.factors)
        qty, fraction = ZERO, 0.0
        if passed:
            limit = _limit(bar, t, side, price)
            if risk is None:
                want = min(abs(shares), held) if side == "SELL" else abs(shares)
                qty, fraction = Decimal(repr(want)), 1.0
            else:
                d = risk.check(ProposedOrder(t, side, Decimal(repr(abs(shares))), limit),
                               equity=bar.equity, position_qty=_sellable(bar, j, held),
                               pending_buy_qty=ZERO, cash_available=budget,
                               product=_product(bar, t))
                if d.approved:
                    qty, fraction = d.qty, float(d.qty) / abs(shares)
                    if side == "BUY":
                        budget -= d.qty * limit * (1 + risk.fee_rate)
                    if d.reason != "ok":
                        reason = f"{reason}; risk {d.reason}"
                else:
                    passed, reason = False, f"risk: {d.reason}"
            if passed:
                (buys if side == "BUY" else sells).append(Intent(t, side, qty, limit))
        decisions.append(Decision(t, float(bar.actions[j]), side, shares, held > 0, verdict,
                                  threshold, passed, reason, qty, fraction, blamed))
    return BarDecision(tuple(decisions), tuple(sells + buys), MappingProxyType(streaks))


def tradable(prm: StepParams, bar: BarInput) -> tuple[str, ...]:
    """The tickers whose order is a BUY or a SELL (the only ones the risk engine may see, so
    the only products a caller must fetch)."""
    prices = np.asarray(bar.prices, dtype=np.float64)
    holdings = np.asarray(bar.holdings, dtype=np.float64)
    orders, _ = bar_orders(prm, bar.actions, bar.members[:1], prices, holdings,
                           float(bar.equity))
    return tuple(t for j, t in enumerate(bar.tickers)
                 if decision_side(float(orders[j]), float(prices[j]), float(holdings[j]),
                                  prm.min_order) != "HOLD")


def _limit(bar: BarInput, ticker: str, side: str, close: float) -> Decimal:
    if bar.quotes is None:
        return Decimal(repr(close))
    q = bar.quotes[ticker]
    return q.bid if side == "BUY" else q.ask


def _sellable(bar: BarInput, j: int, held: float) -> Decimal:
    return bar.sellable[j] if bar.sellable is not None else Decimal(repr(held))


def _product(bar: BarInput, ticker: str) -> Product:
    if bar.products is None:
        return Product(ticker, ZERO, ZERO, ZERO, ZERO)
    return bar.products[ticker]
