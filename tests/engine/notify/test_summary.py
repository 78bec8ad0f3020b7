from __future__ import annotations

import datetime as dt

from engine.notify.summary import maybe_emit_summary, period_bounds
from store.db import Store


def ts(y: int, m: int, d: int, h: int = 0) -> float:
    return dt.datetime(y, m, d, h, tzinfo=dt.UTC).timestamp()


def test_period_bounds() -> None:
    assert period_bounds("daily", ts(2026, 11, 25, 9)) == (ts(2026, 11, 24), ts(2026, 11, 25))
    # 2026-11-25 is a Wednesday: the last complete week is Mon 16 .. Mon 23.
    assert period_bounds("weekly", ts(2026, 11, 25, 9)) == (ts(2026, 11, 16), ts(2026, 11, 23))


def test_daily_summary_once_per_period(make_config) -> None:
    cfg = make_config("[notify]\nsummary = \"daily\"\n")
    with Store(cfg.store.path) as store:
        with store.write():
            store.conn.execute(
                "INSERT INTO traders (name, broker, mode, model, tickers, timeframe, capital, "
                "started_at, updated_at) "
                "VALUES ('t1', 'sim', 'paper', 'm', '[]', '5m', '1000', 0, 0)")
            for h, e in ((1, 1000.0), (12, 1010.0), (23, 1020.0)):
                store.conn.execute("INSERT INTO equity (trader, at, equity, cash, equity_f) "
                                   "VALUES ('t1', ?, ?, '0', ?)", (ts(2026, 11, 24, h), str(e), e))
            store.conn.execute("INSERT INTO fills (fill_id, trader, ticker, side, qty, price, fee, "
                               "liquidity, at) VALUES ('f1', 't1', 'BTC-USD', 'BUY', '1', '1', "
                               "'0', 'MAKER', ?)", (ts(2026, 11, 24, 5),))
            store.conn.execute("INSERT INTO alerts (trader, level, message, at) VALUES "
                               "('t1', 'WARNING', 'x', ?)", (ts(2026, 11, 24, 6),))
        assert maybe_emit_summary(cfg, store, ts(2026, 11, 24, 8)) is None  # first run: mark only
        assert store.query("SELECT * FROM outbox") == []
        assert maybe_emit_summary(cfg, store, ts(2026, 11, 24, 20)) is None  # same period
        oid = maybe_emit_summary(cfg, store, ts(2026, 11, 25, 0, ) + 5)  # a new day
        assert oid is not None
        assert maybe_emit_summary(cfg, store, ts(2026, 11, 25, 12)) is None
        row = store.one("SELECT * FROM outbox WHERE id = ?", (oid,))
        assert row["event"] == "summary" and "2026-11-24" in row["title"]
        assert "t1 (paper): equity 1,000.00 -> 1,020.00 (+2.00%); 1 fills" in row["body"]
        assert "alerts: WARNING 1" in row["body"]


def test_summary_off(make_config) -> None:
    cfg = make_config("[notify]\nsummary = \"off\"\n")
    with Store(cfg.store.path) as store:
        assert maybe_emit_summary(cfg, store, ts(2026, 11, 25)) is None
        assert store.query("SELECT * FROM kv") == []
