"""CoinbaseBroker: live spot trading through coinbase-advanced-py's RESTClient.

Every call goes through `_call`, which maps transport and HTTP failures to
BrokerCallError (retryable for 429/5xx/timeouts/resets/malformed JSON) and retries them
with bounded backoff. submit() is idempotent on client_order_id: it looks the id up
before posting and again before any re-post after an ambiguous failure, so a timeout or
reset after the exchange accepted the order never creates a second one.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from engine.brokers.base import (
    Balance,
    Bar,
    BrokerError,
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
    Side,
    as_side,
    dec,
)
from engine.brokers.clock_skew import blame_clock
from engine.brokers.coinbase_client import accepted_at, key_problem, make_rest_client
from engine.brokers.coinbase_reused_id import already_there, reused_id
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
from engine.brokers.symbols import coinbase_product_id, from_coinbase
from engine.config.schema import Config
from engine.config.secrets import Secrets

T = TypeVar("T")
VENUE = "coinbase"
GRANULARITY = {"1m": ("ONE_MINUTE", 60), "5m": ("FIVE_MINUTE", 300),
               "15m": ("FIFTEEN_MINUTE", 900), "30m": ("THIRTY_MINUTE", 1800),
               "1h": ("ONE_HOUR", 3600), "2h": ("TWO_HOUR", 7200),
               "6h": ("SIX_HOUR", 21600), "1d": ("ONE_DAY", 86400)}
CANDLES_PER_REQUEST = 300       # the exchange allows 350
STATUS: dict[str, OrderStatus] = {"PENDING": "NEW", "QUEUED": "NEW", "OPEN": "OPEN", "CANCEL_QUEUED": "OPEN",
          "EDIT_QUEUED": "OPEN", "FILLED": "FILLED", "CANCELLED": "CANCELLED",
          "EXPIRED": "EXPIRED", "FAILED": "REJECTED"}
MAX_PAGES = 50
PRODUCT_TTL_S = 300.0           # product details (increments, status) are cached this long
LOOKUP_MARGIN_S = 300.0         # an order looked up by time is listed from its intent - this


def plain(obj: Any) -> Any:
    """The SDK's typed responses -> plain dicts/lists (they may nest either)."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(v) for v in obj]
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return {k: plain(v) for k, v in vars(obj).items()}
    return obj


def side_of(x: Any) -> Side:
    """An order's or fill's side as the exchange wrote it; anything else is malformed."""
    try:
        return as_side(x)
    except ValueError:
        raise BrokerCallError(f"coinbase: unknown order side {x!r}", kind="malformed") from None


def num(x: Decimal) -> str:
    """Decimal as plain text, never in exponent form (1E-8 is refused by the API)."""
    return format(x, "f")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: Any) -> float:
    if not s:
        return 0.0
    return datetime.fromisoformat(str(s).replace("Z", "+00:00")).timestamp()


def reject_reason(text: str) -> str:
    """Coinbase failure codes -> OrderRejected.reason."""
    t = text.upper()
    if "POST_ONLY" in t:
        return "post_only"
    if "FUND" in t or "BALANCE" in t:
        return "funds"
    if "DISABLED" in t or "INELIGIBLE" in t or "CANCEL_ONLY" in t or "TRADING_HALT" in t:
        return "disabled"
    if "SIZE" in t or "PRECISION" in t or "INCREMENT" in t:
        return "size"
    return "other"


def call_once(what: str, fn: Callable[[], Any], parse: Callable[[Any], T]) -> T:
    """One SDK call; failures become BrokerCallError (retryable where it makes sense)."""
    return sdk_call(VENUE, what, lambda: plain(fn()), parse, functools.partial(_translate, what))


def _translate(what: str, e: Exception) -> BrokerCallError | None:
    import requests

    if isinstance(e, requests.HTTPError):
        resp = e.response
        status = resp.status_code if resp is not None else 0
        err = http_error(VENUE, what, status, resp.text if resp is not None else "")
        err.retry_after = retry_after_s(resp.headers if resp is not None else None)
        return err
    if isinstance(e, requests.RequestException):
        return transport_error(VENUE, what, e)
    return None


