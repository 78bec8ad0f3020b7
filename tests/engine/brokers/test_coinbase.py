"""CoinbaseBroker with the real coinbase-advanced-py client against a local fake exchange."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

import pytest

from engine.brokers.base import Broker, BrokerError, OrderRejected, OrderRequest
from engine.brokers.coinbase import CoinbaseBroker
from engine.brokers.coinbase_client import key_problem, make_rest_client
from engine.brokers.retry import BrokerCallError
from engine.config import Config
from engine.config.secrets import Secrets
from tests.engine.brokers.orders import limit_buy
from tests.fakes import FakeCoinbase

ORDERS = "/api/v3/brokerage/orders"
Key = tuple[str, str, str]


@pytest.fixture
def broker(make_config: Callable[..., Config], fake_coinbase: FakeCoinbase,
           coinbase_key: Key) -> CoinbaseBroker:
    return build(make_config, fake_coinbase, coinbase_key)


def build(make_config: Callable[..., Config], cb: FakeCoinbase, key: Key,
          timeout_s: float = 2.0, attempts: int = 4) -> CoinbaseBroker:
    cfg = make_config(f'[coinbase]\nbase_url = "{cb.host_port}"\ntimeout_s = {timeout_s}\n'
                      f"retry_attempts = {attempts}\nretry_initial_s = 0.01\n"
                      f"retry_max_s = 0.02\n")
    return CoinbaseBroker(cfg, Secrets(coinbase_api_key=key[0], coinbase_api_secret=key[1]))


def test_implements_the_broker_protocol(broker: CoinbaseBroker) -> None:
    assert isinstance(broker, Broker)


def test_private_calls_carry_a_verified_jwt(broker: CoinbaseBroker,
                                            fake_coinbase: FakeCoinbase,
                                            coinbase_key: Key) -> None:
    broker.balances()
    broker.fee_tier()
    req = [r for r in fake_coinbase.requests if r.path.endswith("/accounts")][0]
    assert req.headers["authorization"].startswith("Bearer ")
    # The fake verified each signature with the public key and the per-request uri claim.
    claims = fake_coinbase.auth_claims
    assert {c["sub"] for c in claims} == {coinbase_key[0]}
    assert any(c["uri"].endswith("/api/v3/brokerage/transaction_summary") for c in claims)


def test_wrong_key_is_unauthorised_and_not_retried(make_config: Callable[..., Config],
                                                   fake_coinbase: FakeCoinbase) -> None:
    from tests.fakes import make_ec_key

    other_priv, _ = make_ec_key()
    b = build(make_config, fake_coinbase, ("organizations/x/apiKeys/y", other_priv, ""))
    with pytest.raises(BrokerCallError) as e:
        b.balances()
    assert e.value.kind == "unauthorised" and not e.value.retryable
    assert fake_coinbase.count("GET", "/accounts") == 1


def test_reads_account_product_fees_quotes_and_time(broker: CoinbaseBroker,
                                                    fake_coinbase: FakeCoinbase) -> None:
    fake_coinbase.fee_tier.update(pricing_tier="Advanced 3", maker_fee_rate="0.0025",
                                  taker_fee_rate="0.004")
    fake_coinbase.total_volume = 75000.25
    fake_coinbase.balances["USD"] = {"available": "123.45", "hold": "10"}
    tier = broker.fee_tier()
    assert (tier.name, tier.maker_rate, tier.taker_rate, tier.volume_30d) == (
        "Advanced 3", Decimal("0.0025"), Decimal("0.004"), Decimal("75000.25"))
    bals = broker.balances()
    assert bals["USD"].available == Decimal("123.45") and bals["USD"].hold == Decimal("10")
    assert bals["BTC"].available == Decimal("0.5")
    p = broker.product("ETH-USD")
    assert p.base_increment == Decimal("0.00000001") and p.quote_min_size == Decimal("1")
    assert not p.trading_disabled
    q = broker.quotes(["BTC-USD", "ETH-USD"])
    assert q["ETH-USD"].bid == Decimal("2999.00") and q["BTC-USD"].ask == Decimal("50010.00")
    fake_coinbase.clock_skew_s = 30.0
    assert broker.now() - time.time() == pytest.approx(30.0, abs=2.0)


def test_post_only_limit_order_shape(broker: CoinbaseBroker, fake_coinbase: FakeCoinbase) -> None:
    st = broker.submit(limit_buy("t1-1700000000-BTC-USD-0", qty="0.0123"))
    body = [r.body for r in fake_coinbase.requests if r.method == "POST"
            and r.path == ORDERS][0]
    assert body["client_order_id"] == "t1-1700000000-BTC-USD-0"
    assert body["product_id"] == "BTC-USD" and body["side"] == "BUY"
    assert body["order_configuration"] == {"limit_limit_gtc": {
        "base_size": "0.0123", "limit_price": "49000", "post_only": True}}
    assert st.status == "OPEN" and st.qty == Decimal("0.0123")
    assert st.limit_price == Decimal("49000") and st.broker_order_id


def test_tiny_quantities_are_sent_without_exponents(broker: CoinbaseBroker,
                                                    fake_coinbase: FakeCoinbase) -> None:
    broker.submit(limit_buy("tiny", qty="0.00000010"))
    body = [r.body for r in fake_coinbase.requests if r.method == "POST"][0]
    assert body["order_configuration"]["limit_limit_gtc"]["base_size"] == "0.00000010"


def test_fills_report_maker_and_taker_with_fees(broker: CoinbaseBroker,
                                                fake_coinbase: FakeCoinbase) -> None:
    since = time.time() - 1
    broker.submit(limit_buy("maker-1"))
    broker.submit(OrderRequest("taker-1", "BTC-USD", "SELL", Decimal("0.02"), None))
    fake_coinbase.fill("maker-1")
    fills = broker.fills(since)
    by_cid = {f.client_order_id: f for f in fills}
    assert by_cid["maker-1"].liquidity == "MAKER"
    assert by_cid["maker-1"].fee == Decimal("0.01") * Decimal("49000") * Decimal("0.006")
    assert by_cid["taker-1"].liquidity == "TAKER"
    assert by_cid["taker-1"].price == Decimal("49990.00")
    assert by_cid["taker-1"].fee == Decimal("0.02") * Decimal("49990") * Decimal("0.012")
    assert [f.at for f in fills] == sorted(f.at for f in fills)
    assert broker.get_order("maker-1").status == "FILLED"   # type: ignore[union-attr]
    assert broker.fills(time.time() + 5) == []


def test_a_fill_sized_in_quote_is_read_in_the_coin(broker: CoinbaseBroker,
                                                   fake_coinbase: FakeCoinbase) -> None:
    """Coinbase reports `size` in USD when `size_in_quote` (an order placed by value, e.g.
    by hand): the fill's quantity is that value over the price, never USD read as coins."""
    since = time.time() - 1
    broker.submit(OrderRequest("q-1", "BTC-USD", "BUY", Decimal("0.02"), None))
    with fake_coinbase.lock:
        (f,) = fake_coinbase.fills
        f.update(size=str(Decimal(f["size"]) * Decimal(f["price"])), size_in_quote=True)
    (fill,) = broker.fills(since)
    assert fill.qty == Decimal("0.02") and fill.price == Decimal("50010.00")


