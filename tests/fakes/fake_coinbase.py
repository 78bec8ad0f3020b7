"""A fake Coinbase Advanced Trade REST API (/api/v3/brokerage/...) on 127.0.0.1.

Private endpoints need `Authorization: Bearer <JWT>`; when the fake is given the key's
public PEM it verifies the ES256 signature and the `uri` claim, like the exchange does.
Orders: a post-only limit that would cross the book is rejected; a market order or a
crossing limit fills at once as TAKER; a resting limit fills as MAKER via `fill()`.
Every create request is counted per client_order_id (`order_count`), so a repeated submit
is visible to tests even when it creates nothing. A reused client_order_id creates no order:
Coinbase's Create Order reference (docs.cdp.coinbase.com/api-reference/advanced-trade-api/
rest-api/orders/create-order, field client_order_id) says "If the ID provided is not
unique, the order will not be created and the order corresponding with that ID will be
returned instead" - answered here as a success naming the existing order. The reference
does not show that answer's shape, so `duplicate_answer` can also refuse it ("failure":
success false with an INVALID_CLIENT_ORDER_ID-like reason; "conflict": HTTP 409), and
`held_count(cid)` says how many orders the exchange holds for an id. `unlisted` hides
orders from the order listings (GET by order id still answers), as a listing that lags;
`hide_new_orders` puts every new order there; with `list_on_repeat` a repeat of its id
lists it again (the listing catches up as the repeat arrives).
`publish_delay_s` (None: the candle in progress shows, as on the exchange) withholds each
candle until that long after it closed: a late newest candle. `place_by_hand()` rests an
order as the operator would from the web app (a random client order id).
"""

from __future__ import annotations

import itertools
import uuid
from decimal import Decimal
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.server import FakeServer, Request, iso, parse_iso
from tests.fakes.server import dec as _d

PREFIX = "/api/v3/brokerage"
GRANULARITY_S = {"ONE_MINUTE": 60, "FIVE_MINUTE": 300, "FIFTEEN_MINUTE": 900,
                 "THIRTY_MINUTE": 1800, "ONE_HOUR": 3600, "TWO_HOUR": 7200,
                 "SIX_HOUR": 21600, "ONE_DAY": 86400}
KEY_NAME = "organizations/x/apiKeys/y"


def make_ec_key() -> tuple[str, str]:
    """(private PEM, public PEM) of a fresh EC P-256 key, as Coinbase CDP keys are."""
    key = ec.generate_private_key(ec.SECP256R1())
    priv = key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return priv, pub


def default_product(pid: str, price: str) -> dict[str, Any]:
    base, quote = pid.split("-")
    return {"product_id": pid, "price": price, "base_increment": "0.00000001",
            "quote_increment": "0.01", "base_min_size": "0.00000001",
            "base_max_size": "3400", "quote_min_size": "1", "quote_max_size": "50000000",
            "status": "online", "post_only": False, "limit_only": False, "cancel_only": False,
            "trading_disabled": False, "is_disabled": False, "base_currency_id": base,
            "quote_currency_id": quote, "product_type": "SPOT", "view_only": False}


