"""Product increments per trader: the migration moves a store forward without losing a row,
and rows are recorded, refreshed and read back per trader."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from store.db import Store
from store.increments import (
    ProductIncrement,
    base_increments,
    product_increments,
    record_increments,
)
from store.migrations import latest_version
from tests.store.older import store_before, version_of


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    out = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
           for t in ("traders", "positions", "fills", "kv")}
    conn.close()
    return out


def test_migration_moves_a_populated_store_forward(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    before_inc = version_of("_increments.sql") - 1
    with store_before(path, "_increments.sql") as s:
        s.conn.execute(
            "INSERT INTO traders (name, broker, mode, model, tickers, timeframe, capital, "
            "started_at, updated_at) VALUES ('t','sim','paper','m','[\"BTC-USD\"]','5m',"
            "'1000',0,0)")
        s.conn.execute("INSERT INTO positions (trader, ticker, qty, avg_price, realized_pnl,"
                       " unrealized_pnl, updated_at) VALUES ('t','BTC-USD','0.0123456789',"
                       "'40000','0','1.5',0)")
        s.conn.executemany(
            "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, "
            "fee, liquidity, at) VALUES (?, 't', ?, 'BTC-USD', 'BUY', '0.01', '40000', "
            "'0.1', 'MAKER', ?)", [(f"f{i}", f"c{i}", i) for i in range(5)])
        s.conn.execute("INSERT INTO kv (key, value, updated_at) VALUES ('k', 'v', 0)")
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == before_inc
    assert not conn.execute("SELECT name FROM sqlite_master "
                            "WHERE name = 'product_increments'").fetchall()
    conn.close()
    before = _rows(path)
    assert len(before["fills"]) == 5 and len(before["positions"]) == 1
    with Store(path) as s:
        assert s.version == latest_version()
        assert s.integrity() == "ok"
        assert product_increments(s) == []  # unknown until the trader's next start
        record_increments(s, [ProductIncrement("t", "BTC-USD", "sim", "0.00000001", "0.01",
                                               "0.00000001", "1", 5.0)])
        assert base_increments(s) == {("t", "BTC-USD"): "0.00000001"}
    assert _rows(path) == before  # every existing row, unchanged


def test_record_refreshes_and_reads_per_trader(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        assert record_increments(s, []) == 0
        record_increments(s, [
            ProductIncrement("a", "ETH-USD", "coinbase", "0.0001", "0.01", "0.001", "1", 1.0),
            ProductIncrement("a", "BTC-USD", "coinbase", "0.00000001", "0.01", None, None, 1.0),
            ProductIncrement("b", "ETH-USD", "alpaca", "0.000000001", "0.01", None, None, 1.0)])
        # the exchange changed a step: the next start's record replaces the old one
        record_increments(s, [ProductIncrement("a", "ETH-USD", "coinbase", "0.001", "0.05",
                                               "0.01", "5", 2.0)])
        rows = product_increments(s, "a")
        assert [(r.ticker, r.base_increment, r.quote_increment, r.recorded_at)
                for r in rows] == [("BTC-USD", "0.00000001", "0.01", 1.0),
                                   ("ETH-USD", "0.001", "0.05", 2.0)]
        assert base_increments(s) == {("a", "BTC-USD"): "0.00000001",
                                      ("a", "ETH-USD"): "0.001",
                                      ("b", "ETH-USD"): "0.000000001"}
        assert base_increments(s, "b") == {("b", "ETH-USD"): "0.000000001"}
