"""Fixtures for the trading tests: a small config and freshly initialised model dirs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.config import Config
from engine.model.untrained import untrained_model
from engine.soak import workdir
from tests.fakes.fixtures import coinbase_key  # noqa: F401

FAST = workdir.FAST  # the test modules import it from here
# Risk limits that never bind.
NO_LIMITS = """
[risk]
max_order_notional = 1000000
max_position_pct = 100
daily_loss_pct = 100
max_consecutive_losses = 1000
"""
# Every order fills within its bar (taker when the reprice is due), 0.25 % fees both ways
# and no spread: fills a test can follow by hand.
FILLS_AT_ONCE = """
[execution]
max_reprices = 0
reprice_after_s = 1
on_exhausted = "taker"
[trader]
notify_fills = false
sim_spread_bps = 0
sim_maker_fee_rate = 0.0025
sim_taker_fee_rate = 0.0025
"""


def build_model(directory: Path, cfg: Config, tickers: tuple[str, ...], timeframe: str = "5m",
                seed: int = 0, study: str = "s", trial: int = 0, scale: float = 1.0) -> Path:
    # scale > 1: strong actions, so the conviction filter and risk engine get work
    return untrained_model(directory, cfg, tickers, timeframe=timeframe, seed=seed,
                           scale=scale, study=study, trial=trial)


@pytest.fixture
def fast_config(make_config: Callable[..., Config]) -> Callable[..., Config]:
    def _make(extra: str = "") -> Config:
        return make_config(FAST + extra)

    return _make


@pytest.fixture(params=("coinbase", "alpaca"))
def desk(request: pytest.FixtureRequest, make_config: Callable[..., Config], tmp_path: Path,
         coinbase_key: tuple[str, str, str]) -> Iterator[Any]:  # noqa: F811
    """A Desk (venues.py): a trader's world on the Coinbase or the Alpaca fake."""
    from venues import Desk, secrets_for, venue_config

    from tests.fakes import FakeAlpaca, FakeCoinbase

    venue = request.param
    fake = (FakeCoinbase(public_key_pem=coinbase_key[2], key_name=coinbase_key[0])
            if venue == "coinbase" else FakeAlpaca())
    with fake:
        d = Desk(venue, fake, venue_config(make_config, venue, fake),
                 secrets_for(venue, coinbase_key), tmp_path)
        d.start()
        yield d
