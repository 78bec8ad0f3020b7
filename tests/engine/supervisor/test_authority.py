"""The gates the supervisor checks itself before a trader starts, on a real store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from engine.promote import Request, promote
from engine.supervisor.authority import check_trade
from engine.supervisor.commands import Refused, Trade
from store.db import Store, now
from tests.engine.paper_record import add_paper_trader

KEY = {"COINBASE_API_KEY": "organizations/x/apiKeys/y", "COINBASE_API_SECRET": "pem"}


def paper_trader(store: Store, model: str, name: str = "good-paper", drift: float = 2e-4,
                 hours: float = 50.0) -> None:
    add_paper_trader(store, name, end=now(), model=model, drift=drift, hours=hours)


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
