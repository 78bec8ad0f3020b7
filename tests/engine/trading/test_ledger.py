"""Average-cost ledger: buy fees in the basis, realised PnL on sells, broker quantity wins."""

from __future__ import annotations

from decimal import Decimal as D

from engine.trading.ledger import Ledger


def test_average_cost_and_realised_pnl() -> None:
    led = Ledger()
    assert led.apply("BTC-USD", "BUY", D("1"), D("100"), D("1")) is None
    led.apply("BTC-USD", "BUY", D("1"), D("110"), D("1"))
    lot = led.lot("BTC-USD")
    assert lot.qty == 2 and lot.avg_price == D("106")  # (100 + 1 + 110 + 1) / 2
    pnl = led.apply("BTC-USD", "SELL", D("0.5"), D("120"), D("0.5"))
    assert pnl == D("6.5")  # (120 - 106) * 0.5 - 0.5
    assert lot.qty == D("1.5") and lot.unrealized(D("100")) == D("-9")
    led.apply("BTC-USD", "SELL", D("1.5"), D("100"), D("0"))
    assert lot.qty == 0 and lot.avg_price == 0 and lot.realized == D("6.5") - D("9")
