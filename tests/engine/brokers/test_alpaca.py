"""AlpacaPaperBroker with the real alpaca-py clients against a local fake Alpaca."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from engine.brokers.alpaca import AlpacaPaperBroker
from engine.brokers.base import Broker, BrokerError, OrderRejected, OrderRequest
from engine.brokers.retry import BrokerCallError
from engine.config import Config
from engine.config.secrets import Secrets
from tests.engine.brokers.orders import limit_buy
from tests.fakes import FakeAlpaca

ORDERS = "/v2/orders"
KEYS = Secrets(alpaca_api_key="PKTEST", alpaca_secret_key="s3cret")


def build(make_config: Callable[..., Config], al: FakeAlpaca, timeout_s: float = 2.0,
          secrets: Secrets = KEYS) -> AlpacaPaperBroker:
    cfg = make_config(f'[alpaca]\nurl_override = "{al.base_url}"\n'
                      f'data_url_override = "{al.base_url}"\ntimeout_s = {timeout_s}\n'
                      f"retry_attempts = 4\nretry_initial_s = 0.01\nretry_max_s = 0.02\n")
    return AlpacaPaperBroker(cfg, secrets)


@pytest.fixture
def broker(make_config: Callable[..., Config], fake_alpaca: FakeAlpaca) -> AlpacaPaperBroker:
    return build(make_config, fake_alpaca)


def test_implements_the_broker_protocol(broker: AlpacaPaperBroker) -> None:
    assert isinstance(broker, Broker)


def test_reads_account_positions_asset_quotes_and_clock(broker: AlpacaPaperBroker,
                                                        fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.cash = Decimal("2500.5")
    fake_alpaca.positions["ETH/USD"] = Decimal("1.25")
    bals = broker.balances()
    assert bals["USD"].available == Decimal("2500.5")
    assert bals["ETH"].total == Decimal("1.25") and bals["BTC"].total == Decimal("0.5")
    fake_alpaca.assets["ETH/USD"]["min_order_size"] = "0.002"
    p = broker.product("ETH-USD")
    assert p.base_min_size == Decimal("0.002") and not p.trading_disabled
    q = broker.quotes(["BTC-USD"])
    assert q["BTC-USD"].bid == Decimal("49990") and q["BTC-USD"].ask == Decimal("50010")
    fake_alpaca.clock_skew_s = -40.0
    assert broker.now() - time.time() == pytest.approx(-40.0, abs=2.0)
    # Requests carry the paper keys in Alpaca's headers.
    acct = [r for r in fake_alpaca.requests if r.path == "/v2/account"][0]
    assert acct.headers["apca-api-key-id"] == "PKTEST"


def test_fee_tier_is_the_configured_schedule(make_config: Callable[..., Config],
                                             fake_alpaca: FakeAlpaca) -> None:
    cfg = make_config(f'[alpaca]\nurl_override = "{fake_alpaca.base_url}"\n'
                      "maker_fee_rate = 0.001\ntaker_fee_rate = 0.002\n")
    tier = AlpacaPaperBroker(cfg, KEYS).fee_tier()
    assert (tier.maker_rate, tier.taker_rate) == (Decimal("0.001"), Decimal("0.002"))


def test_limit_order_shape_and_cancel(broker: AlpacaPaperBroker, fake_alpaca: FakeAlpaca) -> None:
    st = broker.submit(limit_buy("a-1"))
    body = [r.body for r in fake_alpaca.requests if r.method == "POST"][0]
    assert body["symbol"] == "BTC/USD" and body["side"] == "buy" and body["type"] == "limit"
    assert body["time_in_force"] == "gtc" and body["client_order_id"] == "a-1"
    assert Decimal(str(body["limit_price"])) == Decimal("49000")
    assert st.status == "NEW" and st.is_open
    broker.submit(limit_buy("a-2"))
    assert {o.client_order_id for o in broker.open_orders()} == {"a-1", "a-2"}
    broker.cancel(["a-1", "unknown"])
    assert [o.client_order_id for o in broker.open_orders()] == ["a-2"]
    assert broker.get_order("a-1").status == "CANCELLED"   # type: ignore[union-attr]


def test_crossing_post_only_is_refused_without_posting(broker: AlpacaPaperBroker,
                                                       fake_alpaca: FakeAlpaca) -> None:
    with pytest.raises(OrderRejected) as e:
        broker.submit(limit_buy("x-1", price="50010"))
    assert e.value.reason == "post_only"
    assert fake_alpaca.count("POST", ORDERS) == 0


def test_fills_maker_and_taker(broker: AlpacaPaperBroker, fake_alpaca: FakeAlpaca) -> None:
    since = time.time() - 1
    broker.submit(limit_buy("mk"))
    broker.submit(OrderRequest("tk", "BTC-USD", "SELL", Decimal("0.1"), None))
    fake_alpaca.fill("mk")
    fills = {f.client_order_id: f for f in broker.fills(since)}
    assert fills["mk"].liquidity == "MAKER"
    assert fills["mk"].fee == Decimal("0.01") * Decimal("49000") * Decimal("0.0015")
    assert fills["tk"].liquidity == "TAKER" and fills["tk"].side == "SELL"
    assert fills["tk"].fee == Decimal("0.1") * Decimal("49990") * Decimal("0.0025")
    assert broker.get_order("tk").status == "FILLED"   # type: ignore[union-attr]


def test_a_buy_fill_is_what_the_position_gained(broker: AlpacaPaperBroker,
                                                fake_alpaca: FakeAlpaca) -> None:
    """Alpaca takes a buy's fee in the coin: the fill's quantity is the position's gain (the
    gross less the fee), its fee the USD value of that coin, and cash moves by qty x price."""
    since = time.time() - 1
    before_qty, before_cash = fake_alpaca.positions["BTC/USD"], fake_alpaca.cash
    broker.submit(OrderRequest("mb", "BTC-USD", "BUY", Decimal("0.02"), None))
    broker.submit(limit_buy("lb"))
    fake_alpaca.fill("lb")
    fills = broker.fills(since)
    gained = fake_alpaca.positions["BTC/USD"] - before_qty
    assert sum((f.qty for f in fills), Decimal(0)) == gained < Decimal("0.03")
    assert sum((f.qty * f.price + f.fee for f in fills), Decimal(0)) == before_cash - \
        fake_alpaca.cash
    (mb,) = [f for f in fills if f.client_order_id == "mb"]
    assert mb.qty == Decimal("0.02") * (1 - Decimal("0.0025"))
    assert mb.fee == Decimal("0.02") * Decimal("0.0025") * Decimal("50010")


def test_repeat_submit_returns_existing(broker: AlpacaPaperBroker,
                                        fake_alpaca: FakeAlpaca) -> None:
    a = broker.submit(limit_buy("dup"))
    b = broker.submit(limit_buy("dup"))
    assert a.broker_order_id == b.broker_order_id and fake_alpaca.post_count("dup") == 1


@pytest.mark.parametrize("fault", ["reset", "malformed", "timeout"])
def test_ambiguous_post_failure_never_duplicates(make_config: Callable[..., Config],
                                                 fake_alpaca: FakeAlpaca, fault: str) -> None:
    b = build(make_config, fake_alpaca, timeout_s=0.3)
    if fault == "reset":
        fake_alpaca.reset_next(path=ORDERS, method="POST")
    elif fault == "malformed":
        fake_alpaca.malformed_next(path=ORDERS, method="POST")
    else:
        fake_alpaca.delay_next(1.0, path=ORDERS, method="POST")
    st = b.submit(limit_buy("amb"))
    assert fake_alpaca.order_count("amb") == 1 and fake_alpaca.post_count("amb") == 1
    assert st.broker_order_id == fake_alpaca.order_by_client("amb")["id"]


def test_rate_limit_then_success(broker: AlpacaPaperBroker, fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.fail_next(status=429, times=2, path="/v2/positions")
    broker.balances()
    assert fake_alpaca.count("GET", "/v2/positions") == 3


def test_server_errors_exhaust_bounded_retries(broker: AlpacaPaperBroker,
                                               fake_alpaca: FakeAlpaca) -> None:
    fake_alpaca.fail_next(status=500, times=100, path="/v2/clock")
    with pytest.raises(BrokerError) as e:
        broker.now()
    assert e.value.retryable and fake_alpaca.count("GET", "/v2/clock") == broker.retry.attempts


def test_bars_from_crypto_data_api(broker: AlpacaPaperBroker, fake_alpaca: FakeAlpaca) -> None:
    now = int(time.time()) // 300 * 300
    bars = broker.bars("BTC-USD", now - 3600, now + 300, "5m")
    starts = [b.start for b in bars]
    assert starts == sorted(starts) and starts[0] == now - 3600 and now not in starts
    req = [r for r in fake_alpaca.requests if r.path == "/v1beta3/crypto/us/bars"][0]
    assert req.arg("symbols") == "BTC/USD" and req.arg("timeframe") == "5Min"


@pytest.mark.parametrize("setup, req, reason", [
    ("untradable", limit_buy("r1"), "disabled"),
    ("none", limit_buy("r2", qty="0.00001"), "size"),
    ("none", limit_buy("r3", qty="1", post_only=False, price="40000"), "funds"),
])
def test_rejections_map_to_reasons(broker: AlpacaPaperBroker, fake_alpaca: FakeAlpaca,
                                   setup: str, req: OrderRequest, reason: str) -> None:
    if setup == "untradable":
        fake_alpaca.assets["BTC/USD"]["tradable"] = False
        assert broker.product("BTC-USD").trading_disabled
    with pytest.raises(OrderRejected) as e:
        broker.submit(req)
    assert e.value.reason == reason
    assert fake_alpaca.post_count(req.client_order_id) == 1


def test_unauthorised(make_config: Callable[..., Config], fake_alpaca: FakeAlpaca) -> None:
    b = build(make_config, fake_alpaca, secrets=Secrets(alpaca_api_key="PKTEST",
                                                        alpaca_secret_key="wrong"))
    with pytest.raises(BrokerCallError) as e:
        b.account()
    assert e.value.kind == "unauthorised" and fake_alpaca.count("GET", "/v2/account") == 1


def test_http_only_for_loopback(make_config: Callable[..., Config]) -> None:
    cfg = make_config('[alpaca]\nurl_override = "http://paper.example.com"\n')
    with pytest.raises(BrokerCallError, match="loopback"):
        AlpacaPaperBroker(cfg, KEYS)
    with pytest.raises(BrokerCallError, match="credentials"):
        AlpacaPaperBroker(make_config(""), Secrets())


@pytest.mark.parametrize("side, price, mode", [("BUY", "49980", "better"),
                                                ("BUY", "49980", "at"),
                                                ("SELL", "50020", "better"),
                                                ("SELL", "50020", "at")])
def test_a_limit_crossing_on_arrival_is_booked_taker(broker: AlpacaPaperBroker,
                                                     fake_alpaca: FakeAlpaca, side: str,
                                                     price: str, mode: str) -> None:
    """The quote moved between the post-only check and the order's arrival: Alpaca (no
    post-only flag) fills it at once as a taker and takes the taker fee (a buy's in the coin).
    The fill is booked taker, so the book's coins and cash move exactly as the account's."""
    since = time.time() - 1
    qty0, cash0 = fake_alpaca.positions["BTC/USD"], fake_alpaca.cash
    fake_alpaca.arrival_cross = [mode]
    req = OrderRequest("x", "BTC-USD", "BUY" if side == "BUY" else "SELL", Decimal("0.01"),
                       Decimal(price), post_only=True)
    assert broker.submit(req).status == "FILLED"
    (f,) = broker.fills(since)
    assert f.liquidity == "TAKER"
    assert f.fee == Decimal("0.01") * f.price * Decimal("0.0025")
    signed = f.qty if side == "BUY" else -f.qty
    assert signed == fake_alpaca.positions["BTC/USD"] - qty0
    cash_moved = -(f.qty * f.price + f.fee) if side == "BUY" else f.qty * f.price - f.fee
    assert cash_moved == fake_alpaca.cash - cash0


def test_a_restarted_broker_still_books_a_price_improved_cross_taker(
        make_config: Callable[..., Config], fake_alpaca: FakeAlpaca) -> None:
    """Which fills met the book on arrival is read from Alpaca's own records (a fill better
    than its limit never rested), so a trader killed between the post and the answer books
    the same after its restart; a resting order's fill at its limit stays maker."""
    since = time.time() - 1
    fake_alpaca.arrival_cross = ["better"]
    build(make_config, fake_alpaca).submit(limit_buy("cross", price="49980"))
    fake_alpaca.quotes["BTC/USD"] = ("49990", "50010")   # the market moves back
    build(make_config, fake_alpaca).submit(limit_buy("rest", price="49980"))
    fake_alpaca.fill("rest")
    fills = {f.client_order_id: f for f in build(make_config, fake_alpaca).fills(since)}
    assert (fills["cross"].liquidity, fills["rest"].liquidity) == ("TAKER", "MAKER")
    assert fills["cross"].price < Decimal("49980") == fills["rest"].price
