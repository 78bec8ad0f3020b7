"""The trivial baselines every trial must beat, scored by the trial's own objective.

All are active returns against the equal-weight benchmark (the same per-bar definition as
engine.env.backtest: the mean of the assets' one-bar price ratios), over the same bars:

  cash          holds cash: active return −EW (it "wins" whenever the market falls);
  hodl          the equal split at the start of each test block, bought and held;
  equal_weight  the benchmark itself: active return 0;
  static_tilt   the buy-and-hold weights (a grid on the simplex in steps of 1/4) with the
                best active Sharpe on the split's *training* bars, held over its test bars.

Holding strategies pay no fees here, like the benchmarks in engine.env.backtest (one entry
trade is a few basis points over thousands of bars).
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np

from engine.study.stats import bar_sharpe

NAMES = ("cash", "hodl", "equal_weight", "static_tilt")
Range = tuple[int, int]


def used_ranges(ranges: tuple[Range, ...], min_start: int) -> list[Range]:
    """The [start, stop) bar ranges a backtest really covers (engine.study.objective.evaluate
    skips ranges under 3 bars and starts no earlier than min_start)."""
    out = []
    for a, b in ranges:
        s = max(a, min_start)
        if b - s >= 3:
            out.append((s, b))
    return out


def bar_index(ranges: list[Range]) -> np.ndarray:
    """The bar each per-bar return starts at, for returns concatenated over `ranges`."""
    return np.concatenate([np.arange(a, b - 1) for a, b in ranges]) if ranges else np.zeros(
        0, dtype=np.int64)


def ew_returns(close: np.ndarray, a: int, b: int) -> np.ndarray:
    out: np.ndarray = (close[a + 1:b] / close[a:b - 1]).mean(axis=1) - 1.0
    return out


def hold_returns(close: np.ndarray, a: int, b: int, weights: np.ndarray) -> np.ndarray:
    """(b − a − 1, K) per-bar returns of buying weights (K, A) at bar a and holding."""
    value = (close[a:b] / close[a]) @ np.asarray(weights, dtype=np.float64).T
    out: np.ndarray = value[1:] / value[:-1] - 1.0
    return out


def tilt_grid(n_assets: int, steps: int = 4) -> np.ndarray:
    """Every weight vector on the simplex with weights in multiples of 1/steps (K, A)."""
    rows = []
    for combo in combinations_with_replacement(range(n_assets), steps):
        w = np.bincount(combo, minlength=n_assets) / steps
        rows.append(w)
    return np.asarray(rows, dtype=np.float64)


def _cat(parts: list[np.ndarray], width: int | None = None) -> np.ndarray:
    if parts:
        return np.concatenate(parts)
    return np.zeros((0,) if width is None else (0, width))


def best_tilt(close: np.ndarray, train: list[Range], grid: np.ndarray) -> np.ndarray:
    """The grid row with the highest active Sharpe over the training ranges."""
    act = _cat([hold_returns(close, a, b, grid) - ew_returns(close, a, b)[:, None]
                for a, b in train], grid.shape[0])
    if act.shape[0] < 2:
        return np.full(close.shape[1], 1.0 / close.shape[1])
    scores = [bar_sharpe(act[:, k]) for k in range(grid.shape[0])]
    row: np.ndarray = grid[int(np.argmax(scores))]
    return row


def baseline_actives(close: np.ndarray, train: tuple[Range, ...], test: tuple[Range, ...],
                     min_start: int) -> tuple[np.ndarray, np.ndarray]:
    """(4, n) active returns of NAMES over the test bars, and the static tilt's weights."""
    close = np.asarray(close, dtype=np.float64)
    n_assets = close.shape[1]
    tilt = best_tilt(close, used_ranges(train, min_start), tilt_grid(n_assets))
    eq = np.full((1, n_assets), 1.0 / n_assets)
    rows: list[list[np.ndarray]] = [[], [], [], []]
    for a, b in used_ranges(test, min_start):
        ew = ew_returns(close, a, b)
        rows[0].append(-ew)
        rows[1].append(hold_returns(close, a, b, eq)[:, 0] - ew)
        rows[2].append(np.zeros_like(ew))
        rows[3].append(hold_returns(close, a, b, tilt[None, :])[:, 0] - ew)
    return np.stack([_cat(r) for r in rows]), tilt
