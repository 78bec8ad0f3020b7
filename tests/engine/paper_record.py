"""A paper trader's record in a real store, as a running sim trader leaves it: its traders
row, an equity point every 5 minutes and a few fills (what the live gates read)."""

from __future__ import annotations

import numpy as np

from store.db import Store


def add_paper_trader(store: Store, name: str = "p1", *, end: float,
                     model: str = "/models/s1-t3", mode: str = "paper", hours: float = 50.0,
                     drift: float = 2e-4, trades: int = 7) -> None:
    """`hours` of equity up to `end`, drifting by `drift` a bar (noise 1e-3, seed 0), and
    `trades` fills from an hour in."""
    n = int(hours * 12) + 1
    at = end - 300.0 * np.arange(n)[::-1]
    eq = 1000 * np.cumprod(1 + np.random.default_rng(0).normal(drift, 1e-3, n))
    with store.write():
        store.conn.execute(
            "INSERT INTO traders (name, broker, mode, model, study, trial, tickers, timeframe, "
            "capital, backtest_sharpe, started_at, updated_at) VALUES (?, 'sim', ?, ?, "
            "'s1', 3, '[\"BTC-USD\"]', '5m', '1000', 1.2, ?, ?)",
            (name, mode, model, at[0], end))
        store.conn.executemany(
            "INSERT INTO equity (trader, at, equity, cash, equity_f) VALUES (?, ?, ?, '0', ?)",
            [(name, float(a), f"{e:.2f}", float(e)) for a, e in zip(at, eq, strict=True)])
        store.conn.executemany(
            "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, fee, "
            "liquidity, at) VALUES (?, ?, ?, 'BTC-USD', 'BUY', '0.01', '100', '0.1', 'MAKER', ?)",
            [(f"{name}-f{i}", name, f"{name}-o{i}", float(at[0] + 3600 + i * 600))
             for i in range(trades)])
