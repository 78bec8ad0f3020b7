"""The backoff helper and the ticker mapping the real brokers share."""

from __future__ import annotations

import random

import pytest

from engine.brokers.base import BrokerError
from engine.brokers.retry import BrokerCallError, RetryPolicy, call_with_retry, http_error
from engine.brokers.symbols import (
    alpaca_position_symbol,
    alpaca_symbol,
    check_ticker,
    from_alpaca,
)


def test_waits_grow_and_are_capped() -> None:
    p = RetryPolicy(attempts=10, initial_s=0.5, factor=2.0, max_s=3.0, jitter=0.25)
    rng = random.Random(1)
    waits = [p.wait(i, rng) for i in range(8)]
    assert all(0 <= w <= 3.0 for w in waits)
    assert 0.375 <= waits[0] <= 0.625 and 0.75 <= waits[1] <= 1.25
    assert RetryPolicy(jitter=0).wait(0) == 0.5


def test_retries_only_retryable_errors_and_stops_at_the_bound() -> None:
    slept: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise http_error("x", "y", 503)
        return "ok"

    pol = RetryPolicy(attempts=5, initial_s=0.01, max_s=0.01)
    assert call_with_retry(flaky, pol, sleep=slept.append) == "ok"
    assert calls["n"] == 3 and len(slept) == 2

    calls["n"] = 0

    def always_429() -> None:
        calls["n"] += 1
        raise http_error("x", "y", 429)

    with pytest.raises(BrokerCallError) as e:
        call_with_retry(always_429, pol, sleep=slept.append)
    assert e.value.kind == "rate_limited" and calls["n"] == 5

    calls["n"] = 0

    def fatal() -> None:
        calls["n"] += 1
        raise BrokerError("no", retryable=False)

    with pytest.raises(BrokerError):
        call_with_retry(fatal, pol, sleep=slept.append)
    assert calls["n"] == 1


@pytest.mark.parametrize("status, kind, retryable", [
    (401, "unauthorised", False), (403, "forbidden", False), (404, "not_found", False),
    (400, "bad_request", False), (429, "rate_limited", True), (500, "server", True),
    (503, "server", True)])
def test_http_status_classification(status: int, kind: str, retryable: bool) -> None:
    e = http_error("coinbase", "accounts", status, "body text")
    assert (e.kind, e.retryable, e.status) == (kind, retryable, status)


def test_ticker_mapping() -> None:
    assert alpaca_symbol("BTC-USD") == "BTC/USD"
    assert alpaca_position_symbol("ETH-USD") == "ETHUSD"
    assert from_alpaca("BTC/USD") == "BTC-USD" and from_alpaca("LINKUSD") == "LINK-USD"
    assert from_alpaca("ETHUSDT") == "ETH-USDT"
    with pytest.raises(ValueError):
        check_ticker("btc_usd")


def test_place_once_asks_may_send_before_every_post() -> None:
    """A halt that lands while a post waits out a 429 stops it: nothing more is posted."""
    from engine.brokers.retry import Pacer, place_once

    posts: list[int] = []
    halted = {"now": False}

    def post() -> str:
        posts.append(1)
        halted["now"] = True  # the operator halts while the client waits
        err = BrokerCallError("rate limited", kind="rate_limited", status=429)
        err.retry_after = 0.0
        raise err

    with pytest.raises(BrokerCallError) as e:
        place_once(post, lambda: None, RetryPolicy(attempts=5, jitter=0), Pacer(),
                   lambda _s: None, may_send=lambda: not halted["now"])
    assert e.value.kind == "halted" and not e.value.retryable and posts == [1]