class FakeCoinbase(FakeServer):
    def __init__(self, public_key_pem: str | None = None, key_name: str = KEY_NAME) -> None:
        super().__init__()
        self.public_key_pem = public_key_pem
        self.key_name = key_name
        self.auth_claims: list[dict[str, Any]] = []
        self.products: dict[str, dict[str, Any]] = {
            "BTC-USD": default_product("BTC-USD", "50000.00"),
            "ETH-USD": default_product("ETH-USD", "3000.00"),
        }
        self.quotes: dict[str, tuple[str, str]] = {"BTC-USD": ("49990.00", "50010.00"),
                                                   "ETH-USD": ("2999.00", "3001.00")}
        self.balances: dict[str, dict[str, str]] = {
            "USD": {"available": "10000", "hold": "0"},
            "BTC": {"available": "0.5", "hold": "0"},
            "ETH": {"available": "2", "hold": "0"}}
        self.fee_tier: dict[str, str] = {"pricing_tier": "Advanced 1", "usd_from": "0",
                                         "usd_to": "10000", "taker_fee_rate": "0.012",
                                         "maker_fee_rate": "0.006", "aop_from": "",
                                         "aop_to": ""}
        self.total_volume = 1234.5
        self.total_fees = 9.87
        self.permissions: dict[str, Any] = {"can_view": True, "can_trade": True,
                                            "can_transfer": False,
                                            "portfolio_uuid": str(uuid.uuid4()),
                                            "portfolio_type": "DEFAULT"}
        self.orders: list[dict[str, Any]] = []      # oldest first
        self.fills: list[dict[str, Any]] = []       # oldest first
        self.create_counts: dict[str, int] = {}     # client_order_id -> create requests
        self.duplicate_answer = "existing"           # existing | failure | conflict
        self.unlisted: set[str] = set()              # order ids the listings leave out
        self.hide_new_orders = False
        self.list_on_repeat = False
        self.withheld_fills: set[str] = set()        # order ids whose fills are not listed yet
        self.candles: dict[str, dict[int, dict[str, str]]] = {}  # product -> start -> candle
        self.publish_delay_s: float | None = None
        self._seq = itertools.count(1)

    # ---- test helpers ------------------------------------------------------------------
    def order_count(self, client_order_id: str) -> int:
        with self.lock:
            return self.create_counts.get(client_order_id, 0)

    def held_count(self, client_order_id: str) -> int:
        """Orders the exchange holds with this client order id."""
        with self.lock:
            return sum(1 for o in self.orders if o["client_order_id"] == client_order_id)

    def order_by_client(self, client_order_id: str) -> dict[str, Any] | None:
        with self.lock:
            found = [o for o in self.orders if o["client_order_id"] == client_order_id]
            return found[-1] if found else None

    def fill(self, client_order_id: str, size: str | None = None, price: str | None = None,
             liquidity: str = "MAKER") -> dict[str, Any]:
        """Fill (part of) a resting order as if the market traded through it."""
        with self.lock:
            o = self.order_by_client(client_order_id)
            assert o is not None, f"no order {client_order_id}"
            cfg = next(iter(o["order_configuration"].values()))
            total = _d(cfg.get("base_size") or "0")
            qty = _d(size) if size else total - _d(o["filled_size"])
            px = _d(price or cfg.get("limit_price"))
            return self._apply_fill(o, qty, px, liquidity)

    def place_by_hand(self, product_id: str, side: str, size: str, price: str) -> str:
        """A resting limit order nobody's trader placed; returns its exchange order id."""
        with self.lock:
            status, out = self._create({
                "client_order_id": str(uuid.uuid4()), "product_id": product_id, "side": side,
                "order_configuration": {"limit_limit_gtc": {
                    "base_size": size, "limit_price": price, "post_only": True}}})
            assert status == 200 and out.get("success"), out
            return str(out["success_response"]["order_id"])

    def set_candles(self, product_id: str, rows: list[tuple[int, float, float, float, float,
                                                            float]]) -> None:
        """rows: (start, open, high, low, close, volume)."""
        with self.lock:
            self.candles[product_id] = {
                int(r[0]): {"start": str(int(r[0])), "open": str(r[1]), "high": str(r[2]),
                            "low": str(r[3]), "close": str(r[4]), "volume": str(r[5])}
                for r in rows}

    # ---- auth --------------------------------------------------------------------------
    def _authorized(self, req: Request) -> bool:
        if self.unauthorized:
            return False
        auth = req.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return False
        token = auth[len("Bearer "):]
        try:
            if self.public_key_pem:
                claims = jwt.decode(token, self.public_key_pem, algorithms=["ES256", "EdDSA"],
                                    leeway=5, options={"verify_aud": False})
                host = req.headers.get("host", "")
                if claims.get("uri") != f"{req.method} {host}{req.path}":
                    return False
            else:
                claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return False
        if claims.get("sub") != self.key_name or claims.get("iss") != "cdp":
            return False
        self.auth_claims.append(claims)
        return True

    def error_body(self, status: int) -> Any:
        return {"error": "INTERNAL" if status >= 500 else "RATE_LIMITED" if status == 429
                else "ERROR", "message": f"injected HTTP {status}", "error_details": ""}

    # ---- routing -----------------------------------------------------------------------
    def route(self, req: Request) -> tuple[int, Any]:
        p = req.path
        if not p.startswith(PREFIX):
            return 404, {"error": "NOT_FOUND", "message": "unknown path"}
        p = p[len(PREFIX):]
        if p == "/time" and req.method == "GET":
            t = self.now()
            return 200, {"iso": iso(t), "epochSeconds": str(int(t)),
                         "epochMillis": str(int(t * 1000))}
        if p.startswith("/market/products/"):
            return self._products(req, p[len("/market"):])
        if not self._authorized(req):
            return 401, b"Unauthorized\n"
        if p == "/key_permissions":
            return 200, dict(self.permissions)
        if p == "/accounts":
            return self._accounts(req)
        if p == "/transaction_summary":
            return 200, {"total_volume": self.total_volume, "total_fees": self.total_fees,
                         "fee_tier": dict(self.fee_tier), "margin_rate": None,
                         "goods_and_services_tax": None,
                         "advanced_trade_only_volume": self.total_volume,
                         "advanced_trade_only_fees": self.total_fees}
        if p == "/best_bid_ask":
            books = []
            for pid in req.args("product_ids") or list(self.quotes):
                if pid in self.quotes:
                    bid, ask = self.quotes[pid]
                    books.append({"product_id": pid, "bids": [{"price": bid, "size": "1"}],
                                  "asks": [{"price": ask, "size": "1"}], "time": iso(self.now())})
            return 200, {"pricebooks": books}
        if p.startswith("/products/"):
            return self._products(req, p)
        if p == "/orders" and req.method == "POST":
            return self._create(req.body or {})
        if p == "/orders/batch_cancel" and req.method == "POST":
            return self._cancel((req.body or {}).get("order_ids") or [])
        if p == "/orders/historical/batch":
            return self._list_orders(req)
        if p == "/orders/historical/fills":
            return self._list_fills(req)
        if p.startswith("/orders/historical/"):
            oid = p.rsplit("/", 1)[1]
            for o in self.orders:
                if o["order_id"] == oid:
                    return 200, {"order": dict(o)}
            return 404, {"error": "NOT_FOUND", "message": "order not found"}
        return 404, {"error": "NOT_FOUND", "message": f"unknown path {p}"}

    def _products(self, req: Request, p: str) -> tuple[int, Any]:
        rest = p[len("/products/"):]
        pid, _, tail = rest.partition("/")
        prod = self.products.get(pid)
        if prod is None:
            return 404, {"error": "NOT_FOUND", "message": "ProductID not found",
                         "error_details": "", "details": []}
        if tail == "":
            return 200, dict(prod)
        if tail == "candles":
            return self._candles(req, pid)
        return 404, {"error": "NOT_FOUND", "message": "unknown path"}

    def _candles(self, req: Request, pid: str) -> tuple[int, Any]:
        gran = GRANULARITY_S.get(req.arg("granularity") or "")
        if gran is None:
            return 400, {"error": "INVALID_ARGUMENT", "message": "bad granularity"}
        start, end = int(req.arg("start") or 0), int(req.arg("end") or 0)
        first = -(-start // gran) * gran
        starts = list(range(first, end + 1, gran))   # the exchange includes `end`
        if len(starts) > 350:
            return 400, {"error": "INVALID_ARGUMENT",
                         "message": "number of candles requested should be less than 350"}
        have = self.candles.get(pid)
        out = []
        for s in starts:
            if s > self.now():
                break  # the exchange shows at most the bar in progress
            if self.publish_delay_s is not None and s + gran + self.publish_delay_s > self.now():
                break  # not published yet
            if have is not None:
                if s in have:
                    out.append(have[s])
                continue
            px = 100.0 + (s // gran) % 50
            out.append({"start": str(s), "low": str(px - 1), "high": str(px + 1),
                        "open": str(px), "close": str(px + 0.5), "volume": "10"})
        return 200, {"candles": list(reversed(out))}

    def _accounts(self, req: Request) -> tuple[int, Any]:
        rows = []
        for cur, b in self.balances.items():
            rows.append({"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, cur)),
                         "name": f"{cur} Wallet", "currency": cur,
                         "available_balance": {"value": b["available"], "currency": cur},
                         "default": True, "active": True, "created_at": iso(0),
                         "updated_at": iso(0), "deleted_at": None,
                         "type": "ACCOUNT_TYPE_FIAT" if cur == "USD" else
                         "ACCOUNT_TYPE_CRYPTO", "ready": True,
                         "hold": {"value": b["hold"], "currency": cur},
                         "retail_portfolio_id": self.permissions["portfolio_uuid"]})
        limit = int(req.arg("limit") or 49)
        off = int(req.arg("cursor") or 0)
        page = rows[off:off + limit]
        more = off + limit < len(rows)
        return 200, {"accounts": page, "has_next": more,
                     "cursor": str(off + limit) if more else "", "size": len(page)}

    # ---- orders ------------------------------------------------------------------------
    @staticmethod
    def _fail(error: str, preview: str, message: str) -> tuple[int, Any]:
        return 200, {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON",
                     "order_id": "", "error_response": {
                         "error": error, "message": message, "error_details": message,
                         "preview_failure_reason": preview}}

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        cid = str(body.get("client_order_id") or "")
        pid = str(body.get("product_id") or "")
        side = str(body.get("side") or "")
        conf = body.get("order_configuration") or {}
        used = next((o for o in self.orders if cid and o["client_order_id"] == cid), None)
        if used is not None:
            self.create_counts[cid] = self.create_counts.get(cid, 0) + 1
            if self.list_on_repeat:
                self.unlisted.discard(used["order_id"])
            return self._duplicate(used)
        prod = self.products.get(pid)
        if prod is None:
            return self._fail("INVALID_PRODUCT_ID", "PREVIEW_INVALID_PRODUCT_ID",
                              "product not found")
        if prod["trading_disabled"] or prod["cancel_only"] or prod["status"] != "online":
            return self._fail("ORDER_ENTRY_DISABLED", "PREVIEW_ORDER_ENTRY_DISABLED",
                              "trading is disabled for this product")
        if side not in ("BUY", "SELL") or len(conf) != 1:
            return 400, {"error": "INVALID_ARGUMENT", "message": "bad order"}
        kind, cfg = next(iter(conf.items()))
        size = _d(cfg.get("base_size") or "0")
        if size < _d(prod["base_min_size"]) or size % _d(prod["base_increment"]) != 0:
            return self._fail("INVALID_SIZE_PRECISION", "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL",
                              "base size too small or not a multiple of the increment")
        bid, ask = (_d(x) for x in self.quotes.get(pid, ("0", "0")))
        limit = _d(cfg["limit_price"]) if "limit_price" in cfg else None
        crosses = limit is None or (limit >= ask if side == "BUY" else limit <= bid)
        if limit is not None and cfg.get("post_only") and crosses:
            return self._fail("INVALID_LIMIT_PRICE_POST_ONLY",
                              "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
                              "post-only limit price would cross the book")
        base, quote = pid.split("-")
        px = limit if limit is not None else (ask if side == "BUY" else bid)
        need_quote = size * px * (1 + _d(self.fee_tier["taker_fee_rate"]))
        if side == "BUY" and need_quote > self._avail(quote):
            return self._fail("INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND",
                              "insufficient balance in source account")
        if side == "SELL" and size > self._avail(base):
            return self._fail("INSUFFICIENT_FUND", "PREVIEW_INSUFFICIENT_FUND",
                              "insufficient balance in source account")
        oid = str(uuid.uuid4())
        order = {"order_id": oid, "product_id": pid, "user_id": "u1",
                 "order_configuration": {kind: dict(cfg)}, "side": side,
                 "client_order_id": cid, "status": "OPEN", "time_in_force":
                 "GOOD_UNTIL_CANCELLED" if limit is not None else "IMMEDIATE_OR_CANCEL",
                 "created_time": iso(self.now()), "completion_percentage": "0",
                 "filled_size": "0", "average_filled_price": "0", "number_of_fills": "0",
                 "filled_value": "0", "pending_cancel": False, "size_in_quote": False,
                 "total_fees": "0", "size_inclusive_of_fees": False,
                 "total_value_after_fees": "0", "trigger_status": "INVALID_ORDER_TYPE",
                 "order_type": "LIMIT" if limit is not None else "MARKET",
                 "reject_reason": "", "settled": False, "product_type": "SPOT",
                 "reject_message": "", "cancel_message": "", "outstanding_hold_amount": "0",
                 "last_fill_time": None}
        self.orders.append(order)
        if self.hide_new_orders:
            self.unlisted.add(oid)
        self.create_counts[cid] = self.create_counts.get(cid, 0) + 1
        if crosses:
            self._apply_fill(order, size, px, "TAKER")
        return 200, {"success": True, "success_response": {
            "order_id": oid, "product_id": pid, "side": side, "client_order_id": cid},
            "order_configuration": {kind: dict(cfg)}}

    def _duplicate(self, used: dict[str, Any]) -> tuple[int, Any]:
        """The answer to a reused client_order_id: no new order (see the module doc)."""
        if self.duplicate_answer == "failure":
            return self._fail("INVALID_CLIENT_ORDER_ID", "PREVIEW_INVALID_CLIENT_ORDER_ID",
                              "duplicate client_order_id")
        if self.duplicate_answer == "conflict":
            return 409, {"error": "ALREADY_EXISTS",
                         "message": "an order with this client_order_id already exists"}
        return 200, {"success": True, "success_response": {
            "order_id": used["order_id"], "product_id": used["product_id"],
            "side": used["side"], "client_order_id": used["client_order_id"]},
            "order_configuration": used["order_configuration"]}

    def _avail(self, cur: str) -> Decimal:
        b = self.balances.get(cur, {"available": "0"})
        held = Decimal(0)
        for o in self.orders:
            if o["status"] != "OPEN":
                continue
            cfg = next(iter(o["order_configuration"].values()))
            rest = _d(cfg.get("base_size") or "0") - _d(o["filled_size"])
            base, quote = o["product_id"].split("-")
            if o["side"] == "BUY" and cur == quote:
                held += rest * _d(cfg.get("limit_price") or "0")
            elif o["side"] == "SELL" and cur == base:
                held += rest
        return _d(b["available"]) - held

    def _apply_fill(self, o: dict[str, Any], qty: Decimal, px: Decimal,
                    liquidity: str) -> dict[str, Any]:
        rate = _d(self.fee_tier["maker_fee_rate" if liquidity == "MAKER" else "taker_fee_rate"])
        fee = (qty * px * rate).quantize(Decimal("0.00000001"))
        t = self.now()
        f = {"entry_id": str(uuid.uuid4()), "trade_id": str(next(self._seq)),
             "order_id": o["order_id"], "trade_time": iso(t), "trade_type": "FILL",
             "price": str(px), "size": str(qty), "commission": str(fee),
             "product_id": o["product_id"], "sequence_timestamp": iso(t),
             "liquidity_indicator": liquidity, "size_in_quote": False, "user_id": "u1",
             "side": o["side"]}
        self.fills.append(f)
        filled = _d(o["filled_size"]) + qty
        value = _d(o["filled_value"]) + qty * px
        cfg = next(iter(o["order_configuration"].values()))
        total = _d(cfg.get("base_size") or qty)
        o.update(filled_size=str(filled), filled_value=str(value),
                 average_filled_price=str(value / filled),
                 total_fees=str(_d(o["total_fees"]) + fee),
                 number_of_fills=str(int(o["number_of_fills"]) + 1), last_fill_time=iso(t),
                 completion_percentage=str(filled / total * 100))
        if filled >= total:
            o["status"] = "FILLED"
        base, quote = o["product_id"].split("-")
        sign = 1 if o["side"] == "BUY" else -1
        self._move(base, sign * qty)
        self._move(quote, -sign * qty * px - fee)
        return f

    def _move(self, cur: str, delta: Decimal) -> None:
        b = self.balances.setdefault(cur, {"available": "0", "hold": "0"})
        b["available"] = str(_d(b["available"]) + delta)

    def _cancel(self, order_ids: list[str]) -> tuple[int, Any]:
        results = []
        for oid in order_ids:
            o = next((x for x in self.orders if x["order_id"] == oid), None)
            if o is None:
                results.append({"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER",
                                "order_id": oid})
            elif o["status"] != "OPEN":
                results.append({"success": False, "failure_reason":
                                "INVALID_CANCEL_REQUEST", "order_id": oid})
            else:
                o["status"] = "CANCELLED"
                results.append({"success": True, "failure_reason":
                                "UNKNOWN_CANCEL_FAILURE_REASON", "order_id": oid})
        return 200, {"results": results}

    def _list_orders(self, req: Request) -> tuple[int, Any]:
        rows = [o for o in reversed(self.orders)  # newest first, like the exchange
                if o["order_id"] not in self.unlisted]
        if st := req.args("order_status"):
            rows = [o for o in rows if o["status"] in st]
        if pids := req.args("product_ids"):
            rows = [o for o in rows if o["product_id"] in pids]
        if oids := req.args("order_ids"):
            rows = [o for o in rows if o["order_id"] in oids]
        if start := req.arg("start_date"):
            rows = [o for o in rows if parse_iso(o["created_time"]) >= parse_iso(start)]
        page, cursor = _page(req, rows)
        return 200, {"orders": page, "sequence": "0", "has_next": bool(cursor),
                     "cursor": cursor}

    def _list_fills(self, req: Request) -> tuple[int, Any]:
        # A lagging fills feed: fills of orders in `withheld_fills` are not listed yet.
        rows = [f for f in reversed(self.fills) if f["order_id"] not in self.withheld_fills]
        if oids := req.args("order_ids"):
            rows = [f for f in rows if f["order_id"] in oids]
        if pids := req.args("product_ids"):
            rows = [f for f in rows if f["product_id"] in pids]
        if start := req.arg("start_sequence_timestamp"):
            rows = [f for f in rows if parse_iso(f["trade_time"]) >= parse_iso(start)]
        page, cursor = _page(req, rows)
        return 200, {"fills": page, "cursor": cursor}


def _page(req: Request, rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """One page of rows (copies) from the request's cursor and limit (default 100), and the
    next page's cursor ("" on the last page), as the exchange pages its lists."""
    limit = int(req.arg("limit") or 100)
    off = int(req.arg("cursor") or 0)
    more = off + limit < len(rows)
    return [dict(r) for r in rows[off:off + limit]], str(off + limit) if more else ""
