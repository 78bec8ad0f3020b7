"""The one trading step, written once over a tiny array-ops namespace.

PortfolioVecEnv runs it on torch tensors (N envs, CPU or CUDA); the backtester runs the
very same function on numpy arrays of one env, where small-array overhead is ~5× lower
than torch's. The semantics are documented in engine.env.vec_env.

Shapes: p, p1, holdings, act (..., A); cash, ew (...). Only operators and the ops below
are used, so torch and numpy agree to rounding (sums may associate differently).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np


@dataclass(frozen=True)
class StepParams:
    max_frac: float
    fee: float
    min_order: float
    scale: float       # reward_scaling / initial_cash


class StepOut(NamedTuple):
    cash: Any
    holdings: Any
    value0: Any        # equity before trading, at p
    value1: Any        # equity after trading, at p1
    reward: Any
    fees: Any
    trades: Any


class TorchOps:
    @staticmethod
    def floor(x: Any, v: float) -> Any:
        return x.clamp(min=v)

    @staticmethod
    def ceil(x: Any, v: float) -> Any:
        return x.clamp(max=v)

    @staticmethod
    def minimum(x: Any, y: Any) -> Any:
        import torch

        return torch.minimum(x, y)

    sfloor = floor
    sceil = ceil

    @staticmethod
    def col(x: Any) -> Any:
        return x[..., None]

    @staticmethod
    def rowsum(x: Any) -> Any:
        return x.sum(-1)

    @staticmethod
    def count(mask: Any) -> Any:
        return mask.sum(-1)


def _np_rowsum(x: Any) -> Any:
    return np.add.reduce(x, axis=-1)  # the bare ufunc: ndarray.sum's wrappers cost ~2 µs


def _col(x: Any) -> Any:
    return x[..., None]


class NumpyOps:
    floor = staticmethod(np.maximum)
    ceil = staticmethod(np.minimum)
    sfloor = staticmethod(np.maximum)   # on per-env values (cash (...,))
    sceil = staticmethod(np.minimum)
    minimum = staticmethod(np.minimum)
    col = staticmethod(_col)            # per-env (...,) -> (..., 1) to broadcast over assets
    rowsum = staticmethod(_np_rowsum)
    count = staticmethod(_np_rowsum)   # add-reducing booleans counts them


def _scalar_floor(x: Any, v: float) -> Any:
    return x if not v > x else v   # np.maximum's choice: x when x >= v or x is NaN


def _scalar_ceil(x: Any, v: float) -> Any:
    return x if not v < x else v   # np.minimum's choice: x when x <= v or x is NaN


def _same(x: Any) -> Any:
    return x


class OneEnvNumpyOps(NumpyOps):
    """NumpyOps for exactly one env (cash a scalar, holdings (A,)): the backtester's path.

    Same numbers as NumpyOps; per-env values stay scalars, so Python comparisons replace
    scalar ufunc calls and broadcasting needs no new axis (each costs ~0.5 µs per bar).
    """

    sfloor = staticmethod(_scalar_floor)
    sceil = staticmethod(_scalar_ceil)
    col = staticmethod(_same)
    rowsum = staticmethod(np.add.reduce)   # 1-D: the default axis 0 is the last axis
    count = staticmethod(np.count_nonzero)   # 1-D: a plain int, ~4× cheaper


def trade_step(ops: Any, prm: StepParams, p: Any, p1: Any, cash: Any, holdings: Any,
               act: Any, ew0: Any, ew1: Any) -> StepOut:
    """Execute actions at prices p, then mark to p1 and score against the benchmark."""
    # With min_order > 0 the "> 0" tests below are implied (prices > 0, holdings >= 0).
    positive_min = prm.min_order > 0
    value0 = cash + ops.rowsum(holdings * p)
    shares = act * ops.col(prm.max_frac * value0) / p

    # Sells first (no shorting); a sell below the minimum order value is skipped.
    sell = ops.minimum(ops.floor(-shares, 0.0), holdings)
    sell_val = sell * p
    sell_ok = sell_val >= prm.min_order
    if not positive_min:
        sell_ok = sell_ok & (sell > 0)
    sell = sell * sell_ok
    sell_val = sell_val * sell_ok   # the same numbers as sell * p after the mask
    holdings = holdings - sell
    sell_total = ops.rowsum(sell_val)
    cash = cash + sell_total * (1.0 - prm.fee)

    # Then buys: skip small ones, scale all down by one factor if the cash is short.
    buy_val = ops.floor(shares, 0.0) * p
    buy_val = buy_val * (buy_val >= prm.min_order)
    need = ops.rowsum(buy_val) * (1.0 + prm.fee)
    factor = ops.sceil(cash / ops.sfloor(need, 1e-300), 1.0)
    buy_val = buy_val * ops.col(factor)
    buy_ok = buy_val >= prm.min_order
    if not positive_min:
        buy_ok = buy_ok & (buy_val > 0)
    buy_val = buy_val * buy_ok
    holdings = holdings + buy_val / p
    buy_total = ops.rowsum(buy_val)
    cash = ops.sfloor(cash - buy_total * (1.0 + prm.fee), 0.0)  # rounding never goes below 0

    value1 = cash + ops.rowsum(holdings * p1)
    reward = ((value1 - value0) - (ew1 - ew0)) * prm.scale
    fees = (sell_total + buy_total) * prm.fee
    trades = ops.count(sell_ok | buy_ok)   # disjoint: a leg sells or buys, never both
    return StepOut(cash, holdings, value0, value1, reward, fees, trades)
