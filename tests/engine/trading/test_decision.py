"""The shared BUY/SELL/HOLD rule: hand-computed cases, and one decision function."""

from __future__ import annotations

import numpy as np
import pytest

from engine.env.step import CASH_MARGIN, StepParams
from engine.trading.decision import bar_orders, decision_side, order_shares

DELTA = StepParams(max_frac=0.1, fee=0.0, min_order=1.0, scale=0.0)
WEIGHTS = StepParams(max_frac=0.1, fee=0.0, min_order=1.0, scale=0.0, weights=True, band=0.5)


@pytest.mark.parametrize(("action", "price", "held", "side"), [
    (0.5, 100.0, 0.0, "BUY"),      # 0.5 * 0.1 * 1000 = 50 USD >= 1
    (0.005, 100.0, 0.0, "HOLD"),   # 0.5 USD < min order 1
    (0.0, 100.0, 1.0, "HOLD"),
    (-0.5, 100.0, 0.0, "HOLD"),    # nothing to sell (no shorting)
    (-0.5, 100.0, 0.2, "SELL"),    # sells min(0.5, 0.2) = 0.2 -> 20 USD
    (-0.5, 100.0, 0.005, "HOLD"),  # the sellable part is worth 0.5 USD
    (0.5, 0.0, 0.0, "HOLD"),       # no price
])
def test_sides_delta_mapping(action: float, price: float, held: float, side: str) -> None:
    shares = order_shares(DELTA, np.array([action]), np.array([price]), np.array([held]), 1000.0)
    assert decision_side(float(shares[0]), price, held, 1.0) == side


def test_sides_target_weights() -> None:
    """Two tickers at 100 and 50, equity 1000, band 0.5 / 2 = 0.25 of equity."""
    prices = np.array([100.0, 50.0])
    cash_only = order_shares(WEIGHTS, np.zeros(2), prices, np.zeros(2), 1000.0)
    np.testing.assert_allclose(cash_only, np.array([5.0, 10.0]) * (1 - CASH_MARGIN))  # EW
    held = np.array([5.0, 10.0])                                # at equal weight already
    quiet = order_shares(WEIGHTS, np.array([0.3, -0.3]), prices, held, 1000.0)
    assert [decision_side(float(s), p, h, 1.0) for s, p, h in zip(quiet, prices, held,
                                                                   strict=True)] == ["HOLD"] * 2
    moved = order_shares(WEIGHTS, np.array([1.0, -1.0]), prices, held, 1000.0)
    np.testing.assert_allclose(moved, [0.0, -10.0])   # to 0 % now; the buy waits for cash
    assert decision_side(float(moved[1]), 50.0, 10.0, 1.0) == "SELL"


def test_shares_and_one_copy() -> None:
    """The trader, the replay and backtest's walk, and the shadow backtest decide with one
    function (tests/engine/trading/test_decide.py checks they produce the same intents)."""
    from engine.reports import walk
    from engine.trading import decide, shadow, trader

    assert order_shares(DELTA, np.array([-0.5]), np.array([100.0]), np.zeros(1),
                        1000.0)[0] == pytest.approx(-0.5)
    assert decide.decision_side is decision_side and decide.bar_orders is bar_orders
    assert walk.decide_bar is decide.decide_bar is trader.decide_bar is shadow.decide_bar
