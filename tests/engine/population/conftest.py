"""A tiny study config for population tests (the study tests' TINY, without the search)."""

from __future__ import annotations

import pytest

from engine.data.synthetic import synthetic_candles
from engine.study.objective import prepare_data
from tests.engine.study.tiny import POPULATION_TINY as TINY

__all__ = ["TINY"]


@pytest.fixture
def tiny(make_config):  # type: ignore[no-untyped-def]
    cfg = make_config(TINY)
    return cfg, prepare_data(cfg, synthetic_candles(cfg.data.tickers, 3000, "5m", 7))
