"""Kept for callers on other branches (engine/monitor); the metrics live in engine.metrics."""

from engine.metrics import (
    SECONDS_PER_YEAR,
    periods_per_year,
    returns_from_equity,
    sharpe,
    sharpe_of_equity,
)

__all__ = ["SECONDS_PER_YEAR", "periods_per_year", "returns_from_equity", "sharpe",
           "sharpe_of_equity"]
