"""Helpers for monitor tests: trader rows and equity series of a known Sharpe."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from store.db import Store

BAR_S = 300.0
PPY = 365 * 86_400 / BAR_S


def returns_with_sharpe(sharpe: float, n: int, sigma: float = 1e-3, period: int = 48,
                        window: int = 288) -> np.ndarray:
    """n returns whose every run of `window` returns (a multiple of `period`) has exactly this
    annual Sharpe (sample std, ddof=1)."""
    z = np.random.default_rng(1).normal(size=period)
    z = (z - z.mean()) / z.std() * np.sqrt((window - 1) / window)
    mu = sharpe / np.sqrt(PPY) * sigma
    return mu + sigma * np.tile(z, n // period + 1)[:n]


def add_trader(store: Store, name: str, backtest: float | None = 1.5, mode: str = "paper",
               state: str = "ACTIVE") -> None:
    with store.write():
        store.conn.execute(
            "INSERT INTO traders (name, broker, mode, model, study, trial, tickers, timeframe, "
            "capital, trading_state, backtest_sharpe, started_at, updated_at) VALUES "
            "(?, 'sim', ?, 'var/models/s1-t7', 's1', 7, '[\"BTC-USD\"]', '5m', '1000', ?, ?, 0, 0)",
            (name, mode, state, backtest))


def add_equity(store: Store, name: str, returns: np.ndarray, end: float,
               start_equity: float = 1000.0) -> np.ndarray:
    """len(returns)+1 equity points every 5 minutes, the last one at `end`."""
    eq = start_equity * np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    at = end - BAR_S * np.arange(len(eq))[::-1]
    with store.write():
        store.conn.executemany(
            "INSERT OR REPLACE INTO equity (trader, at, equity, cash, equity_f) "
            "VALUES (?, ?, ?, '0', ?)",
            [(name, float(a), f"{e:.6f}", float(e)) for a, e in zip(at, eq, strict=True)])
    return at


@pytest.fixture
def kit() -> SimpleNamespace:
    return SimpleNamespace(returns=returns_with_sharpe, add_trader=add_trader,
                           add_equity=add_equity, BAR_S=BAR_S)
