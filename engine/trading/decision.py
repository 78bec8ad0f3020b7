"""The per-ticker trading rule the trader and the conviction replay share (one copy).

A mean action a in [-1, 1] asks for a * max_frac * equity worth of the ticker (the training
env's sizing, engine.env.step.trade_step). BUY when that is a buy of at least min_order; SELL
when it is a sell, something is held, and the part that can be sold (no shorting) is worth
at least min_order; else HOLD. This is also the env step's min-order rule before its cash cap.
"""

from __future__ import annotations


def order_shares(action: float, price: float, equity: float, max_frac: float) -> float:
    """Signed quantity the action asks for (0 without a price)."""
    return action * max_frac * equity / price if price > 0 else 0.0


def decision_side(action: float, price: float, held: float, equity: float, max_frac: float,
                  min_order: float) -> str:
    """BUY / SELL / HOLD for one ticker (see the module docstring)."""
    shares = order_shares(action, price, equity, max_frac)
    if shares > 0 and shares * price >= min_order:
        return "BUY"
    if shares < 0 and held > 0 and min(-shares, held) * price >= min_order:
        return "SELL"
    return "HOLD"
