"""The gates the supervisor checks itself before a trader starts, on a real store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from engine.promote import Request, promote
from engine.supervisor.authority import check_trade
from engine.supervisor.commands import Refused, Trade
from store.db import Store, now

KEY = {"COINBASE_API_KEY": "organizations/x/apiKeys/y", "COINBASE_API_SECRET": "pem"}


def paper_trader(store: Store, model: str, name: str = "good-paper", drift: float = 2e-4,
                 hours: float = 50.0) -> None:
    """A paper trader with an equity record and fills, as a running sim trader leaves it."""
    t0 = now()
    n = int(hours * 12) + 1
    at = t0 - 300.0 * np.arange(n)[::-1]
    eq = 1000 * np.cumprod(1 + np.random.default_rng(0).normal(drift, 1e-3, n))
    with store.write():
        store.conn.execute(
            "INSERT INTO traders (name, broker, mode, model, study, trial, tickers, timeframe, "
            "capital, backtest_sharpe, started_at, updated_at) VALUES (?, 'sim', 'paper', ?, "
            "'s1', 3, '[\"BTC-USD\"]', '5m', '1000', 1.2, ?, ?)", (name, model, at[0], t0))
        store.conn.executemany(
            "INSERT INTO equity (trader, at, equity, cash, equity_f) VALUES (?, ?, ?, '0', ?)",
            [(name, float(a), f"{e:.2f}", float(e)) for a, e in zip(at, eq, strict=True)])
        store.conn.executemany(
            "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, fee, "
            "liquidity, at) VALUES (?, ?, ?, 'BTC-USD', 'BUY', '0.01', '100', '0.1', 'MAKER', ?)",
            [(f"f{i}", name, f"o{i}", float(at[0] + 3600 + i * 600)) for i in range(7)])


@pytest.fixture
def env(make_config, tmp_path: Path):
    def make(armed: bool):
        cfg = make_config(f"[coinbase]\nlive_armed = {str(armed).lower()}\n")
        return cfg, Store(cfg.store.path)
    return make


def live_trade(cfg, capital: str = "1000.00", name: str = "good-live") -> Trade:
    model = str(Path(cfg.paths.models) / "m")
    return Trade(name=name, model=model, broker="coinbase", live=True, tickers=["BTC-USD"],
                 timeframe="5m", capital=Decimal(capital), study="s1", trial=3)


def test_live_needs_arming_credentials_and_a_promotion(env, monkeypatch) -> None:
    cfg, store = env(armed=False)
    with pytest.raises(Refused, match="not armed"):
        check_trade(cfg, store, live_trade(cfg))
    store.close()
    cfg, store = env(armed=True)
    for k in KEY:
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(Refused, match="credentials are missing"):
        check_trade(cfg, store, live_trade(cfg))
    for k, v in KEY.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(Refused, match="no recorded live promotion"):
        check_trade(cfg, store, live_trade(cfg))
    paper_trader(store, str(Path(cfg.paths.models) / "m"))
    out = promote(cfg, store, Request(to="live", trader="good-paper"))
    assert out.passed
    check_trade(cfg, store, live_trade(cfg))  # the promoted trader, as promoted: allowed
    with pytest.raises(Refused, match="differs from the promoted"):
        check_trade(cfg, store, live_trade(cfg, capital="3000"))
    other = live_trade(cfg).model_copy(update={"model": str(Path(cfg.paths.models) / "x")})
    with pytest.raises(Refused, match="model of trader good-live differ from what promotion"):
        check_trade(cfg, store, other)
    store.close()


def test_forced_live_promotion_passes_but_never_above_the_first_step(env, monkeypatch) -> None:
    for k, v in KEY.items():
        monkeypatch.setenv(k, v)
    cfg, store = env(armed=True)
    paper_trader(store, str(Path(cfg.paths.models) / "m"), hours=5)  # too young: gates fail
    out = promote(cfg, store, Request(to="live", trader="good-paper", force=True,
                                      reason="operator knows"))
    assert out.forced and not out.passed
    check_trade(cfg, store, live_trade(cfg))  # forced with a reason: the supervisor allows it
    big = promote(cfg, store, Request(to="live", trader="good-paper", name="big-live",
                                      capital=5000, force=True, reason="all in"))
    assert big.forced
    with pytest.raises(Refused, match="starting capital.*never forced"):
        check_trade(cfg, store, live_trade(cfg, capital="5000.00", name="big-live"))
    store.close()
