"""A fake Alpaca paper trading API (/v2/...) and crypto data API (/v1beta3/...) on 127.0.0.1.

Trading and data share one server (point both url_override and data_url_override at it).
Requests need the APCA-API-KEY-ID / APCA-API-SECRET-KEY headers matching `key_id` /
`secret` (data requests may omit them). Like Alpaca, a repeated client_order_id is refused
with 422; `post_count(cid)` counts every create attempt so tests can see duplicates.
A market order or crossing limit fills at once; a resting limit fills via `fill()`.
`publish_delay_s` withholds each bar until that long after it closed (None: the bar in
progress shows); `place_by_hand()` rests an order as the operator would.

Fees as Alpaca charges crypto: on what the account receives. A buy's fee is taken in the
coin (the position grows by the quantity less the fee), a sell's in USD (the proceeds less
the fee); maker (`maker_fee_rate`) for a resting order filled later, taker
(`taker_fee_rate`) for a market order or a limit that crosses when placed. Each fee is also
a CFEE activity (GET /v2/account/activities), as Alpaca reports them; the FILL activities
carry the gross quantity. Neither an order nor a FILL activity says maker or taker (as on
Alpaca). A crossing limit fills at the quote it met (a buy at the ask, which may be below its
limit), a resting one at its limit.

`arrival_cross` moves the market between a client's post-only check and its order's arrival:
each limit order that arrives takes the next mode from the front of the list ("better": the
far quote moves one cent through the limit, "at": onto it; None: no move), so the order
crosses and fills at once as a taker.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from tests.fakes.server import FakeServer, Request, iso, parse_iso
from tests.fakes.server import dec as _d

TIMEFRAME_S = {"1Min": 60, "5Min": 300, "15Min": 900, "30Min": 1800, "1Hour": 3600,
               "2Hour": 7200, "6Hour": 21600, "1Day": 86400}


def default_asset(symbol: str) -> dict[str, Any]:
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, symbol)), "class": "crypto",
            "exchange": "CRYPTO", "symbol": symbol, "name": symbol, "status": "active",
            "tradable": True, "marginable": False, "maintenance_margin_requirement": 100,
            "shortable": False, "easy_to_borrow": False, "fractionable": True,
            "attributes": [], "min_order_size": "0.0001", "min_trade_increment": "0.000000001",
            "price_increment": "0.01"}


class FakeAlpaca(FakeServer):
    def __init__(self, key_id: str = "PKTEST", secret: str = "s3cret") -> None:
        super().__init__()
        self.key_id, self.secret = key_id, secret
        self.assets: dict[str, dict[str, Any]] = {s: default_asset(s)
                                                  for s in ("BTC/USD", "ETH/USD")}
        self.quotes: dict[str, tuple[str, str]] = {"BTC/USD": ("49990", "50010"),
                                                   "ETH/USD": ("2999", "3001")}
        self.cash = Decimal("10000")
        self.positions: dict[str, Decimal] = {"BTC/USD": Decimal("0.5")}
        self.account_status = "ACTIVE"
        self.trading_blocked = False
        self.orders: list[dict[str, Any]] = []
        self.activities: list[dict[str, Any]] = []
        self.post_counts: dict[str, int] = {}
        self.bars: dict[str, dict[int, dict[str, Any]]] = {}
        self.publish_delay_s: float | None = None
        self.maker_fee_rate = Decimal("0.0015")   # Alpaca's crypto tier 1
        self.taker_fee_rate = Decimal("0.0025")
        self.fee_activities: list[dict[str, Any]] = []
        self.arrival_cross: list[str | None] = []
        self.taker_fills: set[str] = set()   # FILL activity ids charged the taker fee
        self.withheld_fills: set[str] = set()  # order ids whose fills are not listed yet

    # ---- test helpers ------------------------------------------------------------------
    def post_count(self, client_order_id: str) -> int:
        with self.lock:
            return self.post_counts.get(client_order_id, 0)

    def order_count(self, client_order_id: str) -> int:
        with self.lock:
            return sum(1 for o in self.orders if o["client_order_id"] == client_order_id)

    def order_by_client(self, client_order_id: str) -> dict[str, Any] | None:
        with self.lock:
            return next((o for o in self.orders if o["client_order_id"] == client_order_id),
                        None)

    def place_by_hand(self, symbol: str, side: str, qty: str, price: str) -> str:
        """A resting limit order nobody's trader placed; returns its order id."""
        with self.lock:
            status, out = self._create({"symbol": symbol, "side": side, "type": "limit",
                                        "qty": qty, "limit_price": price,
                                        "time_in_force": "gtc",
                                        "client_order_id": str(uuid.uuid4())})
            assert status == 200, out
            return str(out["id"])

    def fill(self, client_order_id: str, qty: str | None = None,
             price: str | None = None) -> dict[str, Any]:
        with self.lock:
            o = self.order_by_client(client_order_id)
            assert o is not None, f"no order {client_order_id}"
            q = _d(qty) if qty else _d(o["qty"]) - _d(o["filled_qty"])
            return self._apply_fill(o, q, _d(price or o["limit_price"]), maker=True)

    # ---- routing -----------------------------------------------------------------------
    def error_body(self, status: int) -> Any:
        return {"code": 50000000 + status, "message": f"injected HTTP {status}"}

    def _authorized(self, req: Request, optional: bool = False) -> bool:
        if self.unauthorized:
            return False
        kid, sec = req.headers.get("apca-api-key-id"), req.headers.get("apca-api-secret-key")
        if optional and not kid and not sec:
            return True
        return kid == self.key_id and sec == self.secret

    def route(self, req: Request) -> tuple[int, Any]:
        p, m = req.path, req.method
        if p.startswith("/v1beta3/crypto/us/"):
            if not self._authorized(req, optional=True):
                return 401, {"message": "unauthorized."}
            return self._data(req, p[len("/v1beta3/crypto/us/"):])
        if not self._authorized(req):
            return 401, {"code": 40110000, "message": "request is not authorized"}
        if p == "/v2/account":
            return 200, self._account()
        if p == "/v2/clock":
            t = self.now()
            return 200, {"timestamp": iso(t), "is_open": True, "next_open": iso(t + 86400),
                         "next_close": iso(t + 3600)}
        if p.startswith("/v2/assets/"):
            sym = p[len("/v2/assets/"):].replace("%2F", "/")
            if "/" not in sym:
                sym = next((s for s in self.assets if s.replace("/", "") == sym), sym)
            if sym not in self.assets:
                return 404, {"code": 40410000, "message": "asset not found"}
            return 200, dict(self.assets[sym])
        if p == "/v2/positions":
            return 200, [self._position(s, q) for s, q in self.positions.items() if q != 0]
        if p == "/v2/orders" and m == "POST":
            return self._create(req.body or {})
        if p == "/v2/orders" and m == "GET":
            return self._list(req)
        if p == "/v2/orders:by_client_order_id":
            o = self.order_by_client(req.arg("client_order_id") or "")
            return (200, dict(o)) if o else (404, {"code": 40410000,
                                                   "message": "order not found"})
        if p.startswith("/v2/orders/") and m == "GET":
            o = next((x for x in self.orders if x["id"] == p.rsplit("/", 1)[1]), None)
            return (200, dict(o)) if o else (404, {"code": 40410000,
                                                   "message": "order not found"})
        if p.startswith("/v2/orders/") and m == "DELETE":
            o = next((x for x in self.orders if x["id"] == p.rsplit("/", 1)[1]), None)
            if o is None:
                return 404, {"code": 40410000, "message": "order not found"}
            if o["status"] not in ("new", "partially_filled", "accepted"):
                return 422, {"code": 42210000, "message": "order is not cancelable"}
            o.update(status="canceled", canceled_at=iso(self.now()))
            return 204, b""
        if p == "/v2/account/activities/FILL" or p == "/v2/account/activities":
            # A lagging feed: fills of orders in `withheld_fills` are not listed yet.
            rows = [a for a in self.activities if a["order_id"] not in self.withheld_fills] + (
                list(self.fee_activities)
                                            if p == "/v2/account/activities" else [])
            if after := req.arg("after"):
                rows = [a for a in rows if parse_iso(a.get("transaction_time")
                                                     or a["date"] + "T00:00:00Z")
                        > parse_iso(after)]
            if req.arg("direction", "desc") == "desc":
                rows.reverse()
            return 200, rows
        return 404, {"code": 40400000, "message": f"unknown path {p}"}

    def _account(self) -> dict[str, Any]:
        equity = self.cash + sum((q * _d(self.quotes.get(s, ("0", "0"))[0])
                                  for s, q in self.positions.items()), Decimal(0))
        return {"id": "acct-1", "account_number": "PA0000001", "status": self.account_status,
                "crypto_status": self.account_status, "currency": "USD",
                "buying_power": str(self.cash), "regt_buying_power": str(self.cash),
                "daytrading_buying_power": "0", "non_marginable_buying_power": str(self.cash),
                "cash": str(self.cash), "accrued_fees": "0", "pending_transfer_in": "0",
                "portfolio_value": str(equity), "pattern_day_trader": False,
                "trading_blocked": self.trading_blocked, "transfers_blocked": False,
                "account_blocked": False, "created_at": iso(0),
                "trade_suspended_by_user": False, "multiplier": "1",
                "shorting_enabled": False, "equity": str(equity), "last_equity": str(equity),
                "long_market_value": str(equity - self.cash), "short_market_value": "0",
                "initial_margin": "0", "maintenance_margin": "0",
                "last_maintenance_margin": "0", "sma": "0", "daytrade_count": 0}

    def _position(self, sym: str, qty: Decimal) -> dict[str, Any]:
        held = sum((_d(o["qty"]) - _d(o["filled_qty"]) for o in self.orders
                    if o["symbol"] == sym and o["side"] == "sell"
                    and o["status"] in ("new", "partially_filled")), Decimal(0))
        px = _d(self.quotes.get(sym, ("0", "0"))[0])
        return {"asset_id": self.assets.get(sym, default_asset(sym))["id"],
                "symbol": sym.replace("/", ""), "exchange": "CRYPTO", "asset_class": "crypto",
                "avg_entry_price": str(px), "qty": str(qty), "qty_available": str(qty - held),
                "side": "long", "market_value": str(qty * px), "cost_basis": str(qty * px),
                "unrealized_pl": "0", "unrealized_plpc": "0", "unrealized_intraday_pl": "0",
                "unrealized_intraday_plpc": "0", "current_price": str(px),
                "lastday_price": str(px), "change_today": "0", "asset_marginable": False}

    def _create(self, body: dict[str, Any]) -> tuple[int, Any]:
        cid = str(body.get("client_order_id") or uuid.uuid4())
        self.post_counts[cid] = self.post_counts.get(cid, 0) + 1
        if any(o["client_order_id"] == cid for o in self.orders):
            return 422, {"code": 40010001, "message": "client_order_id must be unique"}
        sym = str(body.get("symbol") or "")
        asset = self.assets.get(sym)
        if asset is None:
            return 422, {"code": 40010001, "message": f"asset {sym} not found"}
        if not asset["tradable"] or asset["status"] != "active":
            return 422, {"code": 40010001, "message": f"asset {sym} is not tradable"}
        if body.get("time_in_force") not in ("gtc", "ioc"):
            return 422, {"code": 40010001, "message": "invalid crypto time_in_force"}
        qty = _d(body.get("qty") or "0")
        if qty < _d(asset["min_order_size"]):
            return 422, {"code": 40010001, "message":
                         f"qty must be >= {asset['min_order_size']}"}
        side, otype = body.get("side"), body.get("type")
        limit = _d(body["limit_price"]) if body.get("limit_price") else None
        if limit is not None and self.arrival_cross:
            self._move_through(sym, str(side), limit, self.arrival_cross.pop(0))
        bid, ask = (_d(x) for x in self.quotes.get(sym, ("0", "0")))
        px = limit if limit is not None else (ask if side == "buy" else bid)
        if side == "buy" and qty * px > self.cash:
            return 403, {"code": 40310000, "message":
                         f"insufficient balance for USD (requested: {qty * px}, "
                         f"available: {self.cash})"}
        if side == "sell" and qty > self.positions.get(sym, Decimal(0)):
            return 403, {"code": 40310000, "message": "insufficient balance for "
                         f"{sym.split('/')[0]}"}
        t = self.now()
        o = {"id": str(uuid.uuid4()), "client_order_id": cid, "created_at": iso(t),
             "updated_at": iso(t), "submitted_at": iso(t), "filled_at": None,
             "expired_at": None, "canceled_at": None, "failed_at": None, "replaced_at": None,
             "replaced_by": None, "replaces": None, "asset_id": asset["id"], "symbol": sym,
             "asset_class": "crypto", "notional": None, "qty": str(qty), "filled_qty": "0",
             "filled_avg_price": None, "order_class": "", "order_type": otype, "type": otype,
             "side": side, "time_in_force": body.get("time_in_force"),
             "limit_price": str(limit) if limit is not None else None, "stop_price": None,
             "status": "new", "extended_hours": False, "legs": None, "trail_percent": None,
             "trail_price": None, "hwm": None, "position_intent": None}
        self.orders.append(o)
        crosses = limit is None or (limit >= ask if side == "buy" else limit <= bid)
        if crosses:
            self._apply_fill(o, qty, ask if side == "buy" else bid, maker=False)
        return 200, dict(o)

    def _move_through(self, sym: str, side: str, limit: Decimal, mode: str | None) -> None:
        """The far quote moves onto ("at") or a cent through ("better") an arriving limit."""
        if mode is None:
            return
        cent = Decimal("0.01") if mode == "better" else Decimal(0)
        if side == "buy":
            ask = limit - cent
            self.quotes[sym] = (str(ask - Decimal("0.02")), str(ask))
        else:
            bid = limit + cent
            self.quotes[sym] = (str(bid), str(bid + Decimal("0.02")))

    def _apply_fill(self, o: dict[str, Any], qty: Decimal, px: Decimal,
                    maker: bool) -> dict[str, Any]:
        filled = _d(o["filled_qty"]) + qty
        prev = _d(o["filled_avg_price"] or "0") * _d(o["filled_qty"])
        t = self.now()
        o.update(filled_qty=str(filled), filled_avg_price=str((prev + qty * px) / filled),
                 status="filled" if filled >= _d(o["qty"]) else "partially_filled",
                 filled_at=iso(t), updated_at=iso(t))
        rate = self.maker_fee_rate if maker else self.taker_fee_rate
        sym = o["symbol"]
        if o["side"] == "buy":   # the fee is taken from the coin received
            fee_qty = qty * rate
            self.cash -= qty * px
            self.positions[sym] = self.positions.get(sym, Decimal(0)) + qty - fee_qty
            fee_row = {"qty": str(-fee_qty), "net_amount": "0",
                       "description": "Coin Pair Transaction Fee (Non USD)"}
        else:                    # the fee is taken from the USD received
            fee_usd = qty * px * rate
            self.cash += qty * px - fee_usd
            self.positions[sym] = self.positions.get(sym, Decimal(0)) - qty
            fee_row = {"qty": "0", "net_amount": str(-fee_usd),
                       "description": "Coin Pair Transaction Fee (USD)"}
        self.fee_activities.append({"id": f"{int(t * 1000)}::{uuid.uuid4()}",
                                    "activity_type": "CFEE", "date": iso(t)[:10],
                                    "symbol": sym.replace("/", ""), "price": str(px),
                                    "status": "executed", **fee_row})
        a = {"id": f"{int(t * 1000)}::{uuid.uuid4()}", "activity_type": "FILL",
             "transaction_time": iso(t), "type": "fill" if o["status"] == "filled"
             else "partial_fill", "price": str(px), "qty": str(qty), "side": o["side"],
             "symbol": o["symbol"], "leaves_qty": str(_d(o["qty"]) - filled),
             "order_id": o["id"], "cum_qty": str(filled), "order_status": o["status"]}
        self.activities.append(a)
        if not maker:
            self.taker_fills.add(a["id"])
        return a

    def _list(self, req: Request) -> tuple[int, Any]:
        status = req.arg("status", "open")
        rows = list(reversed(self.orders))
        if status == "open":
            rows = [o for o in rows if o["status"] in ("new", "partially_filled", "accepted")]
        elif status == "closed":
            rows = [o for o in rows if o["status"] not in ("new", "partially_filled",
                                                           "accepted")]
        if after := req.arg("after"):
            rows = [o for o in rows if parse_iso(o["submitted_at"]) > parse_iso(after)]
        if syms := req.args("symbols"):
            rows = [o for o in rows if o["symbol"] in syms]
        rows = rows[: int(req.arg("limit") or 50)]
        return 200, [dict(o) for o in rows]

    def _data(self, req: Request, p: str) -> tuple[int, Any]:
        syms = req.args("symbols")
        if p == "latest/quotes":
            return 200, {"quotes": {s: {"t": iso(self.now()), "bp": float(self.quotes[s][0]),
                                        "bs": 1.0, "ap": float(self.quotes[s][1]), "as": 1.0}
                                    for s in syms if s in self.quotes}}
        if p == "bars":
            step = TIMEFRAME_S.get(req.arg("timeframe") or "")
            if step is None:
                return 400, {"code": 40010001, "message": "invalid timeframe"}
            start = parse_iso(req.arg("start") or iso(self.now() - 86400))
            end = parse_iso(req.arg("end")) if req.arg("end") else self.now()
            out: dict[str, list[dict[str, Any]]] = {}
            first = int(-(-start // step) * step)
            for s in syms:
                if s not in self.assets:
                    continue
                have = self.bars.get(s)
                rows = []
                for t in range(first, int(end) + 1, step):
                    if t > self.now():
                        break
                    if (self.publish_delay_s is not None
                            and t + step + self.publish_delay_s > self.now()):
                        break
                    if have is not None:
                        if t in have:
                            rows.append(have[t])
                        continue
                    px = 100.0 + (t // step) % 50
                    rows.append({"t": iso(t).replace(".000000", ""), "o": px, "h": px + 1,
                                 "l": px - 1, "c": px + 0.5, "v": 10.0, "n": 3, "vw": px})
                out[s] = rows
            return 200, {"bars": out, "next_page_token": None}
        return 404, {"message": "not found"}
