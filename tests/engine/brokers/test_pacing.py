"""A 429 slows the broker client down: Retry-After is honoured, backoff grows with each 429 in
a row, and the calls after it wait too (the real SDK clients against the local fakes)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.brokers.alpaca import AlpacaPaperBroker
from engine.brokers.coinbase import CoinbaseBroker
from engine.brokers.retry import BrokerCallError
from engine.config import Config
from engine.config.secrets import Secrets
from tests.fakes import FakeAlpaca, FakeCoinbase

Key = tuple[str, str, str]


def coinbase(make_config: Callable[..., Config], cb: FakeCoinbase, key: Key,
             sleeps: list[float]) -> CoinbaseBroker:
    cfg = make_config(f'[coinbase]\nbase_url = "{cb.host_port}"\ntimeout_s = 2\n'
                      "retry_attempts = 4\nretry_initial_s = 0.01\nretry_max_s = 0.5\n")
    return CoinbaseBroker(cfg, Secrets(coinbase_api_key=key[0], coinbase_api_secret=key[1]),
                          sleep=sleeps.append)


def alpaca(make_config: Callable[..., Config], al: FakeAlpaca,
           sleeps: list[float]) -> AlpacaPaperBroker:
    cfg = make_config(f'[alpaca]\nurl_override = "{al.base_url}"\n'
                      f'data_url_override = "{al.base_url}"\ntimeout_s = 2\n'
                      "retry_attempts = 4\nretry_initial_s = 0.01\nretry_max_s = 0.5\n")
    return AlpacaPaperBroker(cfg, Secrets(alpaca_api_key="PKTEST", alpaca_secret_key="s3cret"),
                             sleep=sleeps.append)


def both(make_config: Callable[..., Config], fake_coinbase: FakeCoinbase,
         fake_alpaca: FakeAlpaca, coinbase_key: Key, venue: str, sleeps: list[float]
         ) -> tuple[object, object, str]:
    if venue == "coinbase":
        return coinbase(make_config, fake_coinbase, coinbase_key, sleeps), fake_coinbase, \
            "/accounts"
    return alpaca(make_config, fake_alpaca, sleeps), fake_alpaca, "/v2/account"


@pytest.mark.parametrize("venue", ["coinbase", "alpaca"])
def test_retry_after_is_honoured(make_config: Callable[..., Config],
                                 fake_coinbase: FakeCoinbase, fake_alpaca: FakeAlpaca,
                                 coinbase_key: Key, venue: str) -> None:
    sleeps: list[float] = []
    broker, fake, path = both(make_config, fake_coinbase, fake_alpaca, coinbase_key, venue,
                              sleeps)
    fake.fail_next(429, times=1, path=path, headers={"Retry-After": "7"})  # type: ignore
    broker.balances()  # type: ignore[attr-defined]
    # Waited what the exchange asked (not the policy's 0.01 s); these sleeps do not pass
    # time, so a second request of the same call waits out the rest of it too.
    assert sleeps and 6.5 < sleeps[0] <= 7.0 and all(x <= 7.0 for x in sleeps), sleeps


@pytest.mark.parametrize("venue", ["coinbase", "alpaca"])
def test_backoff_grows_and_later_calls_wait_too(make_config: Callable[..., Config],
                                                fake_coinbase: FakeCoinbase,
                                                fake_alpaca: FakeAlpaca, coinbase_key: Key,
                                                venue: str) -> None:
    sleeps: list[float] = []
    broker, fake, path = both(make_config, fake_coinbase, fake_alpaca, coinbase_key, venue,
                              sleeps)
    fake.fail_next(429, times=4, path=path)  # type: ignore[attr-defined]
    with pytest.raises(BrokerCallError) as err:
        broker.balances()  # type: ignore[attr-defined]
    assert err.value.kind == "rate_limited"
    assert len(sleeps) == 3 and sleeps[0] < sleeps[1] < sleeps[2], sleeps  # backing off
    # A 429 that outlasts the retries still holds back the client's next call (another
    # endpoint) for as long as the exchange asked.
    fake.fail_next(429, times=4, path=path, headers={"Retry-After": "4"})  # type: ignore
    with pytest.raises(BrokerCallError):
        broker.balances()  # type: ignore[attr-defined]
    before = len(sleeps)
    broker.fee_tier() if venue == "coinbase" else broker.now()  # type: ignore[attr-defined]
    assert sleeps[before:] and 3.5 < sleeps[before] <= 4.0, sleeps
