"""Kept for callers on other branches (engine/reports/replay.py); see engine.metrics."""

from engine.metrics import (
    bar_seconds_of,
    daily_pnl,
    drawdown,
    max_drawdown,
    returns,
    sharpe,
    sharpe_se,
    sortino,
)

__all__ = ["returns", "sharpe", "sharpe_se", "sortino", "drawdown", "max_drawdown",
           "bar_seconds_of", "daily_pnl"]
