"""Maker-first execution with deterministic client order ids.

Order life:
1. The trader records an intent (orders row, status NEW, attempt 0, a post-only limit at
   the best bid for a buy / best ask for a sell) in the same transaction as the bar's
   decisions, then `send_new` submits it. The id is order_ids.client_order_id(trader,
   bar, ticker, attempt); the broker's submit is idempotent on it.
2. `service(now)` (called between bars) adopts an order that stopped resting (a maker fill
   is then booked at once, not a bar later) and re-prices a resting order older than
   `reprice_after_s` (the exchange's clock): cancel, then the remaining quantity goes out as
   attempt + 1 at the new best price. After `max_reprices` re-prices it crosses as a taker
   (market order) or is dropped, per `on_exhausted`. A post-only rejection (the price moved
   across) counts as one re-price.
3. A new bar supersedes older orders: the trader cancels them before deciding again. In
   replay the bar is the smallest unit of time, so there the next bar's decision takes over
   an unfilled maker order.

Clock: order rows are stamped with `now` (the trader's clock: replay time for the sim).

Crash safety: an intent is written before it is sent, so every order of ours at the broker
has a store row. `send_new` resolves NEW rows: known at the broker -> adopt its state;
unknown and still for the current bar -> submit (same id, so never twice); unknown and
older -> EXPIRED. Within one (bar, ticker) only the highest attempt may stay open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from engine.brokers.base import (
    Broker,
    BrokerError,
    OrderRejected,
    OrderRequest,
    OrderState,
    as_side,
)
from engine.config.schema import ExecutionSection
from engine.trading.order_ids import client_order_id
from engine.trading.risk import RiskDecision, round_down
from store import trading as st
from store.db import Store

log = logging.getLogger("cappuccino.trading.execution")
# (ticker, side, qty, limit price or None for market) -> the risk engine's decision
Vet = Callable[[str, str, Decimal, Decimal | None], RiskDecision]


class Executor:
    def __init__(self, broker: Broker, store: Store, trader: str, section: ExecutionSection,
                 now: Callable[[], float], may_send: Callable[[], bool] = lambda: True,
                 vet: Vet | None = None) -> None:
        self.broker = broker
        self.store = store
        self.trader = trader
        self.cfg = section
        self.now = now
        # Asked before every submit and by the broker before each retry of a post: a halt
        # that lands while an order waits out a 429 or a backoff stops it there.
        self.may_send = may_send
        if hasattr(broker, "may_send"):  # the real brokers' retry loops (not the protocol's)
            setattr(broker, "may_send", may_send)  # noqa: B010
        # The risk engine's word on an order sent again by the executor itself (re-price,
        # taker): engine.trading.revet. None: approved as it is (tests of the executor alone).
        self.vet = vet
        # An order reported more filled than its row said: the trader books the fill now.
        self.fills_reported = False

    # -- intents --------------------------------------------------------------------------
    def record_intent(self, bar_at: float, ticker: str, side: str, qty: Decimal,
                      price: Decimal | None, attempt: int = 0, reason: str = "") -> str:
        """Insert a NEW order row (call inside the caller's store.write())."""
        cid = client_order_id(self.trader, bar_at, ticker, attempt)
        st.insert_order(self.store, client_order_id=cid, trader=self.trader, ticker=ticker,
                        side=side, order_type="limit" if price is not None else "market",
                        post_only=price is not None, qty=qty, limit_price=price, bar_at=bar_at,
                        attempt=attempt, reason=reason, at=self.now())
        return cid

    def _update(self, cid: str, **fields: object) -> None:
        """An orders row update stamped on the trader's clock."""
        # fields are update_order's own keywords, passed through unchanged
        st.update_order(self.store, cid, at=self.now(), **fields)  # type: ignore[arg-type]

    def _adopt(self, cid: str, b: OrderState) -> None:
        status = "OPEN" if b.status == "NEW" else b.status
        row = st.get_order(self.store, cid)
        if b.filled_qty > 0 and (row is None or b.filled_qty > Decimal(row.filled_qty)):
            self.fills_reported = True
        with self.store.write():
            self._update(cid, status=status, broker_order_id=b.broker_order_id,
                         filled_qty=b.filled_qty, avg_price=b.avg_price, fees=b.fees,
                         reason=b.reason or None)

    def _submit(self, row: st.OrderRow) -> OrderState | None:
        req = OrderRequest(client_order_id=row.client_order_id, ticker=row.ticker,
                           side=as_side(row.side),
                           qty=Decimal(row.qty),
                           limit_price=Decimal(row.limit_price) if row.limit_price else None,
                           post_only=bool(row.post_only))
        if not self.may_send():
            log.info("order %s not sent: the trader is halted", row.client_order_id)
            return None  # stays NEW: cancel_open closes it, resume sends it in its bar
        self._hint([row])
        try:
            b = self.broker.submit(req)
        except OrderRejected as e:
            with self.store.write():
                self._update(row.client_order_id, status="REJECTED",
                             reason=e.reason)
            log.info("order %s rejected: %s", row.client_order_id, e)
            if e.reason == "post_only":
                self._next_attempt(row, Decimal(row.qty))
            return None
        except BrokerError as e:
            # Unknown outcome (timeout, 5xx): the row stays NEW and send_new resolves it by id.
            log.warning("submit %s failed (%s); will check by id", row.client_order_id, e)
            return None
        self._adopt(row.client_order_id, b)
        return b

    def _hint(self, rows: list[st.OrderRow]) -> None:
        """Tell a broker that looks orders up by time when these were intended (Coinbase: a
        narrow listing instead of the last order_lookback_h hours)."""
        remember = getattr(self.broker, "remember_orders", None)
        if remember is not None and rows:
            remember([(r.client_order_id, r.broker_order_id, r.created_at) for r in rows])

    def send_new(self, current_bar: float) -> None:
        rows = [r for r in st.open_orders(self.store, self.trader) if r.status == "NEW"]
        self._hint(rows)
        for row in rows:
            b = self.broker.get_order(row.client_order_id)
            if b is not None:
                self._adopt(row.client_order_id, b)
            elif row.bar_at >= current_bar:
                self._submit(row)
            else:
                with self.store.write():
                    self._update(row.client_order_id, status="EXPIRED",
                                 reason="never reached the broker; its bar has passed")

    # -- between bars ---------------------------------------------------------------------
    def sync_open(self) -> None:
        """Refresh our OPEN/PARTIAL rows from the broker; keep one open attempt per group."""
        rows = [r for r in st.open_orders(self.store, self.trader) if r.status != "NEW"]
        live = {o.client_order_id: o for o in self.broker.open_orders()}
        self._found_again(live, {r.client_order_id for r in rows})
        if not rows:
            return
        newest: dict[tuple[float, str], int] = {}
        for r in rows:
            key = (r.bar_at, r.ticker)
            newest[key] = max(newest.get(key, -1), r.attempt)
        stale = [r.client_order_id for r in rows
                 if r.client_order_id in live and r.attempt < newest[(r.bar_at, r.ticker)]]
        if stale:
            self.broker.cancel(stale)
        for r in rows:
            b = live.get(r.client_order_id) if r.client_order_id not in stale else None
            if b is None:
                b = self.broker.get_order(r.client_order_id)
            if b is None:
                with self.store.write():
                    self._update(r.client_order_id, status="EXPIRED",
                                 reason="unknown at the broker")
            elif (b.status, b.filled_qty) != (r.status, Decimal(r.filled_qty)):
                self._adopt(r.client_order_id, b)

    def _found_again(self, live: dict[str, OrderState], managed: set[str]) -> None:
        """An intent closed as never sent (not found at the broker: a listing that lagged
        behind a post whose answer a crash lost) whose order is open at the broker after all
        is ours again: adopted, so it is cancelled with its bar like any other."""
        for cid, b in live.items():
            if cid in managed:
                continue
            row = st.get_order(self.store, cid)
            if (row is not None and row.trader == self.trader and not row.broker_order_id
                    and row.status in ("EXPIRED", "CANCELLED")):
                log.warning("order %s is open at the broker after all: managed again", cid)
                self._adopt(cid, b)

    def service(self, current_bar: float) -> None:
        """Submit pending intents and re-price resting orders that waited too long."""
        self.send_new(current_bar)
        now = self.now()
        rows = [r for r in st.open_orders(self.store, self.trader)
                if r.status in ("OPEN", "PARTIAL") and r.order_type == "limit"]
        if not rows:
            return
        live = {o.client_order_id: o for o in self.broker.open_orders()}
        for r in rows:
            b = live.get(r.client_order_id)
            if b is None:  # no longer open: filled (its fill is booked now) or cancelled
                done = self.broker.get_order(r.client_order_id)
                if done is not None and (done.status, done.filled_qty) != (
                        r.status, Decimal(r.filled_qty)):
                    self._adopt(r.client_order_id, done)
                continue
            if now - b.created_at < self.cfg.reprice_after_s:
                continue
            self.broker.cancel([r.client_order_id])
            after = self.broker.get_order(r.client_order_id) or b
            self._adopt(r.client_order_id, after)
            remaining = Decimal(r.qty) - after.filled_qty
            if remaining > 0 and after.status == "CANCELLED":
                self._next_attempt(r, remaining)

    def _next_attempt(self, row: st.OrderRow, remaining: Decimal) -> None:
        product = self.broker.product(row.ticker)
        qty = round_down(remaining, product.base_increment)
        if qty <= 0 or qty < product.base_min_size:
            return
        attempt = row.attempt + 1
        if row.attempt >= self.cfg.max_reprices:
            if self.cfg.on_exhausted == "skip":
                log.info("%s %s: re-prices exhausted, skipped", row.ticker, row.side)
                return
            price: Decimal | None = None  # cross as taker
        else:
            q = self.broker.quotes([row.ticker])[row.ticker]
            price = q.bid if row.side == "BUY" else q.ask
        if self.vet is not None:
            d = self.vet(row.ticker, row.side, qty, price)
            if not d.approved:
                log.info("%s %s: not sent again, refused by risk: %s", row.ticker, row.side,
                         d.reason)
                return
            qty = d.qty
        with self.store.write():
            cid = self.record_intent(row.bar_at, row.ticker, row.side, qty, price, attempt,
                                     reason="taker" if price is None else "re-price")
        new = st.get_order(self.store, cid)
        if new is not None and new.status == "NEW":
            self._submit(new)

    def cancel_open(self, before_bar: float | None = None) -> list[str]:
        """Cancel our open orders (all, or those of bars before `before_bar`)."""
        rows = [r for r in st.open_orders(self.store, self.trader)
                if before_bar is None or r.bar_at < before_bar]
        if not rows:
            return []
        to_cancel: list[str] = []
        self._hint([r for r in rows if r.status == "NEW"])
        for r in rows:
            if r.status == "NEW":
                b = self.broker.get_order(r.client_order_id)
                if b is None:
                    with self.store.write():
                        self._update(r.client_order_id, status="CANCELLED",
                                     reason="cancelled before it was sent")
                    continue
                if not b.is_open:
                    self._adopt(r.client_order_id, b)
                    continue
            to_cancel.append(r.client_order_id)
        if to_cancel:
            self.broker.cancel(to_cancel)
        for cid in to_cancel:
            b = self.broker.get_order(cid)
            if b is not None:
                self._adopt(cid, b)
            else:
                with self.store.write():
                    self._update(cid, status="EXPIRED",
                                 reason="unknown at the broker")
        return to_cancel