def test_cancel_and_list_open_orders(broker: CoinbaseBroker, fake_coinbase: FakeCoinbase) -> None:
    for cid in ("o1", "o2", "o3"):
        broker.submit(limit_buy(cid))
    assert {o.client_order_id for o in broker.open_orders()} == {"o1", "o2", "o3"}
    broker.cancel(["o1", "o3", "never-placed"])
    assert [o.client_order_id for o in broker.open_orders()] == ["o2"]
    assert broker.get_order("o1").status == "CANCELLED"   # type: ignore[union-attr]
    assert broker.get_order("never-placed") is None


def test_repeat_submit_returns_the_existing_order(broker: CoinbaseBroker,
                                                  fake_coinbase: FakeCoinbase) -> None:
    a = broker.submit(limit_buy("same"))
    b = broker.submit(limit_buy("same"))
    assert a.broker_order_id == b.broker_order_id
    assert fake_coinbase.order_count("same") == 1


def test_repeat_submit_after_restart_finds_order_on_exchange(
        make_config: Callable[..., Config], fake_coinbase: FakeCoinbase,
        coinbase_key: Key) -> None:
    # A fresh broker (a restarted trader) finds it through the exchange, not a cache.
    first = build(make_config, fake_coinbase, coinbase_key).submit(limit_buy("restart"))
    again = build(make_config, fake_coinbase, coinbase_key).submit(limit_buy("restart"))
    assert again.broker_order_id == first.broker_order_id
    assert fake_coinbase.order_count("restart") == 1


