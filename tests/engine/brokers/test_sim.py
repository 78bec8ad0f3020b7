"""SimBroker: fills when a later bar trades through, post-only rejection, fees, idempotent
submit, persistent state (a second instance on the same file sees the same exchange)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from engine.brokers.base import OrderRejected, OrderRequest
from engine.brokers.sim import SimBroker
from engine.data.candles import Candles

T0 = 1_700_000_100 - 1_700_000_100 % 300


def tape() -> Candles:
    close = np.array([[100.0], [100.0], [101.0], [99.0], [102.0], [103.0]])
    low = close - 0.5
    high = close + 0.5
    times = T0 + 300 * np.arange(len(close), dtype=np.int64)
    return Candles(times=times, tickers=("BTC-USD",), close=close, open=close, high=high,
                   low=low, volume=np.ones_like(close), timeframe="5m")


def broker(path: Path) -> SimBroker:
    return SimBroker(path / "sim.db", tape(), start_index=1, initial_cash=Decimal(1000),
                     maker_rate=Decimal("0.001"), taker_rate=Decimal("0.002"), spread_bps=100)


def req(cid: str, side: str, qty: str, price: str | None, post_only: bool = True) -> OrderRequest:
    return OrderRequest(cid, "BTC-USD", side, Decimal(qty),  # type: ignore[arg-type]
                        Decimal(price) if price else None, post_only)


def test_quotes_bars_and_clock(tmp_path: Path) -> None:
    b = broker(tmp_path)
    q = b.quotes(["BTC-USD"])["BTC-USD"]
    assert (q.bid, q.ask) == (Decimal("99.50"), Decimal("100.50"))
    assert b.now() == T0 + 600
    assert [x.close for x in b.bars("BTC-USD", 0, 1e12, "5m")] == [100.0, 100.0]  # revealed only
    assert b.advance() and b.now() == T0 + 900


def test_maker_fill_when_a_later_bar_trades_through(tmp_path: Path) -> None:
    b = broker(tmp_path)
    s = b.submit(req("a", "BUY", "1", "99.50"))
    assert s.status == "OPEN" and b.balances()["USD"].hold > 0
    b.advance()  # low 100.5: not through 99.50
    assert b.get_order("a").status == "OPEN"  # type: ignore[union-attr]
    b.advance()  # low 98.5: through
    o = b.get_order("a")
    assert o is not None and o.status == "FILLED" and o.avg_price == Decimal("99.50")
    (fill,) = b.fills(0)
    assert fill.liquidity == "MAKER" and fill.fee == Decimal("0.0995")
    bal = b.balances()
    assert bal["BTC"].total == 1 and bal["USD"].hold == 0
    assert bal["USD"].total == Decimal(1000) - Decimal("99.50") - Decimal("0.0995")


def test_post_only_cross_rejected_and_market_is_taker(tmp_path: Path) -> None:
    b = broker(tmp_path)
    with pytest.raises(OrderRejected) as e:
        b.submit(req("x", "BUY", "1", "100.50"))
    assert e.value.reason == "post_only"
    s = b.submit(req("m", "BUY", "1", None, post_only=False))
    assert s.status == "FILLED" and b.fills(0)[0].liquidity == "TAKER"
    with pytest.raises(OrderRejected) as e2:
        b.submit(req("big", "BUY", "100", "90"))
    assert e2.value.reason == "funds"
    with pytest.raises(OrderRejected) as e3:
        b.submit(req("tiny", "BUY", "0.000000001", "90"))
    assert e3.value.reason == "size"


def test_idempotent_submit_and_state_survives_reopen(tmp_path: Path) -> None:
    b = broker(tmp_path)
    first = b.submit(req("same", "BUY", "1", "99"))
    again = b.submit(req("same", "BUY", "1", "99"))
    assert first == again and len(b.all_orders()) == 1
    b.advance()
    b.close()
    b2 = broker(tmp_path)  # a restarted trader opens the same exchange
    assert b2.now() == T0 + 900 and len(b2.open_orders()) == 1
    b2.cancel(["same"])
    assert b2.get_order("same").status == "CANCELLED"  # type: ignore[union-attr]
    assert b2.balances()["USD"] == b2.balances()["USD"].__class__("USD", Decimal(1000), Decimal(0))


def test_sell_needs_holdings_and_advance_stops_at_the_end(tmp_path: Path) -> None:
    b = broker(tmp_path)
    with pytest.raises(OrderRejected):
        b.submit(req("s", "SELL", "1", "101"))
    while b.advance():
        pass
    assert b.index == 5 and not b.advance()


def test_sim_start_frac_starts_the_replay_late_but_never_before_warmup(
        make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from engine.brokers.base import BrokerError
    from engine.brokers.factory import make_broker, sim_start_index
    from engine.config import ConfigError
    from engine.config.secrets import Secrets
    from engine.features import longest_history

    base = ('[data]\nsource = "synthetic"\nsynthetic_bars = 1000\n[features]\nlookback = 2\n'
            'norm_window = 20\n[conviction]\nvolatility_window = 20\n[trader]\n')
    warm = sim_start_index(make_config(base), 1000)
    # The longest indicator window (macd_hist, 33) + norm_window - 1 + lookback: every
    # feature spec's history fits (tests/engine/test_features.py).
    assert warm == longest_history(2, 20) == 33 + 20 - 1 + 2
    cfg = make_config(base + "sim_start_frac = 0.85\n", name="a.toml")
    b = make_broker(cfg, Secrets(), "sim", tmp_path / "a")
    assert b.index == 850 and b.now() == b.candles.times[850] + 300  # type: ignore[attr-defined]
    # A tiny fraction still waits for the warmup; a restart keeps the replay's position.
    assert sim_start_index(make_config(base + "sim_start_frac = 0.01\n", name="b.toml"),
                           1000) == warm
    b.advance()  # type: ignore[attr-defined]
    again = make_broker(cfg.model_copy(update={"trader": cfg.trader.model_copy(
        update={"sim_start_frac": 0.1})}), Secrets(), "sim", tmp_path / "a")
    assert again.index == 851  # type: ignore[attr-defined]
    with pytest.raises(BrokerError, match="nothing to replay"):
        make_broker(make_config(base + "sim_start_frac = 0.9995\n", name="c.toml"), Secrets(),
                    "sim", tmp_path / "c")
    with pytest.raises(ConfigError, match="sim_start_frac"):
        make_config(base + "sim_start_frac = 1.0\n", name="d.toml")


def test_the_replay_waits_for_history_bars_and_the_volatility_window(
        make_config) -> None:  # type: ignore[no-untyped-def]
    """[trader] history_bars: never fewer than the features' history and the volatility
    window; more when asked (cappuccino.toml says so)."""
    from engine.brokers.factory import sim_start_index
    from engine.features import longest_history

    base = ('[data]\nsource = "synthetic"\nsynthetic_bars = 1000\n[features]\nlookback = 2\n'
            'norm_window = 20\n')
    feats = longest_history(2, 20)
    assert sim_start_index(make_config(base + "[conviction]\nvolatility_window = 20\n"),
                           1000) == feats
    assert sim_start_index(make_config(base + "[conviction]\nvolatility_window = 100\n",
                                       name="v.toml"), 1000) == 101
    assert sim_start_index(make_config(base + "[conviction]\nvolatility_window = 20\n"
                                       "[trader]\nhistory_bars = 300\n", name="h.toml"),
                           1000) == 300


def test_two_exchange_files_never_share_an_id(tmp_path: Path) -> None:
    """Fill and order ids are unique per exchange file (issue 10: two sims both said
    simfill-1), and stay the same when the file is reopened."""
    a, b = broker(tmp_path / "a"), broker(tmp_path / "b")
    for x in (a, b):
        x.submit(req("same-cid", "BUY", "1", None, post_only=False))  # taker: fills at once
    fa, fb = a.fills(0.0), b.fills(0.0)
    assert len(fa) == len(fb) == 1
    assert fa[0].fill_id != fb[0].fill_id and fa[0].broker_order_id != fb[0].broker_order_id
    assert a.get_order("same-cid").broker_order_id == fa[0].broker_order_id  # type: ignore[union-attr]
    a.close()
    again = broker(tmp_path / "a")
    assert again.fills(0.0) == fa
    assert again.get_order("same-cid").broker_order_id == fa[0].broker_order_id  # type: ignore[union-attr]


def test_a_file_made_before_prefixes_keeps_its_ids(tmp_path: Path) -> None:
    old = broker(tmp_path)
    old.close()
    conn = sqlite3.connect(tmp_path / "sim.db")  # as an older version made it: no prefix
    with conn:
        conn.execute("DELETE FROM meta WHERE key = 'id_prefix'")
    conn.close()
    b = broker(tmp_path)
    b.submit(req("c1", "BUY", "1", None, post_only=False))
    assert [f.fill_id for f in b.fills(0.0)] == ["simfill-1"]
    assert b.get_order("c1").broker_order_id == "sim-1"  # type: ignore[union-attr]


def test_an_exchange_file_that_is_not_a_database_is_a_broker_error(tmp_path: Path) -> None:
    """A damaged exchange file is one BrokerError line (the trader reports and retries), not
    a sqlite3 traceback, and the file is left as it was."""
    from engine.brokers.base import BrokerError

    (tmp_path / "sim.db").write_bytes(b"garbage " * 200)
    with pytest.raises(BrokerError, match=r"^sim: exchange file .*sim\.db: file is not a "
                                          r"database$"):
        broker(tmp_path)
    assert (tmp_path / "sim.db").read_bytes() == b"garbage " * 200
