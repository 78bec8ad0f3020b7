"""A live trader SIGKILLed between posting an order and Coinbase's answer, restarted while
the order listing does not show that order yet (a lagging listing): the restarted trader
cannot find its intent at the exchange, so it posts the same client order id again. A real
`cappuccino trade` process with the real coinbase-advanced-py client against the fake, which
answers a reused id as Coinbase documents it (the existing order, no new one) or refuses it
(the undocumented alternative the trader must also survive). Either way: one order for the
decision at the exchange, the store's intent adopts it, and its fills are booked once."""

from __future__ import annotations

import signal
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from engine.config import load_config
from engine.soak.venues import CONFIG, SPEED, Market
from engine.soak.workdir import TICKERS, tiny_model
from tests.fakes.fake_coinbase import FakeCoinbase
from tests.fakes.trade_proc import (
    clean_env,
    live_coinbase,
    replay_start,
    start_trader,
    store_rows,
    trade_argv,
    wait_while_alive,
)

POST = "/api/v3/brokerage/orders"


def _first_order(fake: FakeCoinbase) -> dict[str, object] | None:
    with fake.lock:
        return dict(fake.orders[0]) if fake.orders else None


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["existing", "failure"])
def test_restart_between_post_and_answer_holds_one_order(tmp_path: Path, answer: str) -> None:
    env = clean_env()
    with ExitStack() as stack:
        cfg_path = tmp_path / "cappuccino.toml"
        fake = live_coinbase(stack, env, cfg_path, CONFIG)
        cfg = load_config(cfg_path, environ={})
        db = Path(cfg.store.path)
        tiny_model(tmp_path / "model", cfg)
        fake.accelerate(*replay_start(SPEED))
        fake.duplicate_answer = answer
        fake.hide_new_orders = True             # the listing lags behind new orders
        fake.delay_next(20.0, path=POST, method="POST")   # created, answered 20 s later
        market = Market(fake, seed=5, coinbase=True, fill_p=0.0)  # quotes only: the test fills
        market.start()
        stack.callback(market.join, 5)
        stack.callback(market.halt.set)
        argv = trade_argv(cfg_path, tmp_path / "model", "coinbase", TICKERS, live=True)
        log = tmp_path / "trader.log"
        p = start_trader(stack, argv, env, log)

        first = wait_while_alive(p, lambda: _first_order(fake), 90, poll_s=0.01)
        assert first is not None, log.read_text(errors="replace")[-3000:]
        # The order is at the exchange, its answer not yet sent: stop the exchange's clock
        # (the restart stays in the same bar, so the intent is still to be sent) and kill.
        fake.set_time(fake.now())
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        fake.hide_new_orders = False            # only the killed order stays unlisted
        cid, oid = str(first["client_order_id"]), str(first["order_id"])
        assert fake.order_count(cid) == 1

        p = start_trader(stack, argv, env, log)

        def posted_again() -> bool:
            return fake.order_count(cid) >= 2
        assert wait_while_alive(p, posted_again, 90), log.read_text(errors="replace")[-3000:]
        if answer == "failure":   # refused while unlisted: the intent waits, then is found
            assert wait_while_alive(p, lambda: fake.order_count(cid) >= 3, 30)
            assert store_rows(db, f"SELECT status FROM orders WHERE client_order_id = "
                                  f"'{cid}'") == [("NEW",)]
            fake.unlisted.clear()                # the listing catches up

        def adopted() -> bool:
            return store_rows(db, "SELECT broker_order_id FROM orders WHERE client_order_id"
                                  f" = '{cid}'") == [(oid,)]
        assert wait_while_alive(p, adopted, 30), log.read_text(errors="replace")[-3000:]
        market.halt.set()
        market.join(5)
        if fake.order_by_client(cid)["status"] == "OPEN":  # type: ignore[index]
            fake.fill(cid)
        fake.accelerate(fake.now(), SPEED)       # time moves on: the fill is booked

        def booked() -> bool:
            return bool(store_rows(db, f"SELECT 1 FROM fills WHERE client_order_id = '{cid}'"))
        assert wait_while_alive(p, booked, 60), log.read_text(errors="replace")[-3000:]
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0, log.read_text(errors="replace")[-3000:]

        assert fake.held_count(cid) == 1
        with fake.lock:
            ex_cids = [o["client_order_id"] for o in fake.orders]
            ex_fills = sorted((f["entry_id"], f["size"]) for f in fake.fills
                              if f["order_id"] == oid)
        assert len(ex_cids) == len(set(ex_cids)), "two orders for one client order id"
        keys = store_rows(db, "SELECT bar_at, ticker, attempt FROM orders")
        assert len(keys) == len(set(keys)), "two intents for one decision"
        booked_fills = store_rows(db, "SELECT fill_id, qty FROM fills WHERE client_order_id"
                                      f" = '{cid}'")
        assert sorted(f for f, _ in booked_fills) == [t for t, _ in ex_fills]
        assert sum(Decimal(q) for _, q in booked_fills) == sum(Decimal(s) for _, s in ex_fills)


@pytest.mark.slow
def test_an_order_found_after_its_bar_passed_is_managed_again(tmp_path: Path) -> None:
    """Killed between post and answer, restarted only after the order's bar passed, and the
    listing still without the order: the restarted trader closes the intent as never sent
    (EXPIRED). Once the listing shows the order resting, it is the trader's again: cancelled
    with its bar's other orders, never left open at the exchange after a clean stop."""
    env = clean_env()
    with ExitStack() as stack:
        cfg_path = tmp_path / "cappuccino.toml"
        fake = live_coinbase(stack, env, cfg_path, CONFIG)
        cfg = load_config(cfg_path, environ={})
        db = Path(cfg.store.path)
        tiny_model(tmp_path / "model", cfg)
        fake.accelerate(*replay_start(SPEED))
        fake.hide_new_orders = True
        fake.delay_next(20.0, path=POST, method="POST")
        market = Market(fake, seed=5, coinbase=True, fill_p=0.0)
        market.start()
        stack.callback(market.join, 5)
        stack.callback(market.halt.set)
        argv = trade_argv(cfg_path, tmp_path / "model", "coinbase", TICKERS, live=True)
        log = tmp_path / "trader.log"
        p = start_trader(stack, argv, env, log)
        first = wait_while_alive(p, lambda: _first_order(fake), 90, poll_s=0.01)
        assert first is not None, log.read_text(errors="replace")[-3000:]
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        fake.hide_new_orders = False
        cid, oid = str(first["client_order_id"]), str(first["order_id"])
        p = start_trader(stack, argv, env, log)   # the clock runs on: its bar passes

        def expired() -> bool:
            return store_rows(db, f"SELECT status FROM orders WHERE client_order_id = "
                                  f"'{cid}'") == [("EXPIRED",)]
        assert wait_while_alive(p, expired, 90), log.read_text(errors="replace")[-3000:]
        fake.unlisted.clear()                     # the listing shows it, resting

        def closed_at_exchange() -> bool:
            o = fake.order_by_client(cid)
            return o is not None and o["status"] != "OPEN"
        assert wait_while_alive(p, closed_at_exchange, 60), \
            log.read_text(errors="replace")[-3000:]
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0, log.read_text(errors="replace")[-3000:]
        assert fake.held_count(cid) == 1 and fake.order_count(cid) == 1
        with fake.lock:
            left_open = [o["client_order_id"] for o in fake.orders if o["status"] == "OPEN"]
        assert not left_open, left_open
        assert store_rows(db, f"SELECT status, broker_order_id FROM orders WHERE "
                              f"client_order_id = '{cid}'") == [("CANCELLED", oid)]
