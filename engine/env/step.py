"""The one trading step, written once over a tiny array-ops namespace.

PortfolioVecEnv runs it on torch tensors (N envs, CPU or CUDA); the backtester runs the
very same function on numpy arrays of one env, where small-array overhead is ~5× lower
than torch's. The semantics are documented in engine.env.vec_env.

Shapes: p, p1, holdings, act (..., A); cash, ew (...). Only operators and the ops below
are used, so torch and numpy agree to rounding (sums may associate differently).

Costs: `fee` is everything one side of a trade pays per unit of notional, the broker's fee
plus half its spread (engine.env.costs: one place defines them, from the target broker).

Action mappings (a model records its own, `action_mapping` in its env config):
  weights  target weights: w_a = (1 + action_a) / A, scaled down to sum to 1 when they sum
           above it (the rest is cash). Action 0 is the equal-weight portfolio. A ticker
           trades only when its target differs from its current weight by more than
           no_trade_band / A (the band, in equal-weight shares), and then to the target.
           Doing nothing is easy: small or noisy actions stay inside the band. Buys spend
           only the cash held before the bar's sells (their proceeds buy the next bar), as
           the live trader's do.
  delta    (the original mapping, kept for comparison and for older models) each action
           trades action · max_trade_fraction · equity worth of the ticker every bar.
Execution delay (`execution_delay`): the orders decided at bar t fill at bar t+1's price
(sized by the equity there), and the reward still counts the move from t; off: at t's price.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# What a model that records no such key was trained with (older model directories).
LEGACY_ENV: dict[str, Any] = {"action_mapping": "delta", "no_trade_band": 0.0,
                              "execution_delay": False, "spread_bps": 0.0, "fee_rate": 0.0025,
                              "max_trade_fraction": 0.1, "min_order_value": 1.0}

# Keys a model owns: the trader, replay and backtests use the model's recorded values (its
# mapping and the costs it was trained at), so a trader's config never refuses a model on them.
MODEL_ENV_KEYS = frozenset({"costs_from", "fee_rate", "spread_bps", "execution_delay",
                            "action_mapping", "no_trade_band"})

# Weights mapping: buys leave this share of the cash unspent, so quote and size rounding
# (a live order at the ask, rounded up to the quote increment) never overdraws the account.
CASH_MARGIN = 1e-3


@dataclass(frozen=True)
class StepParams:
    max_frac: float
    fee: float           # per side, per unit notional: fee rate + half the spread
    min_order: float
    scale: float         # reward_scaling / initial_cash
    weights: bool = False    # action mapping: target weights (True) or delta (False)
    band: float = 0.0        # weights: no-trade band in equal-weight shares (x 1/A)
    delay: bool = False      # fill at the next bar's price


def env_value(env: Any, key: str) -> Any:
    """A key of an env config: a model's recorded dict (missing keys: LEGACY_ENV) or an
    [env] section."""
    if isinstance(env, Mapping):
        return env.get(key, LEGACY_ENV.get(key))
    return getattr(env, key)


def step_params(env: Any, scale: float = 0.0) -> StepParams:
    """StepParams of an env config (see env_value). A fee or spread left unset (a bare
    EnvSection; a loaded config always has them) is the paper sim's default."""
    from engine.config.schema import TraderSection

    fee, spread = env_value(env, "fee_rate"), env_value(env, "spread_bps")
    fee = TraderSection().sim_taker_fee_rate if fee is None else fee
    spread = TraderSection().sim_spread_bps if spread is None else spread
    return StepParams(max_frac=float(env_value(env, "max_trade_fraction")),
                      fee=float(fee) + float(spread) / 20_000.0,
                      min_order=float(env_value(env, "min_order_value")), scale=float(scale),
                      weights=env_value(env, "action_mapping") == "weights",
                      band=float(env_value(env, "no_trade_band")),
                      delay=bool(env_value(env, "execution_delay")))


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


# The ops are the bare ufuncs (no wrapper call per op); typed loosely so a subclass may
# swap one for a scalar twin.
_Op = Callable[..., Any]


class NumpyOps:
    floor: _Op = staticmethod(np.maximum)
    ceil: _Op = staticmethod(np.minimum)
    sfloor: _Op = staticmethod(np.maximum)   # on per-env values (cash (...,))
    sceil: _Op = staticmethod(np.minimum)
    minimum: _Op = staticmethod(np.minimum)
    col: _Op = staticmethod(_col)            # per-env (...,) -> (..., 1) to broadcast over assets
    rowsum: _Op = staticmethod(_np_rowsum)
    count: _Op = staticmethod(_np_rowsum)   # add-reducing booleans counts them


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


def desired_shares(ops: Any, prm: StepParams, px: Any, value: Any, holdings: Any,
                   act: Any) -> Any:
    """Signed shares the actions ask for at prices px and equity `value` (the mapping)."""
    if not prm.weights:
        return act * ops.col(prm.max_frac * value) / px
    n = act.shape[-1]
    held = holdings * px
    target = (1.0 + act) * (1.0 / n)
    target = target / ops.col(ops.sfloor(ops.rowsum(target), 1.0))   # at most fully invested
    trade_val = target * ops.col(value) - held
    trade_val = trade_val * (abs(trade_val) > ops.col(value * (prm.band / n)))
    # Buys spend only the cash held before this bar's sells (a live trader places its buys
    # before its sells' proceeds arrive), all scaled down by one factor when it is short.
    buys = ops.floor(trade_val, 0.0)
    cash = ops.sfloor(value - ops.rowsum(held), 0.0) * (1.0 - CASH_MARGIN)
    factor = ops.sceil(cash / ops.sfloor(ops.rowsum(buys) * (1.0 + prm.fee), 1e-300), 1.0)
    return (trade_val + buys * (ops.col(factor) - 1.0)) / px


def trade_step(ops: Any, prm: StepParams, p: Any, p1: Any, cash: Any, holdings: Any,
               act: Any, ew0: Any, ew1: Any, keep: Any = None) -> StepOut:
    """Execute actions at prices p (p1 with prm.delay), then mark to p1 and score against
    the benchmark. keep: an optional 0/1 mask per ticker; 0 places no order (a filter)."""
    # With min_order > 0 the "> 0" tests below are implied (prices > 0, holdings >= 0).
    positive_min = prm.min_order > 0
    value0 = cash + ops.rowsum(holdings * p)
    if prm.delay:
        p, value_x = p1, cash + ops.rowsum(holdings * p1)
    else:
        value_x = value0
    shares = desired_shares(ops, prm, p, value_x, holdings, act)
    if keep is not None:
        shares = shares * keep

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