@pytest.mark.parametrize("fault", ["reset", "malformed", "timeout"])
def test_ambiguous_post_failure_never_duplicates(make_config: Callable[..., Config],
                                                 fake_coinbase: FakeCoinbase,
                                                 coinbase_key: Key, fault: str) -> None:
    b = build(make_config, fake_coinbase, coinbase_key, timeout_s=0.3)
    if fault == "reset":
        fake_coinbase.reset_next(path=ORDERS, method="POST")
    elif fault == "malformed":
        fake_coinbase.malformed_next(path=ORDERS, method="POST")
    else:
        fake_coinbase.delay_next(1.0, path=ORDERS, method="POST")
    st = b.submit(limit_buy("amb-1"))
    assert fake_coinbase.order_count("amb-1") == 1
    assert fake_coinbase.count("POST", ORDERS) == 1   # found by lookup, not re-posted
    assert st.broker_order_id == fake_coinbase.order_by_client("amb-1")["order_id"]


def test_rate_limit_then_success_is_retried(broker: CoinbaseBroker,
                                            fake_coinbase: FakeCoinbase) -> None:
    fake_coinbase.fail_next(status=429, times=2, path="/products/BTC-USD")
    assert broker.product("BTC-USD").ticker == "BTC-USD"
    assert fake_coinbase.count("GET", "/products/BTC-USD") == 3


def test_rate_limited_post_is_retried_once_placed(broker: CoinbaseBroker,
                                                  fake_coinbase: FakeCoinbase) -> None:
    fake_coinbase.fail_next(status=429, path=ORDERS, method="POST")
    broker.submit(limit_buy("rl-1"))
    assert fake_coinbase.order_count("rl-1") == 1
    assert fake_coinbase.count("POST", ORDERS) == 2


def test_server_errors_exhaust_bounded_retries(broker: CoinbaseBroker,
                                               fake_coinbase: FakeCoinbase) -> None:
    fake_coinbase.fail_next(status=503, times=100, path="/accounts")
    with pytest.raises(BrokerError) as e:
        broker.balances()
    assert e.value.retryable
    assert fake_coinbase.count("GET", "/accounts") == broker.retry.attempts


@pytest.mark.parametrize("fault", ["malformed", "reset", "timeout"])
def test_faults_on_a_read_are_retried(make_config: Callable[..., Config],
                                      fake_coinbase: FakeCoinbase, coinbase_key: Key,
                                      fault: str) -> None:
    b = build(make_config, fake_coinbase, coinbase_key, timeout_s=0.3)
    path = "/transaction_summary"
    if fault == "malformed":
        fake_coinbase.malformed_next(path=path)
    elif fault == "reset":
        fake_coinbase.reset_next(path=path)
    else:
        fake_coinbase.delay_next(1.0, path=path)
    assert b.fee_tier().maker_rate == Decimal("0.006")
    assert fake_coinbase.count("GET", path) == 2