def parse_server_time(r: Json) -> float:
    # The SDK renames epochMillis/epochSeconds to snake case; accept both.
    millis = r.get("epoch_millis") or r.get("epochMillis")
    if millis:
        return int(millis) / 1000.0
    return float(r.get("epoch_seconds") or r["epochSeconds"])


class CoinbaseBroker:
    name = "coinbase"

    def __init__(self, cfg: Config, secrets: Secrets, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        c = cfg.coinbase
        problem = key_problem(secrets.coinbase_api_key, secrets.coinbase_api_secret)
        if problem:
            raise BrokerCallError(f"coinbase: {problem}", kind="bad_key")
        try:
            self.client = make_rest_client(c.base_url, secrets.coinbase_api_key,
                                           secrets.coinbase_api_secret, timeout=c.timeout_s)
            # unsigned: the server time must answer even when the clock spoils signatures
            self.public = make_rest_client(c.base_url, timeout=c.timeout_s)
        except ValueError as e:
            raise BrokerCallError(f"coinbase: {e}", kind="config") from None
        self.retry = retry or RetryPolicy(attempts=c.retry_attempts, initial_s=c.retry_initial_s,
                                          max_s=c.retry_max_s)
        self.lookback_s = c.order_lookback_h * 3600
        self.max_skew_s = c.max_clock_skew_s
        self._key = (secrets.coinbase_api_key, secrets.coinbase_api_secret)
        self._timeout_s = c.timeout_s
        self._sleep = sleep
        self._order_ids: dict[str, str] = {}      # client_order_id -> exchange order_id
        self._client_ids: dict[str, str] = {}     # exchange order_id -> client_order_id
        self._intent_at: dict[str, float] = {}    # client_order_id -> when it was intended
        self._products = ProductCache(self._fetch_product, PRODUCT_TTL_S)
        self.pacer = Pacer()
        # The exchange's time, from the trader's clock (one source of "now": it runs on the
        # monotonic clock between checks); the machine's wall time until a trader hands it.
        self.exchange_clock: Callable[[], float] = time.time
        # Asked before every order post, retries included (the executor: not halted).
        self.may_send: Callable[[], bool] = lambda: True

    def remember_orders(self, hints: list[tuple[str, str | None, float]]) -> None:
        """(client_order_id, exchange order_id or None, intended at) from the store: a
        restarted trader looks its orders up by id (or from their intent time on) instead of
        listing the account's last order_lookback_h hours."""
        for cid, oid, at in hints:
            if oid:
                self._order_ids[cid] = oid
                self._client_ids[oid] = cid
            else:
                self._intent_at[cid] = at

    # ---- plumbing ----------------------------------------------------------------------
    def _once(self, what: str, fn: Callable[[], Any], parse: Callable[[Any], T]) -> T:
        try:
            return call_once(what, fn, parse)
        except BrokerCallError as e:
            # a 401/403 may be the machine's clock (the JWT's nbf/exp), not the key
            raise blame_clock(e, VENUE, self._server_time, self.max_skew_s,
                              self._accepted_at) from None

    def _accepted_at(self, at: float) -> bool:
        return accepted_at(self.client, self._key[0], self._key[1], at, self._timeout_s)

    def _server_time(self) -> float:
        return call_once("server time", self.public.get_unix_time, parse_server_time)

    def _call(self, what: str, fn: Callable[[], Any], parse: Callable[[Any], T]) -> T:
        return call_with_retry(lambda: self._once(what, fn, parse), self.retry,
                               sleep=self._sleep, pacer=self.pacer)

    def _pages(self, what: str, fetch: Callable[[str | None], Any], key: str) -> list[Json]:
        rows: list[Json] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            page = self._call(what, functools.partial(fetch, cursor), lambda r: r)
            items = page.get(key) or []
            if not isinstance(items, list):
                raise BrokerCallError(f"coinbase {what}: malformed response", kind="malformed")
            rows.extend(items)
            cursor = page.get("cursor") or None
            if not cursor or page.get("has_next") is False:
                break
        return rows

    # ---- market data -------------------------------------------------------------------
    def now(self) -> float:
        return self._call("server time", self.public.get_unix_time, parse_server_time)

    def product(self, ticker: str) -> Product:
        return self._products.get(ticker)

    def _fetch_product(self, ticker: str) -> Product:
        pid = coinbase_product_id(ticker)

        def parse(r: Json) -> Product:
            return Product(ticker=ticker, base_increment=dec(r["base_increment"]),
                           quote_increment=dec(r["quote_increment"]),
                           base_min_size=dec(r.get("base_min_size")),
                           quote_min_size=dec(r.get("quote_min_size")),
                           trading_disabled=bool(r.get("trading_disabled"))
                           or bool(r.get("is_disabled"))
                           or str(r.get("status", "online")).lower() not in ("online", ""),
                           post_only=bool(r.get("post_only")),
                           cancel_only=bool(r.get("cancel_only")))
        return self._call(f"product {pid}", lambda: self.client.get_product(pid), parse)

    def quotes(self, tickers: list[str]) -> dict[str, Quote]:
        pids = [coinbase_product_id(t) for t in tickers]

        def parse(r: Json) -> dict[str, Quote]:
            out = {}
            for book in r.get("pricebooks") or []:
                if not book.get("bids") or not book.get("asks"):
                    continue
                t = from_coinbase(book["product_id"])
                out[t] = Quote(ticker=t, bid=dec(book["bids"][0]["price"]),
                               ask=dec(book["asks"][0]["price"]),
                               at=parse_time(book.get("time")) or time.time())
            return out
        return self._call("best bid/ask", lambda: self.client.get_best_bid_ask(product_ids=pids),
                          parse)

    def bars(self, ticker: str, start: float, end: float, timeframe: str) -> list[Bar]:
        if timeframe not in GRANULARITY:
            raise ValueError(f"timeframe {timeframe!r} is not one of {sorted(GRANULARITY)}")
        pid = coinbase_product_id(ticker)
        gran, step = GRANULARITY[timeframe]
        # A bar is closed once start + step has passed on the exchange's clock.
        closed_before = self.exchange_clock() - step
        found: dict[int, Bar] = {}
        lo = int(start // step * step)
        hi = int(end)
        while lo < hi:
            chunk_end = min(hi, lo + CANDLES_PER_REQUEST * step)

            def fetch(a: int = lo, b: int = chunk_end) -> Any:
                return self.client.get_candles(pid, str(a), str(b), gran)

            def parse(r: Json) -> list[Bar]:
                return [Bar(ticker=ticker, start=float(c["start"]), open=float(c["open"]),
                            high=float(c["high"]), low=float(c["low"]),
                            close=float(c["close"]), volume=float(c["volume"]))
                        for c in r.get("candles") or []]
            for bar in self._call(f"candles {pid}", fetch, parse):
                if start <= bar.start < end and bar.start <= closed_before:
                    found[int(bar.start)] = bar
            lo = chunk_end
        return [found[k] for k in sorted(found)]

    # ---- account -----------------------------------------------------------------------
    def balances(self) -> dict[str, Balance]:
        rows = self._pages("accounts", lambda c: self.client.get_accounts(limit=250, cursor=c),
                           "accounts")
        out: dict[str, Balance] = {}
        try:
            for a in rows:
                cur = str(a["currency"]).upper()
                avail = dec((a.get("available_balance") or {}).get("value"))
                hold = dec((a.get("hold") or {}).get("value"))
                prev = out.get(cur)
                if prev is not None:
                    avail, hold = avail + prev.available, hold + prev.hold
                out[cur] = Balance(currency=cur, available=avail, hold=hold)
        except (KeyError, TypeError, AttributeError, InvalidOperation) as e:
            raise BrokerCallError(f"coinbase accounts: unexpected response shape ({e})",
                                  kind="malformed") from None
        return out

    def fee_tier(self) -> FeeTier:
        def parse(r: Json) -> FeeTier:
            tier = r["fee_tier"]
            return FeeTier(name=str(tier.get("pricing_tier") or ""),
                           maker_rate=dec(tier["maker_fee_rate"]),
                           taker_rate=dec(tier["taker_fee_rate"]),
                           volume_30d=dec(r.get("total_volume")))
        return self._call("transaction summary", self.client.get_transaction_summary, parse)

    def key_permissions(self) -> dict[str, Any]:
        """GET /key_permissions: can_view, can_trade, can_transfer, portfolio_uuid."""
        return self._call("key permissions", self.client.get_api_key_permissions,
                          lambda r: dict(r))

    # ---- orders ------------------------------------------------------------------------
    def _state(self, o: Json) -> OrderState:
        conf: Json = next(iter((o.get("order_configuration") or {}).values()), {}) or {}
        filled = dec(o.get("filled_size"))
        status: OrderStatus = STATUS.get(str(o.get("status")), "OPEN")
        if status == "OPEN" and filled > 0:
            status = "PARTIAL"
        cid, oid = str(o.get("client_order_id") or ""), str(o["order_id"])
        if cid:
            self._order_ids[cid] = oid
            self._client_ids[oid] = cid
        avg = dec(o.get("average_filled_price"))
        limit = conf.get("limit_price")
        return OrderState(client_order_id=cid, broker_order_id=oid,
                          ticker=from_coinbase(str(o["product_id"])), side=side_of(o["side"]),
                          qty=dec(conf.get("base_size")), limit_price=dec(limit) if limit
                          else None, status=status, filled_qty=filled,
                          avg_price=avg if filled > 0 and avg > 0 else None,
                          fees=dec(o.get("total_fees")),
                          created_at=parse_time(o.get("created_time")),
                          reason=str(o.get("reject_message") or o.get("cancel_message") or ""))

    def _get_by_order_id(self, oid: str) -> OrderState:
        return self._call(f"order {oid}", lambda: self.client.get_order(oid),
                          lambda r: self._state(r["order"]))

    def _find(self, client_order_id: str, product_id: str | None = None) -> OrderState | None:
        oid = self._order_ids.get(client_order_id)
        if oid:
            try:
                return self._get_by_order_id(oid)
            except BrokerCallError as e:
                if e.kind != "not_found":
                    raise
                # The exchange does not know that id (a store from another account or
                # environment): forget it and look the client id up, else it is unknown.
                self._order_ids.pop(client_order_id, None)
                self._client_ids.pop(oid, None)
        at = self._intent_at.get(client_order_id)
        since = iso(at - LOOKUP_MARGIN_S if at is not None else time.time() - self.lookback_s)
        pids = [product_id] if product_id else None
        rows = self._pages("order lookup", lambda c: self.client.list_orders(
            product_ids=pids, start_date=since, limit=250, cursor=c), "orders")
        for o in rows:
            if o.get("client_order_id") == client_order_id:
                return self._state(o)
        return None

    def get_order(self, client_order_id: str) -> OrderState | None:
        return self._find(client_order_id)

    def open_orders(self) -> list[OrderState]:
        rows = self._pages("open orders", lambda c: self.client.list_orders(
            order_status=["OPEN"], limit=250, cursor=c), "orders")
        return [s for s in (self._state(o) for o in rows) if s.is_open]

    def submit(self, req: OrderRequest) -> OrderState:
        pid = coinbase_product_id(req.ticker)
        check_order(req)
        existing = self._find(req.client_order_id, pid)
        if existing is not None:
            return existing

        def reused(e: BrokerCallError) -> OrderState | None:
            # Coinbase says the id was used: the order is there (coinbase_reused_id).
            if e.kind != "duplicate" and not (e.kind == "bad_request" and reused_id(e.detail)):
                return None
            found = self._find(req.client_order_id, pid)
            if found is None:
                raise already_there(req.client_order_id, e.detail or str(e)) from None
            return found

        # The exchange may have taken the order when a try failed: place_once looks it up.
        placed = place_once(lambda: self._once(f"submit {req.client_order_id}",
                                               lambda: self._post(req, pid),
                                               lambda r: self._created(req, r)),
                            lambda: self._find(req.client_order_id, pid), self.retry,
                            self.pacer, self._sleep, reused, may_send=self.may_send)
        if isinstance(placed, OrderState):
            return placed
        oid = placed
        self._order_ids[req.client_order_id] = oid
        self._client_ids[oid] = req.client_order_id
        try:
            return self._get_by_order_id(oid)
        except BrokerError:
            # Placed for sure; the read-back failed. Report it as just accepted.
            return OrderState(client_order_id=req.client_order_id, broker_order_id=oid,
                              ticker=req.ticker, side=req.side, qty=req.qty,
                              limit_price=req.limit_price, status="NEW",
                              created_at=time.time())

    def _post(self, req: OrderRequest, pid: str) -> Any:
        size = num(req.qty)
        c = self.client
        if req.limit_price is None:
            fn = c.market_order_buy if req.side == "BUY" else c.market_order_sell
            return fn(client_order_id=req.client_order_id, product_id=pid, base_size=size)
        fn = c.limit_order_gtc_buy if req.side == "BUY" else c.limit_order_gtc_sell
        return fn(client_order_id=req.client_order_id, product_id=pid, base_size=size,
                  limit_price=num(req.limit_price), post_only=req.post_only)

    @staticmethod
    def _created(req: OrderRequest, r: Json) -> str:
        if r.get("success") is True:
            oid = (r.get("success_response") or {}).get("order_id") or r.get("order_id")
            if not oid:
                raise KeyError("order_id")
            return str(oid)
        if r.get("success") is False:
            err = r.get("error_response") or {}
            codes = " ".join(str(x) for x in (err.get("error"), err.get("preview_failure_reason"),
                                              err.get("new_order_failure_reason"),
                                              r.get("failure_reason")) if x)
            msg = err.get("message") or err.get("error_details") or codes
            if reused_id(f"{codes} {msg}"):
                raise already_there(req.client_order_id, f"{msg} ({codes})")
            raise OrderRejected(f"coinbase rejected {req.client_order_id}: {msg} ({codes})",
                                reject_reason(codes))
        raise KeyError("success")

    def cancel(self, client_order_ids: list[str]) -> None:
        oids = []
        for cid in client_order_ids:
            st = self._find(cid)
            if st is not None and st.is_open:
                oids.append(st.broker_order_id)
        if not oids:
            return
        results = self._call("cancel", lambda: self.client.cancel_orders(order_ids=oids),
                             lambda r: list(r.get("results") or []))
        failed = [x.get("order_id") for x in results if not x.get("success")]
        still_open = [oid for oid in failed if oid and self._get_by_order_id(oid).is_open]
        if still_open:
            raise BrokerCallError(f"coinbase cancel: {len(still_open)} order(s) still open",
                                  kind="server")

    def fills(self, since: float) -> list[Fill]:
        rows = self._pages("fills", lambda c: self.client.get_fills(
            start_sequence_timestamp=iso(since), limit=250, cursor=c), "fills")
        out: dict[str, Fill] = {}
        for f in rows:
            at = parse_time(f.get("trade_time"))
            if at < since:
                continue
            oid = str(f["order_id"])
            cid = self._client_ids.get(oid)
            if cid is None:
                cid = self._get_by_order_id(oid).client_order_id
            liq = str(f.get("liquidity_indicator") or "").upper()
            fid = str(f.get("entry_id") or f.get("trade_id"))
            price, size = dec(f["price"]), dec(f["size"])
            if f.get("size_in_quote") is True:  # size in USD (an order placed by value)
                size = size / price
            out[fid] = Fill(fill_id=fid, client_order_id=cid, broker_order_id=oid,
                            ticker=from_coinbase(str(f["product_id"])), side=side_of(f["side"]),
                            qty=size, price=price,
                            fee=dec(f.get("commission")),
                            liquidity="MAKER" if liq == "MAKER" else "TAKER", at=at)
        return sorted(out.values(), key=lambda x: (x.at, x.fill_id))
