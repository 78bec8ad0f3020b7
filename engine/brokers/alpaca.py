"""AlpacaPaperBroker: real paper orders through alpaca-py (TradingClient(paper=True)).

Crypto on Alpaca: symbols BTC/USD (positions BTCUSD), time in force gtc/ioc, no post-only
flag. Post-only is emulated: a post-only limit that would cross the latest quote is
refused locally as OrderRejected("post_only") and never sent. Alpaca reports no fee or
liquidity per fill (neither the order nor the FILL activity carries one; CFEE activities
come later, by day, without an order id); fees use the configured schedule ([alpaca]
maker/taker_fee_rate, by default Alpaca's crypto tier 1: 0.15% maker, 0.25% taker).
Market orders are taker. A limit is maker unless it met the book on arrival (the quote
moved between our check and Alpaca's receipt), which Alpaca fills at once as a taker:
a fill priced better than its limit (a resting order fills at its own limit), or a fill
the placement answer itself reported, is taker (engine.brokers.alpaca_liquidity).
Alpaca charges the fee in what the account receives: a buy's in the coin, so a buy's fill
is the quantity less the fee (what the position gained), a sell's in USD.

The SDK's own 429/504 retry (3 x 3 s) is turned off; our bounded backoff decides instead,
and every request gets a timeout. submit() is idempotent on client_order_id (looked up
with GET /v2/orders:by_client_order_id before posting and before any re-post).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from engine.brokers.alpaca_client import make_clients
from engine.brokers.alpaca_liquidity import is_taker
from engine.brokers.base import (
    Balance,
    Bar,
    FeeTier,
    Fill,
    Json,
    OrderRejected,
    OrderRequest,
    OrderState,
    OrderStatus,
    Product,
    ProductCache,
    Quote,
    dec,
)
from engine.brokers.coinbase_client import is_loopback
from engine.brokers.retry import (
    BrokerCallError,
    Pacer,
    RetryPolicy,
    call_with_retry,
    check_order,
    http_error,
    place_once,
    retry_after_s,
    sdk_call,
    transport_error,
)
from engine.brokers.symbols import alpaca_position_symbol, alpaca_symbol, from_alpaca
from engine.config.schema import Config
from engine.config.secrets import Secrets

T = TypeVar("T")
VENUE = "alpaca"
TIMEFRAMES = {"1m": (1, "Minute", 60), "5m": (5, "Minute", 300), "15m": (15, "Minute", 900),
              "30m": (30, "Minute", 1800), "1h": (1, "Hour", 3600), "2h": (2, "Hour", 7200),
              "6h": (6, "Hour", 21600), "1d": (1, "Day", 86400)}
STATUS: dict[str, OrderStatus] = {"new": "NEW", "accepted": "NEW", "pending_new": "NEW", "accepted_for_bidding": "NEW",
          "partially_filled": "PARTIAL", "filled": "FILLED", "done_for_day": "OPEN",
          "canceled": "CANCELLED", "expired": "EXPIRED", "replaced": "CANCELLED",
          "pending_cancel": "OPEN", "pending_replace": "OPEN", "stopped": "OPEN",
          "rejected": "REJECTED", "suspended": "OPEN", "calculated": "OPEN"}
OPEN_STATUSES = {"new", "accepted", "pending_new", "partially_filled", "pending_cancel",
                 "pending_replace", "accepted_for_bidding", "stopped", "suspended",
                 "calculated", "done_for_day"}
# Alpaca's documented minimum for a crypto order is $1 notional (assets carry the
# per-coin min_order_size).
MIN_NOTIONAL = Decimal(1)
PRODUCT_TTL_S = 300.0   # asset details (increments, tradable) are cached this long


def parse_time(s: Any) -> float:
    if not s:
        return 0.0
    text = str(s).replace("Z", "+00:00")
    # Alpaca sends up to 9 fractional digits; Python parses at most 6.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits):]
        text = f"{head}.{digits[:6]}{tz}"
    return datetime.fromisoformat(text).timestamp()


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_override(url: str, what: str) -> str | None:
    """'' -> None (the SDK default); http only for loopback hosts."""
    url = url.strip().rstrip("/")
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"alpaca {what} {url!r} must be http(s)://host[:port]")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(f"alpaca {what} {url!r}: plain http is allowed only for loopback hosts")
    return url


def _api_message(detail: str) -> str:
    """Alpaca error bodies are {"code": ..., "message": ...}; fall back to the raw text."""
    import json

    try:
        body = json.loads(detail)
    except ValueError:
        return detail
    return str(body.get("message") or detail) if isinstance(body, dict) else detail


def reject_reason(status: int, text: str) -> str:
    t = text.lower()
    if "insufficient" in t or "buying power" in t:
        return "funds"
    if "not tradable" in t or "inactive" in t or "not active" in t or "halt" in t:
        return "disabled"
    if "qty" in t or "quantity" in t or "notional" in t or "min" in t or "increment" in t:
        return "size"
    return "other"


def _translate(what: str, e: Exception) -> BrokerCallError | None:
    import requests
    from alpaca.common.exceptions import APIError

    if isinstance(e, APIError):
        err = http_error(VENUE, what, e.status_code or 0, str(e))
        resp = e.response
        err.retry_after = retry_after_s(resp.headers if resp is not None else None)
        return err
    if isinstance(e, requests.RequestException):
        return transport_error(VENUE, what, e)
    return None


class AlpacaPaperBroker:
    name = "alpaca"

    def __init__(self, cfg: Config, secrets: Secrets, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        a = cfg.alpaca
        if not secrets.alpaca_api_key or not secrets.alpaca_secret_key:
            raise BrokerCallError("alpaca: credentials missing (set alpaca_api_key and "
                                  "alpaca_secret_key in the key file, or APCA_API_KEY_ID / "
                                  "APCA_API_SECRET_KEY)", kind="bad_key")
        try:
            trade_url = check_override(a.url_override, "url_override")
            data_url = check_override(a.data_url_override, "data_url_override")
        except ValueError as e:
            raise BrokerCallError(str(e), kind="config") from None
        self.trading, self.data = make_clients(
            secrets.alpaca_api_key, secrets.alpaca_secret_key, trade_url=trade_url,
            data_url=data_url, timeout_s=a.timeout_s)
        self.retry = retry or RetryPolicy(attempts=a.retry_attempts, initial_s=a.retry_initial_s,
                                          max_s=a.retry_max_s)
        self.maker_rate = Decimal(str(a.maker_fee_rate))
        self.taker_rate = Decimal(str(a.taker_fee_rate))
        self._sleep = sleep
        self._orders: dict[str, Json] = {}   # broker order id -> last raw order seen
        # broker order id -> quantity the placement answer already reported filled (taker)
        self._filled_on_arrival: dict[str, Decimal] = {}
        self._products = ProductCache(self._fetch_product, PRODUCT_TTL_S)
        self.pacer = Pacer()
        # The exchange's time, from the trader's clock (one source of "now": it runs on the
        # monotonic clock between checks); the machine's wall time until a trader hands it.
        self.exchange_clock: Callable[[], float] = time.time
        # Asked before every order post, retries included (the executor: not halted).
        self.may_send: Callable[[], bool] = lambda: True

    # ---- plumbing ----------------------------------------------------------------------
    def _once(self, what: str, fn: Callable[[], Any], parse: Callable[[Any], T]) -> T:
        return sdk_call(VENUE, what, fn, parse, functools.partial(_translate, what))

    def _call(self, what: str, fn: Callable[[], Any], parse: Callable[[Any], T]) -> T:
        return call_with_retry(lambda: self._once(what, fn, parse), self.retry,
                               sleep=self._sleep, pacer=self.pacer)

    # ---- market data -------------------------------------------------------------------
    def now(self) -> float:
        return self._call("clock", self.trading.get_clock,
                          lambda r: parse_time(r["timestamp"]))

    def account(self) -> dict[str, Any]:
        return self._call("account", self.trading.get_account, lambda r: dict(r))

    def product(self, ticker: str) -> Product:
        return self._products.get(ticker)

    def _fetch_product(self, ticker: str) -> Product:
        sym = alpaca_position_symbol(ticker)

        def parse(r: Json) -> Product:
            return Product(ticker=ticker, base_increment=dec(r.get("min_trade_increment")),
                           quote_increment=dec(r.get("price_increment")),
                           base_min_size=dec(r.get("min_order_size")),
                           quote_min_size=MIN_NOTIONAL,
                           trading_disabled=not r.get("tradable", False)
                           or str(r.get("status", "")).lower() != "active")
        return self._call(f"asset {sym}", lambda: self.trading.get_asset(sym), parse)

    def quotes(self, tickers: list[str]) -> dict[str, Quote]:
        from alpaca.data.requests import CryptoLatestQuoteRequest

        syms = [alpaca_symbol(t) for t in tickers]

        def parse(r: Json) -> dict[str, Quote]:
            out = {}
            for sym, q in r.items():
                t = from_alpaca(sym)
                out[t] = Quote(ticker=t, bid=dec(q["bp"]), ask=dec(q["ap"]),
                               at=parse_time(q.get("t")) or time.time())
            return out
        return self._call("latest quotes", lambda: self.data.get_crypto_latest_quote(
            CryptoLatestQuoteRequest(symbol_or_symbols=syms)), parse)

    def bars(self, ticker: str, start: float, end: float, timeframe: str) -> list[Bar]:
        from alpaca.data.requests import CryptoBarsRequest
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        if timeframe not in TIMEFRAMES:
            raise ValueError(f"timeframe {timeframe!r} is not one of {sorted(TIMEFRAMES)}")
        amount, unit, step = TIMEFRAMES[timeframe]
        sym = alpaca_symbol(ticker)
        closed_before = self.exchange_clock() - step  # on the exchange's clock
        req = CryptoBarsRequest(symbol_or_symbols=sym,
                                timeframe=TimeFrame(amount, TimeFrameUnit[unit]),
                                start=datetime.fromtimestamp(start, UTC),
                                end=datetime.fromtimestamp(end, UTC))

        def parse(r: Json) -> list[Bar]:
            found: dict[float, Bar] = {}
            for b in r.get(sym) or []:
                t0 = parse_time(b["t"])
                if start <= t0 < end and t0 <= closed_before:
                    found[t0] = Bar(ticker=ticker, start=t0, open=float(b["o"]),
                                    high=float(b["h"]), low=float(b["l"]), close=float(b["c"]),
                                    volume=float(b["v"]))
            return [found[k] for k in sorted(found)]
        return self._call(f"bars {sym}", lambda: self.data.get_crypto_bars(req), parse)

    # ---- account -----------------------------------------------------------------------
    def balances(self) -> dict[str, Balance]:
        acct = self.account()
        positions = self._call("positions", self.trading.get_all_positions, lambda r: list(r))
        try:
            cash = dec(acct["cash"])
            avail = min(cash, dec(acct.get("non_marginable_buying_power") or cash))
            out = {"USD": Balance("USD", available=avail, hold=max(Decimal(0), cash - avail))}
            for p in positions:
                base = from_alpaca(str(p["symbol"])).split("-")[0]
                qty = dec(p["qty"])
                free = dec(p.get("qty_available") if p.get("qty_available") is not None
                           else qty)
                out[base] = Balance(base, available=free, hold=qty - free)
        except (KeyError, TypeError, ValueError, InvalidOperation) as e:
            raise BrokerCallError(f"alpaca balances: unexpected response shape ({e})",
                                  kind="malformed") from None
        return out

    def fee_tier(self) -> FeeTier:
        return FeeTier(name="alpaca crypto (configured schedule)", maker_rate=self.maker_rate,
                       taker_rate=self.taker_rate, volume_30d=Decimal(0))

    # ---- orders ------------------------------------------------------------------------
    def _state(self, o: Json) -> OrderState:
        self._orders[str(o["id"])] = o
        filled = dec(o.get("filled_qty"))
        avg = o.get("filled_avg_price")
        limit = o.get("limit_price")
        side: Literal["BUY", "SELL"] = "BUY" if str(o["side"]).lower() == "buy" else "SELL"
        taker = filled > 0 and bool(avg) and is_taker(
            o, dec(avg), filled, self._filled_on_arrival.get(str(o["id"]), Decimal(0)))
        fee_rate = self.taker_rate if taker else self.maker_rate
        fees = (filled * dec(avg) * fee_rate) if filled > 0 and avg else Decimal(0)
        return OrderState(client_order_id=str(o.get("client_order_id") or ""),
                          broker_order_id=str(o["id"]), ticker=from_alpaca(str(o["symbol"])),
                          side=side, qty=dec(o.get("qty")),
                          limit_price=dec(limit) if limit else None,
                          status=STATUS.get(str(o.get("status")), "OPEN"),
                          filled_qty=filled, avg_price=dec(avg) if avg else None, fees=fees,
                          created_at=parse_time(o.get("submitted_at") or o.get("created_at")))

    def get_order(self, client_order_id: str) -> OrderState | None:
        try:
            return self._call(f"order {client_order_id}",
                              lambda: self.trading.get_order_by_client_id(client_order_id),
                              self._state)
        except BrokerCallError as e:
            if e.kind == "not_found":
                return None
            raise

    def open_orders(self) -> list[OrderState]:
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        rows = self._call("open orders", lambda: self.trading.get_orders(
            GetOrdersRequest(status=QueryOrderStatus.OPEN, limit=500)), lambda r: list(r))
        return [s for s in (self._state(o) for o in rows) if s.is_open]

    def submit(self, req: OrderRequest) -> OrderState:
        check_order(req)
        existing = self.get_order(req.client_order_id)
        if existing is not None:
            return existing
        if req.post_only and req.limit_price is not None:
            q = self.quotes([req.ticker]).get(req.ticker)
            if q is not None and (req.limit_price >= q.ask if req.side == "BUY"
                                  else req.limit_price <= q.bid):
                raise OrderRejected(f"alpaca: post-only {req.side} {req.client_order_id} at "
                                    f"{req.limit_price} would cross (bid {q.bid}, ask {q.ask})",
                                    "post_only")
        order = self._order_request(req)

        def refused(e: BrokerCallError) -> OrderState | None:
            if e.kind in ("bad_request", "forbidden") and e.status in (400, 403, 422):
                text = _api_message(e.detail) or str(e)
                if "unique" in text.lower():   # an earlier try of ours got through
                    found = self.get_order(req.client_order_id)
                    if found is not None:
                        return found
                raise OrderRejected(f"alpaca rejected {req.client_order_id}: {text}",
                                    reject_reason(e.status or 0, text)) from None
            return None

        # Alpaca may have taken the order when a try failed: place_once looks it up.
        return place_once(lambda: self._once(f"submit {req.client_order_id}",
                                             lambda: self.trading.submit_order(order),
                                             self._placed),
                          lambda: self.get_order(req.client_order_id), self.retry,
                          self.pacer, self._sleep, refused, may_send=self.may_send)

    def _placed(self, o: Json) -> OrderState:
        """The placement answer: what it already reports filled met the book on arrival."""
        filled = dec(o.get("filled_qty"))
        if filled > 0:
            self._filled_on_arrival[str(o["id"])] = filled
        return self._state(o)

    @staticmethod
    def _order_request(req: OrderRequest) -> Any:
        from alpaca.trading.enums import OrderSide, TimeInForce
        from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest

        side = OrderSide.BUY if req.side == "BUY" else OrderSide.SELL
        sym = alpaca_symbol(req.ticker)
        if req.limit_price is None:
            return MarketOrderRequest(symbol=sym, qty=float(req.qty), side=side,
                                      time_in_force=TimeInForce.GTC,
                                      client_order_id=req.client_order_id)
        return LimitOrderRequest(symbol=sym, qty=float(req.qty), side=side,
                                 time_in_force=TimeInForce.GTC,
                                 limit_price=float(req.limit_price),
                                 client_order_id=req.client_order_id)

    def cancel(self, client_order_ids: list[str]) -> None:
        for cid in client_order_ids:
            st = self.get_order(cid)
            if st is None or not st.is_open:
                continue
            try:
                def cancel_call(oid: str = st.broker_order_id) -> Any:
                    return self.trading.cancel_order_by_id(oid)

                self._call(f"cancel {cid}", cancel_call, lambda r: r)
            except BrokerCallError as e:
                if e.status not in (404, 422):
                    raise
                after = self.get_order(cid)      # 422: already filled or cancelled?
                if after is not None and after.is_open:
                    raise

    def fills(self, since: float) -> list[Fill]:
        rows: list[Json] = []
        token: str | None = None
        for _ in range(50):
            params: dict[str, Any] = {"after": iso(since - 1), "direction": "asc",
                                      "page_size": 100}
            if token:
                params["page_token"] = token
            def get_page(p: dict[str, Any] = params) -> Any:
                return self.trading.get("/account/activities/FILL", p)

            page = self._call("fill activities", get_page, lambda r: list(r or []))
            rows.extend(page)
            if len(page) < 100:
                break
            token = str(page[-1]["id"])
        out: dict[str, Fill] = {}
        for a in rows:
            at = parse_time(a.get("transaction_time"))
            if at < since:
                continue
            oid = str(a["order_id"])
            o = self._orders.get(oid)
            if o is None:
                def fetch_order(x: str = oid) -> Any:
                    return self.trading.get_order_by_id(x)

                o = self._call(f"order {oid}", fetch_order, lambda r: dict(r))
                self._orders[oid] = o
            qty, px = dec(a["qty"]), dec(a["price"])
            maker = not is_taker(o, px, dec(a.get("cum_qty")) or qty,
                                 self._filled_on_arrival.get(oid, Decimal(0)))
            rate = self.maker_rate if maker else self.taker_rate
            buy = str(a["side"]).lower() == "buy"
            fid = str(a["id"])
            # Alpaca takes a buy's fee from the coin received: the account gains the quantity
            # less the fee. Booked as that net quantity with the fee's USD value, the book's
            # cash moves by qty x price (as the account's) and its coins match the account's.
            out[fid] = Fill(fill_id=fid, client_order_id=str(o.get("client_order_id") or ""),
                            broker_order_id=oid, ticker=from_alpaca(str(a["symbol"])),
                            side="BUY" if buy else "SELL",
                            qty=qty - qty * rate if buy else qty, price=px,
                            fee=qty * px * rate,
                            liquidity="MAKER" if maker else "TAKER", at=at)
        return sorted(out.values(), key=lambda f: (f.at, f.fill_id))
