"""The per-ticker trading rule the trader and the conviction replay share (one copy).

The model's mean actions become signed share quantities through the model's own action
mapping (engine.env.step.desired_shares, the training env's code, at the bar's close):
target weights with a no-trade band, or the original delta mapping. BUY when a ticker's
quantity is a buy of at least min_order; SELL when it is a sell, something is held, and the
part that can be sold (no shorting) is worth at least min_order; else HOLD. This is also the
env step's min-order rule before its cash cap.
"""

from __future__ import annotations

import numpy as np

from engine.env.step import NumpyOps, StepParams, desired_shares


def order_shares(prm: StepParams, actions: np.ndarray, prices: np.ndarray,
                 holdings: np.ndarray, equity: float) -> np.ndarray:
    """Signed quantity per ticker the actions ask for (0 where a price is missing)."""
    p = np.asarray(prices, dtype=np.float64)
    ok = p > 0
    safe = np.where(ok, p, 1.0)
    shares = desired_shares(NumpyOps, prm, safe, np.float64(equity),
                            np.asarray(holdings, dtype=np.float64) * ok,
                            np.asarray(actions, dtype=np.float64))
    return np.where(ok, shares, 0.0)


def decision_side(shares: float, price: float, held: float, min_order: float) -> str:
    """BUY / SELL / HOLD for one ticker (see the module docstring)."""
    if price <= 0:
        return "HOLD"
    if shares > 0 and shares * price >= min_order:
        return "BUY"
    if shares < 0 and held > 0 and min(-shares, held) * price >= min_order:
        return "SELL"
    return "HOLD"


def bar_orders(prm: StepParams, actions: np.ndarray, members: np.ndarray, prices: np.ndarray,
               holdings: np.ndarray, equity: float) -> tuple[np.ndarray, np.ndarray]:
    """(orders (A,), each ensemble member's own orders (M, A)) through the model's mapping."""
    orders = order_shares(prm, actions, prices, holdings, equity)
    own = np.stack([order_shares(prm, np.clip(m, -1.0, 1.0), prices, holdings, equity)
                    for m in np.atleast_2d(members)])
    return orders, own


def size_unit(prm: StepParams, equity: float, n_assets: int) -> float:
    """A full-size trade: one equal-weight share (target weights) or max_frac x equity."""
    return equity / n_assets if prm.weights else prm.max_frac * equity
