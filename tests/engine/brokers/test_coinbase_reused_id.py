"""Coinbase's answer to a reused client_order_id, with the real coinbase-advanced-py client
against the fake: a restarted trader that cannot see its order in the listing yet (the
listing lags) posts the same id again. Documented: no new order, the existing one returned;
the trader must also stay safe if Coinbase refused the repeat instead (a failure answer or
an HTTP error): never a rejection for an order the exchange holds, never a second order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.brokers.base import BrokerError, OrderRejected
from engine.brokers.coinbase_reused_id import reused_id
from engine.config import Config
from tests.engine.brokers.orders import limit_buy
from tests.engine.brokers.test_coinbase import ORDERS, Key, build
from tests.fakes import FakeCoinbase


def test_the_documented_answer_returns_the_order_already_placed(
        make_config: Callable[..., Config], fake_coinbase: FakeCoinbase,
        coinbase_key: Key) -> None:
    fake_coinbase.hide_new_orders = True
    first = build(make_config, fake_coinbase, coinbase_key).submit(limit_buy("re-1"))
    again = build(make_config, fake_coinbase, coinbase_key).submit(limit_buy("re-1"))
    assert fake_coinbase.count("POST", ORDERS) == 2          # posted again: it was not listed
    assert again.broker_order_id == first.broker_order_id and again.is_open
    assert fake_coinbase.held_count("re-1") == 1


@pytest.mark.parametrize("answer", ["failure", "conflict"])
def test_a_refused_repeat_is_never_a_rejection(make_config: Callable[..., Config],
                                               fake_coinbase: FakeCoinbase,
                                               coinbase_key: Key, answer: str) -> None:
    fake_coinbase.hide_new_orders = True
    fake_coinbase.duplicate_answer = answer
    first = build(make_config, fake_coinbase, coinbase_key).submit(limit_buy("re-2"))
    restarted = build(make_config, fake_coinbase, coinbase_key)
    with pytest.raises(BrokerError) as e:
        restarted.submit(limit_buy("re-2"))
    # The outcome is the order already there: not OrderRejected (the trader would close its
    # row and leave the exchange's order unmanaged), so the intent stays to be looked up.
    assert not isinstance(e.value, OrderRejected), e.value
    assert "already" in str(e.value)
    fake_coinbase.unlisted.clear()                           # the listing catches up
    found = restarted.submit(limit_buy("re-2"))
    assert found.broker_order_id == first.broker_order_id
    assert fake_coinbase.held_count("re-2") == 1 and fake_coinbase.count("POST", ORDERS) == 2


def test_a_refused_repeat_listed_by_then_is_adopted_at_once(
        make_config: Callable[..., Config], fake_coinbase: FakeCoinbase,
        coinbase_key: Key) -> None:
    """The listing catches up while the repeat is refused: the order is adopted at once."""
    fake_coinbase.hide_new_orders = True
    fake_coinbase.duplicate_answer = "failure"
    first = build(make_config, fake_coinbase, coinbase_key).submit(limit_buy("re-3"))
    fake_coinbase.list_on_repeat = True
    st = build(make_config, fake_coinbase, coinbase_key).submit(limit_buy("re-3"))
    assert st.broker_order_id == first.broker_order_id
    assert fake_coinbase.held_count("re-3") == 1 and fake_coinbase.count("POST", ORDERS) == 2


@pytest.mark.parametrize("text, dup", [
    ("INVALID_CLIENT_ORDER_ID PREVIEW_INVALID_CLIENT_ORDER_ID", True),
    ("DUPLICATE_CLIENT_ORDER_ID", True),
    ('{"error": "ALREADY_EXISTS", "message": "exists"}', True),
    ("client order id must be unique", True),
    ("INSUFFICIENT_FUND PREVIEW_INSUFFICIENT_FUND", False),
    ("INVALID_LIMIT_PRICE_POST_ONLY", False),
    ("UNKNOWN_FAILURE_REASON", False),
])
def test_reused_id_reads_the_answers_that_name_the_id(text: str, dup: bool) -> None:
    assert reused_id(text) is dup
