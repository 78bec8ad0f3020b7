"""The trader: one process turns each closed bar into orders.

Per bar (aligned to bar close + settle delay by the clock):
  cancel superseded orders -> reconcile (broker orders, fills, balances are the truth) ->
  fetch history -> features (engine.features.live_observation, the training pipeline) ->
  policy -> engine.trading.decide.decide_bar (the model's mapping, conviction filter, risk
  engine: the function the replay, the backtest and the shadow backtest share) -> one
  transaction with the decisions, the order intents, equity (+ HODL benchmark) and
  last_bar_at -> submit the intents.
Between bars (every [trader] poll_s): the kill switch / halt flag and re-pricing.

One clock: every row the trader writes (decisions, orders, positions, equity, its traders row,
alerts, kv state) is stamped with `clock.now()` (replay time for the sim, wall time live);
fills carry the broker's time, which is the same clock. Only the broker and the clock differ
between the demo and real operation.

Observations use the MODEL's own FeatureSpec; a model is refused only when the data lacks
fields that spec needs, or its tickers/timeframe differ (check_features).

Next to equity and HODL, each bar records equal weight and the model's own backtest on the
same bars (engine.trading.shadow), so live drifting from backtest shows bar by bar.

The bar is recorded as processed in the same transaction as its decisions and intents, so a
restart never decides a bar twice, and intents carry deterministic ids, so they are never
sent twice (see execution.py).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import numpy as np

from engine.brokers.base import Broker, BrokerError, FeeTier, Fill
from engine.config import Config
from engine.data.candles import Candles, DataError
from engine.env.step import step_params
from engine.features import (
    FeatureSpec,
    compute_features,
    observation,
)
from engine.model.artifact import ModelError
from engine.notify.events import emit
from engine.trading import account, revet
from engine.trading.book import Book
from engine.trading.clock import Clock, RealClock
from engine.trading.conviction import ConvictionFilter
from engine.trading.decide import BarInput, decide_bar, tradable
from engine.trading.execution import Executor
from engine.trading.exits import Intent, exit_intents
from engine.trading.history import CandleHistory, Window
from engine.trading.loop import Loop
from engine.trading.policy import Policy, PolicyOutput, data_mismatch
from engine.trading.risk import HALTED, RiskEngine, RiskState
from engine.trading.shadow import ShadowBook
from store import kv
from store import trading as st
from store.db import Store

log = logging.getLogger("cappuccino.trading.trader")
QUOTE_CCY = "USD"
MAX_GAP_FRAC = 0.1  # more missing bars than this in the history window: no trading this bar
ORDER_HINT_S = 2 * 86400  # orders this recent are looked up by id after a restart
# Fills are read again from this long before the newest booked one (booked ids are skipped):
# an exchange may list a fill after a later one (a lagging feed, a fill just before a cancel).
FILL_LAG_S = 3600.0


@dataclass(frozen=True)
class TraderSettings:
    name: str
    broker: str
    mode: str
    model: str
    study: str | None
    trial: int | None
    tickers: tuple[str, ...]
    timeframe: str
    capital: Decimal


def _base(ticker: str) -> str:
    return ticker.split("-")[0]


class Trader(Loop):
    def __init__(self, cfg: Config, store: Store, broker: Broker, clock: Clock, policy: Policy,
                 settings: TraderSettings) -> None:
        self.cfg, self.store, self.broker, self.clock = cfg, store, broker, clock
        self.policy, self.s = policy, settings
        self.name = settings.name
        self._tick: Callable[[], None] = lambda: None  # set by run(): the heartbeat's tick
        self.period = clock.period
        self.fspec = FeatureSpec.from_dict(policy.spec.features)
        self.history = max(self.fspec.history, cfg.trader.history_bars,
                           cfg.conviction.volatility_window + 1)
        # The model's own env: its action mapping, band, sizing and costs (train/serve parity).
        self.step_params = step_params(policy.spec.env)
        self.min_order = self.step_params.min_order
        self.executor = Executor(broker, store, self.name, cfg.execution, clock.now,
                                 may_send=self._may_send,
                                 vet=lambda *order: revet.vet(self, *order))
        self.conviction = ConvictionFilter(cfg.conviction, cfg.risk.max_position_pct)
        self.risk_key = f"risk:{self.name}"
        self.hodl_key = f"hodl:{self.name}"
        self.shadow_key = f"shadow:{self.name}"
        self.risk = RiskEngine(cfg.risk, self.period,
                               RiskState.from_json(kv.get(store, self.risk_key)).on_book())
        self.conviction.restore_blocked_exits(_blocked_exits(store, self.name))
        # The book (capital + own fills) and the last marks: the same figures as before a
        # restart, so the first poll's risk update sees the equity the last bar recorded.
        self.book = Book.from_fills(settings.capital, st.list_fills(store, self.name))
        self.ledger = self.book.ledger
        self.last_prices: dict[str, Decimal] = {
            p.ticker: Decimal(p.last_price) for p in st.positions(store, self.name)
            if p.last_price and p.ticker in settings.tickers}
        self.cash = self.book.cash
        self.available_cash = self.book.cash
        self.account_free = self.book.cash    # the account's free USD at the last reconcile
        self.equity = self.book.equity(self.last_prices)
        self.account_qty: dict[str, Decimal] = {}
        self.history_cache = CandleHistory(broker, settings.tickers, settings.timeframe,
                                           self.period, self.history)
        self.last_bar_at: float | None = None
        self.current_bar: float | None = None
        self._stop = threading.Event()
        self._next_clock_check = 0.0      # monotonic time of the next clock/account audit
        self._clock_level = "ok"
        self._audit_last: list[str] | None = None
        self._next_auth_probe = 0.0
        self._auth_failures = 0

    # -- start -----------------------------------------------------------------------------
    def register(self) -> None:
        s = self.s
        try:
            tier: FeeTier | None = self.broker.fee_tier()
        except BrokerError as e:  # keep the last known tier; the loop's guards handle the rest
            log.warning("%s: fee tier unavailable (%s)", self.name, e)
            tier = None
        if tier is not None:
            self.risk.fee_rate = tier.taker_rate
        at = self.clock.now()
        with self.store.write():
            st.upsert_trader(self.store, s.name, broker=s.broker, mode=s.mode, model=s.model,
                             study=s.study, trial=s.trial, tickers=s.tickers,
                             timeframe=s.timeframe, capital=s.capital,
                             backtest_sharpe=self.policy.mean_metric("sharpe"), at=at)
            if tier is not None:
                st.set_trader_fields(self.store, s.name, at=at, fee_tier=json.dumps({
                    "pricing_tier": tier.name, "maker_fee_rate": str(tier.maker_rate),
                    "taker_fee_rate": str(tier.taker_rate)}))
        row = st.get_trader(self.store, s.name)
        self.last_bar_at = row.last_bar_at if row else None
        remember = getattr(self.broker, "remember_orders", None)
        if remember is not None:  # look our orders up by id, not by listing the account's
            remember(st.order_hints(self.store, s.name, at - ORDER_HINT_S))

    def check_allotment(self) -> None:
        """Refuse (account.AllotmentError) a capital the shared account cannot cover."""
        account.check_allotment(self.store, self.s.broker, self.name, self.book,
                                self.broker.balances(), self.clock.now(), self.period)

    def check_features(self, candles: Candles) -> None:
        """Refuse a model this data cannot feed (see policy.data_mismatch)."""
        diffs = data_mismatch(self.policy.spec, self.s.tickers, self.s.timeframe, candles)
        if diffs:
            raise ModelError(f"{self.policy.describe()}: model does not match the trader's "
                             "data: " + "; ".join(diffs))

    # -- reconcile -------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Broker open orders and fills are the truth for what the trader did; its book
        follows them. The account's balances only bound what it may spend or sell."""
        self.executor.sync_open()
        self.sync_fills()
        balances = self.broker.balances()
        cash = balances.get(QUOTE_CCY)
        account_free = cash.available if cash else Decimal(0)
        self.account_free = account_free
        self.account_qty = {t: (b.available if (b := balances.get(_base(t))) else Decimal(0))
                            for t in self.s.tickers}
        self.cash = self.book.cash
        self.available_cash = max(Decimal(0), min(self.book.cash - self._reserved_buys(),
                                                  account_free))

    def sync_fills(self) -> None:
        """Book the fills of this trader's own orders not yet recorded (other traders' and
        hand-placed orders' fills are not its own)."""
        last = st.last_fill_at(self.store, self.name)
        first = st.first_order_bar(self.store, self.name)
        if first is None:
            return  # no order ever: nothing of ours can have filled
        # From our first order on (not the account's history), else FILL_LAG_S before the
        # newest fill booked.
        since = first if last is None else max(first, last - FILL_LAG_S)
        ours_cache: dict[str, bool] = {}
        for f in self.broker.fills(since):
            if st.has_fill(self.store, self.name, f.fill_id):
                continue
            if f.client_order_id not in ours_cache:
                o = st.get_order(self.store, f.client_order_id)
                ours_cache[f.client_order_id] = o is not None and o.trader == self.name
            if ours_cache[f.client_order_id]:
                self._book_fill(f)
        self.cash = self.book.cash

    def _reserved_buys(self) -> Decimal:
        """Cash our own open buy orders may still spend (taker fee included)."""
        total = Decimal(0)
        for r in st.open_orders(self.store, self.name):
            if r.side == "BUY":
                px = Decimal(r.limit_price) if r.limit_price else self.last_prices.get(
                    r.ticker, Decimal(0))
                total += (Decimal(r.qty) - Decimal(r.filled_qty)) * px * (1 + self.risk.fee_rate)
        return total

    def _book_fill(self, f: Fill) -> None:
        pnl = self.book.apply(f.ticker, f.side, f.qty, f.price, f.fee)
        with self.store.write():
            new = st.insert_fill(self.store, fill_id=f.fill_id, trader=self.name,
                                 client_order_id=f.client_order_id, ticker=f.ticker,
                                 side=f.side, qty=f.qty, price=f.price, fee=f.fee,
                                 liquidity=f.liquidity, realized_pnl=pnl, at=f.at)
            if not new:
                return
            self._write_position(f.ticker)
            if pnl is not None:
                self.risk.record_trade(float(pnl), self.clock.now())
                kv.upsert(self.store.conn, self.risk_key, self.risk.s.to_json(), self.clock.now())
        if self.cfg.trader.notify_fills:
            emit(self.store, self.cfg, "fill", f"{self.name}: {f.side} {f.qty} {f.ticker}",
                 f"{f.side} {f.qty} {f.ticker} at {f.price} ({f.liquidity.lower()}, fee "
                 f"{f.fee})" + (f", realised {pnl:.2f}" if pnl is not None else ""),
                 trader=self.name, model=self.s.model, trial=self.s.trial, study=self.s.study)

    def _write_position(self, ticker: str) -> None:
        lot = self.ledger.lot(ticker)
        price = self.last_prices.get(ticker)
        st.upsert_position(self.store, self.name, ticker, qty=lot.qty, avg_price=lot.avg_price,
                           last_price=price, realized_pnl=lot.realized,
                           unrealized_pnl=lot.unrealized(price) if price else Decimal(0),
                           at=self.clock.now())

    # -- data ------------------------------------------------------------------------------
    def fetch_history(self, bar_at: float) -> tuple[Candles, int, float | None]:
        """(candles on the bar grid ending at bar_at, bars missing (filled forward), start of
        the newest bar every ticker has)."""
        if self.history_cache.broker is not self.broker:  # swapped broker: a fresh cache
            self.history_cache = CandleHistory(self.broker, self.s.tickers, self.s.timeframe,
                                               self.period, self.history)
        w = self.history_cache.window(bar_at)
        return w.candles, w.missing, w.last_present

    def _wait_newest(self, bar_at: float) -> Window:
        """The window, once the bar's newest candle has arrived for every ticker or
        [trader] bar_wait_s has passed (then `newest_missing` stays non-empty)."""
        w = self.history_cache.window(bar_at)
        # Only a live exchange publishes late; a replay's missing candle never comes.
        wait = self.cfg.trader.bar_wait_s if isinstance(self.clock, RealClock) else 0.0
        deadline = time.monotonic() + wait
        while w.newest_missing and time.monotonic() < deadline and not self._stop.is_set():
            self._tick()
            self._stop.wait(min(2.0, max(0.0, deadline - time.monotonic())))
            w = self.history_cache.window(bar_at)
        return w

    # -- one bar ---------------------------------------------------------------------------
    def step(self, bar_at: float) -> None:
        self.current_bar = bar_at
        # A new bar supersedes older orders: cancelled first, so the cash they held is this
        # bar's to spend (reconcile then books what filled before the cancel).
        self.executor.cancel_open(before_bar=bar_at)
        self.reconcile()
        win = self._wait_newest(bar_at)
        candles, missing, data_at = win.candles, win.missing, win.last_present
        closes = candles.close[-1]
        if not win.newest_missing and np.all(closes > 0):
            self.last_prices = {t: Decimal(repr(float(c))) for t, c in zip(self.s.tickers, closes,
                                                                           strict=True)}
        holdings = np.array([float(self.ledger.lot(t).qty) for t in self.s.tickers])
        prices = np.array([float(self.last_prices.get(t, 0)) for t in self.s.tickers])
        self.equity = self.book.equity(self.last_prices)
        equity_f = float(self.equity)
        halt_req, kill = st.halt_flags(self.store, self.name)
        exit_req = st.exit_request(self.store, self.name)
        changed = self.risk.update(self.clock.now(), equity_f, data_at, halt_req or kill,
                                   exiting=exit_req is not None)
        gap_refusal = missing > MAX_GAP_FRAC * candles.close.size
        records: list[st.DecisionRecord] = []
        intents: list[Intent] = []
        window = self._feature_window(candles)
        if win.newest_missing:
            log.warning("%s: bar %s: the newest candle of %s did not arrive within %.0fs; "
                        "no decision this bar", self.name, bar_at, ",".join(win.newest_missing),
                        self.cfg.trader.bar_wait_s)
        elif self.risk.state != HALTED and not gap_refusal and equity_f > 0:
            obs = observation(window, float(self.cash), holdings, closes, float(self.s.capital))
            records, intents = self._decide(bar_at, candles, holdings, prices, equity_f,
                                            self.policy.act(obs))
            intents = exit_intents(self, exit_req, intents) if exit_req else intents
        elif gap_refusal:
            log.warning("%s: %d bars missing in the history window; no trading this bar",
                        self.name, missing)
        shadow = self._shadow_step(prices, equity_f, window, closes)
        with self.store.write():
            st.insert_decisions(self.store, self.name, records, at=self.clock.now())
            for ticker, side, qty, price in intents:
                self.executor.record_intent(bar_at, ticker, side, qty, price)
            self._write_bar_state(bar_at, equity_f, shadow)
        self.last_bar_at = bar_at
        if changed:
            self._on_state_change(*changed)
        if self.risk.state == HALTED:
            self.executor.cancel_open()
        else:
            self.executor.send_new(bar_at)
        self._book_reported_fills()

    def _book_reported_fills(self) -> None:
        """An order that reported a fill (a taker fill at submit, a re-price) gets its fill,
        position and notification now, not a bar later."""
        if self.executor.fills_reported:
            self.executor.fills_reported = False
            self.sync_fills()
            self.equity = self.book.equity(self.last_prices)
            with self.store.write():
                st.set_trader_fields(self.store, self.name, equity=str(self.equity),
                                     cash=str(self.cash), at=self.clock.now())

    def _feature_window(self, candles: Candles) -> np.ndarray:
        """The model's features over the last `lookback` bars (as live_observation computes
        them: the trailing spec.history bars through the training pipeline)."""
        h = self.fspec.history
        if candles.n_bars < h:
            raise DataError(f"need {h} bars of history for one observation, got "
                            f"{candles.n_bars}")
        return compute_features(candles.slice(candles.n_bars - h, None),
                                self.fspec)[-self.fspec.lookback:]

    def _shadow_step(self, prices: np.ndarray, equity_f: float, window: np.ndarray,
                     closes: np.ndarray) -> tuple[ShadowBook, float, float] | None:
        """Equal weight and the model's own backtest at this bar: (new state, equal-weight
        value, backtest value), both marked before the bar's trades; None without prices."""
        if not (np.all(prices > 0) and equity_f > 0):
            return None
        raw = kv.get(self.store, self.shadow_key)
        try:
            book = ShadowBook.from_json(raw) if raw else ShadowBook.start(equity_f, prices)
        except (ValueError, KeyError, TypeError):  # a row that does not read back: afresh
            book = ShadowBook.start(equity_f, prices)
        if book.holdings.shape != prices.shape:
            return None  # tickers changed under a kept name: no comparable backtest
        ew, value = book.mark(prices)
        if value > 0:
            out = self.policy.act(observation(window, book.cash, book.holdings, closes,
                                              float(self.s.capital)))
            book.trade(self.step_params, prices, out.actions)
        return book, ew, value

    def _decide(self, bar_at: float, candles: Candles, holdings: np.ndarray,
                prices: np.ndarray, equity_f: float, out: PolicyOutput
                ) -> tuple[list[st.DecisionRecord], list[Intent]]:
        """The bar's decisions and intents: engine.trading.decide.decide_bar, the function
        the replay, the backtest and the shadow backtest run too."""
        tickers = list(self.s.tickers)
        lots = [self.ledger.lot(t) for t in tickers]
        bar = BarInput(self.s.tickers, out.actions, out.members, prices, holdings,
                       candles.close, self.equity, self.available_cash,
                       sellable=tuple(min(lot.qty, self.account_qty.get(t, lot.qty))
                                      for t, lot in zip(tickers, lots, strict=True)),
                       quotes=self.broker.quotes(tickers),
                       exit_streaks=self.conviction.blocked_exits)
        # Products only where an order may reach the risk engine (each can be a request).
        bar = replace(bar, products={t: self.broker.product(t)
                                     for t in tradable(self.step_params, bar)})
        d = decide_bar(self.step_params, bar, self.conviction, self.risk)
        self.conviction.restore_blocked_exits(dict(d.exit_streaks))
        records = [st.DecisionRecord(bar_at, x.ticker, x.action, x.side, v.score, v.f_size,
                                     v.f_momentum, v.f_agreement, v.f_volatility, v.f_context,
                                     x.passed, x.reason)
                   for x in d.decisions if (v := x.verdict) is not None]
        return records, [(i.ticker, i.side, i.qty, i.price) for i in d.intents]

    def _write_bar_state(self, bar_at: float, equity_f: float,
                         shadow: tuple[ShadowBook, float, float] | None) -> None:
        at = bar_at + self.period
        hodl = kv.get(self.store, self.hodl_key)
        prices = [float(self.last_prices.get(t, 0)) for t in self.s.tickers]
        bench = None
        start = _hodl_start(hodl, len(prices))
        if start is None and all(p > 0 for p in prices):
            # none yet, or one that does not read back (then replaced): HODL starts here
            value = json.dumps({"prices": prices, "capital": equity_f})
            if hodl is None:
                kv.insert_if_absent(self.store.conn, self.hodl_key, value, at)
            else:
                kv.upsert(self.store.conn, self.hodl_key, value, at)
            bench = equity_f
        elif start is not None:
            p0, capital = start
            bench = capital * float(np.mean([p / q for p, q in zip(prices, p0, strict=True)]))
        ew = backtest = None
        if shadow is not None:
            book, ew, backtest = shadow
            kv.upsert(self.store.conn, self.shadow_key, book.to_json(), self.clock.now())
        st.insert_equity(self.store, self.name, at, self.equity, self.cash, bench, ew, backtest)
        for t in self.s.tickers:
            if self.ledger.lot(t).qty > 0 or t in self.last_prices:
                self._write_position(t)
        st.set_trader_fields(self.store, self.name, equity=str(self.equity), cash=str(self.cash),
                             last_bar_at=bar_at, trading_state=self.risk.state,
                             state_reason=self.risk.s.reason or None, at=self.clock.now())
        kv.upsert(self.store.conn, self.risk_key, self.risk.s.to_json(), self.clock.now())

    def _on_state_change(self, state: str, reason: str) -> None:
        log.warning("%s: trading state %s %s", self.name, state, reason)
        with self.store.write():
            st.set_trader_fields(self.store, self.name, trading_state=state,
                                 state_reason=reason or None, at=self.clock.now())
            kv.upsert(self.store.conn, self.risk_key, self.risk.s.to_json(), self.clock.now())
        level = "warning" if state != "ACTIVE" else "success"
        emit(self.store, self.cfg, "trading_state", f"{self.name}: {state}",
             f"trading state {state}" + (f": {reason}" if reason else ""), level,
             trader=self.name, model=self.s.model, trial=self.s.trial, study=self.s.study)
        if state != "ACTIVE" and not self.risk.s.manual_halt:  # limits, not the operator
            emit(self.store, self.cfg, "risk", f"{self.name}: {reason}", reason, "warning",
                 trader=self.name, model=self.s.model, trial=self.s.trial, study=self.s.study)
            from store.alerts import insert_alert
            insert_alert(self.store, self.name, "WARNING", reason, self.clock.now())

    def _may_send(self) -> bool:
        """No order goes out while the trader is halted, by its state or by a halt the
        operator asked for since it was last read (the store's flags, read now)."""
        halt_req, kill = st.halt_flags(self.store, self.name)
        return not (halt_req or kill) and self.risk.state != HALTED

    # -- between bars ---------------------------------------------------------------------
    def poll(self) -> None:
        """Kill switch / halt flag / exit request, then re-pricing. Every poll_s between bars."""
        self._refresh_state()
        if self.risk.state == HALTED:
            if not self.risk.s.auth_reason:  # with refused keys every call fails anyway
                self.executor.cancel_open()
            return
        if self.current_bar is not None:
            self.executor.service(self.current_bar)
            self._book_reported_fills()

    def shutdown(self) -> None:
        """SIGTERM: cancel open orders, book what filled, flush the state."""
        try:
            self.executor.cancel_open()
            self.reconcile()
        except BrokerError as e:
            log.warning("%s: shutdown could not reach the broker: %s", self.name, e)
        with self.store.write():
            kv.upsert(self.store.conn, self.risk_key, self.risk.s.to_json(), self.clock.now())
            st.set_trader_fields(self.store, self.name, equity=str(self.equity),
                                 cash=str(self.cash), at=self.clock.now())


def _blocked_exits(store: Store, trader: str) -> dict[str, int]:
    """Sells blocked in a row per ticker, from the decisions table (survives restarts)."""
    out: dict[str, int] = {}
    done: set[str] = set()
    for ticker, passed in st.recent_sell_verdicts(store, trader):
        if ticker in done:
            continue
        if passed:
            done.add(ticker)
        else:
            out[ticker] = out.get(ticker, 0) + 1
    return out


def _hodl_start(raw: str | None, n: int) -> tuple[list[float], float] | None:
    """The stored HODL start (n positive prices, a capital); None when absent or unreadable."""
    try:
        h: Any = json.loads(raw or "null")
        p0, capital = [float(p) for p in h["prices"]], float(h["capital"])
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    ok = len(p0) == n and all(math.isfinite(p) and p > 0 for p in p0) and math.isfinite(capital)
    return (p0, capital) if ok else None
