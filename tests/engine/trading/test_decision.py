"""The shared BUY/SELL/HOLD rule: hand-computed cases, and the replay uses the trader's copy."""

from __future__ import annotations

import pytest

from engine.trading.decision import decision_side, order_shares


@pytest.mark.parametrize(("action", "price", "held", "side"), [
    (0.5, 100.0, 0.0, "BUY"),      # 0.5 * 0.1 * 1000 = 50 USD >= 1
    (0.005, 100.0, 0.0, "HOLD"),   # 0.5 USD < min order 1
    (0.0, 100.0, 1.0, "HOLD"),
    (-0.5, 100.0, 0.0, "HOLD"),    # nothing to sell (no shorting)
    (-0.5, 100.0, 0.2, "SELL"),    # sells min(0.5, 0.2) = 0.2 -> 20 USD
    (-0.5, 100.0, 0.005, "HOLD"),  # the sellable part is worth 0.5 USD
    (0.5, 0.0, 0.0, "HOLD"),       # no price
])
def test_sides(action: float, price: float, held: float, side: str) -> None:
    assert decision_side(action, price, held, 1000.0, 0.1, 1.0) == side


def test_shares_and_one_copy() -> None:
    from engine.reports import replay
    from engine.trading import trader

    assert order_shares(-0.5, 100.0, 1000.0, 0.1) == pytest.approx(-0.5)
    assert replay.decision_side is decision_side and trader.decision_side is decision_side