@pytest.mark.parametrize("setup, req, reason", [
    ("disabled", limit_buy("r1"), "disabled"),
    ("none", limit_buy("r2", price="50010"), "post_only"),
    ("none", limit_buy("r3", qty="0.000000001"), "size"),
    ("none", limit_buy("r4", qty="10", post_only=False, price="40000"), "funds"),
])
def test_rejections_map_to_reasons(broker: CoinbaseBroker, fake_coinbase: FakeCoinbase,
                                   setup: str, req: OrderRequest, reason: str) -> None:
    if setup == "disabled":
        fake_coinbase.products["BTC-USD"]["trading_disabled"] = True
        assert broker.product("BTC-USD").trading_disabled
    with pytest.raises(OrderRejected) as e:
        broker.submit(req)
    assert e.value.reason == reason and not e.value.retryable
    assert fake_coinbase.count("POST", ORDERS) == 1   # a rejection is not retried


def test_bars_are_closed_oldest_first_and_chunked(broker: CoinbaseBroker,
                                                  fake_coinbase: FakeCoinbase) -> None:
    step = 60
    now = int(time.time()) // step * step
    start = now - 400 * step
    rows = [(t, 1.0, 2.0, 0.5, 1.5, 3.0) for t in range(start, now + step, step)
            if t != start + 10 * step]                     # one gap
    fake_coinbase.set_candles("BTC-USD", rows)
    bars = broker.bars("BTC-USD", start, now + step, "1m")
    starts = [b.start for b in bars]
    assert starts == sorted(starts) and starts[0] == start
    assert start + 10 * step not in starts
    assert now not in starts            # the bar in progress is not closed yet
    assert len(bars) == 399
    assert fake_coinbase.count("GET", "/products/BTC-USD/candles") == 2


def test_http_refused_for_non_loopback_hosts(make_config: Callable[..., Config],
                                             coinbase_key: Key) -> None:
    with pytest.raises(ValueError, match="loopback"):
        make_rest_client("http://api.example.com")
    cfg = make_config('[coinbase]\nbase_url = "http://10.1.2.3:8080"\n')
    with pytest.raises(BrokerCallError, match="loopback"):
        CoinbaseBroker(cfg, Secrets(coinbase_api_key=coinbase_key[0],
                                    coinbase_api_secret=coinbase_key[1]))
    # Bare public hosts stay https; loopback gets the http adapter.
    assert "https://127.0.0.1:9/" in make_rest_client("127.0.0.1:9").session.adapters
    assert "https://api.coinbase.com/" not in make_rest_client("api.coinbase.com").session.adapters


def test_malformed_keys_are_refused_with_a_fix(make_config: Callable[..., Config],
                                               coinbase_key: Key) -> None:
    escaped = coinbase_key[1].strip().replace("\n", "\\n")
    msg = key_problem(coinbase_key[0], escaped)
    assert msg is not None and "literal \\n" in msg and "multi-line" in msg
    assert "does not load" in (key_problem(coinbase_key[0],
                                           "-----BEGIN EC PRIVATE KEY-----\nxx\n") or "")
    assert key_problem("just-a-name", coinbase_key[1]) is not None
    assert key_problem(coinbase_key[0], coinbase_key[1]) is None
    with pytest.raises(BrokerCallError) as e:
        CoinbaseBroker(make_config(""), Secrets(coinbase_api_key=coinbase_key[0],
                                                coinbase_api_secret=escaped))
    assert e.value.kind == "bad_key"


def test_public_client_reads_candles_without_keys(fake_coinbase: FakeCoinbase) -> None:
    client = make_rest_client(fake_coinbase.host_port, timeout=2)
    end = int(time.time()) // 300 * 300
    resp = client.get_public_candles("BTC-USD", str(end - 3000), str(end), "FIVE_MINUTE")
    assert len(resp.candles) == 11          # start and end both included
    req = [r for r in fake_coinbase.requests if "/market/products/" in r.path][0]
    assert "authorization" not in req.headers
