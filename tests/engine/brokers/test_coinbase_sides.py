"""An order side the exchange never documented is refused as malformed, never read as a
trade in either direction (real coinbase-advanced-py client, local fake exchange)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.brokers.coinbase import CoinbaseBroker
from engine.brokers.retry import BrokerCallError
from engine.config import Config
from engine.config.secrets import Secrets
from tests.fakes import FakeCoinbase


def _broker(make_config: Callable[..., Config], cb: FakeCoinbase,
            key: tuple[str, str, str]) -> CoinbaseBroker:
    cfg = make_config(f'[coinbase]\nbase_url = "{cb.host_port}"\ntimeout_s = 2.0\n'
                      "retry_attempts = 2\nretry_initial_s = 0.01\nretry_max_s = 0.02\n")
    return CoinbaseBroker(cfg, Secrets(coinbase_api_key=key[0], coinbase_api_secret=key[1]))


def test_an_unknown_order_side_is_malformed(make_config: Callable[..., Config],
                                            fake_coinbase: FakeCoinbase,
                                            coinbase_key: tuple[str, str, str]) -> None:
    broker = _broker(make_config, fake_coinbase, coinbase_key)
    fake_coinbase.place_by_hand("BTC-USD", "BUY", "0.01", "40000")
    assert [o.side for o in broker.open_orders()] == ["BUY"]
    with fake_coinbase.lock:
        fake_coinbase.orders[-1]["side"] = "HOLD"   # the exchange answers with garbage
    with pytest.raises(BrokerCallError) as e:
        broker.open_orders()
    assert e.value.kind == "malformed" and "HOLD" in str(e.value)
