"""store.period: one trader's period in plain rows."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from store import period
from store.db import Store
from store.trading import DecisionRecord, insert_decisions, insert_equity, insert_fill

T = 1_767_225_600.0


def test_period_readers_keep_to_the_half_open_window(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s, s.write():
        for i, eq in enumerate(("100", "101", "99")):
            insert_equity(s, "a", T + i * 300, Decimal(eq), Decimal(eq), None)
        for i, liq in enumerate(("MAKER", "TAKER", "MAKER")):
            insert_fill(s, fill_id=f"f{i}", trader="a", client_order_id=f"o{i}", ticker="BTC-USD",
                        side="BUY", qty=Decimal("0.5"), price=Decimal("100"), fee=Decimal("0.1"),
                        liquidity=liq, realized_pnl=None, at=T + i * 300)
        insert_decisions(s, "a", [
            DecisionRecord(T, "BTC-USD", 0.5, "BUY", 0.8, 0, 0, 0, 0, 0, True, "ok"),
            DecisionRecord(T, "BTC-USD", 0.5, "SELL", 0.4, 0, 0, 0, 0, 0, False, "low"),
            DecisionRecord(T, "BTC-USD", 0.0, "HOLD", 0.0, 0, 0, 0, 0, 0, False, "hold")], T)
    with Store(tmp_path / "s.db") as s:
        end = T + 600  # the third point is at the end: outside
        assert [p[1] for p in period.equity_in(s, "a", T, end)] == [100.0, 101.0]
        assert period.last_equity_at(s, "a") == T + 600
        assert period.fill_count(s, "a", T, end) == 2
        assert period.fill_volume(s, "a", T, end) == 100.0
        assert [f.liquidity for f in period.fills_in(s, "a", T, end)] == ["MAKER", "TAKER"]
        dec = period.decision_totals(s, "a", T, end)
        assert (dec.decisions, dec.passed) == (2, 1)
        assert period.decision_totals(s, "a", T, end, trades_only=False).decisions == 3
        assert period.daily_pass_rate(s, "a", T, end) == [("2026-01-01", 0.5)]
        assert period.alert_counts(s, T, end) == [] and period.attempts_ended(s, T, end) == []
