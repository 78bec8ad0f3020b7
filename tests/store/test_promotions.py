"""store.promotions: the facts the promotion gates read."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from store import promotions as prom
from store.db import Store
from store.trading import insert_equity, insert_fill

T = 1_767_225_600.0


def _attempt(s: Store, trial: int, attempt: int, state: str, objective: float | None,
             mirrored: int = 0) -> None:
    s.conn.execute(
        "INSERT INTO attempts (study, trial, attempt, state, objective, model_path, started_at, "
        "mirrored) VALUES ('s', ?, ?, ?, ?, ?, ?, ?)",
        (trial, attempt, state, objective, f"/m/{trial}/{attempt}", T, mirrored))


def test_trial_facts_prefer_the_completed_attempt_and_hide_mirrored_paths(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        with s.write():
            _attempt(s, 1, 0, "COMPLETE", 0.5)
            _attempt(s, 1, 1, "FAILED", None)       # a later retry failed: the model stands
            _attempt(s, 2, 0, "COMPLETE", 0.9, mirrored=1)
            s.conn.executemany(
                "INSERT INTO models (path, study, trial, objective, sharpe, created_at) "
                "VALUES (?, 's', ?, ?, ?, ?)",
                [("/m/a", 3, 0.2, 1.5, T), ("/m/b", 3, 0.7, None, T + 1), ("/m/c", 4, 0.4, 2.0, T)])
        one = prom.trial_attempt(s, "s", 1)
        assert one is not None and (one.state, one.objective, one.model_path) == (
            "COMPLETE", 0.5, "/m/1/0")
        mirrored = prom.trial_attempt(s, "s", 2)
        assert mirrored is not None and mirrored.model_path is None  # its file is elsewhere
        assert prom.trial_attempt(s, "s", 9) is None
        newest = prom.trial_model(s, "s", 3)
        assert newest is not None and (newest.path, newest.objective) == ("/m/b", 0.7)
        assert prom.top_model_trials(s, "s", 2) == [3, 4]
        assert prom.model_sharpe(s, "/m/a") == 1.5 and prom.model_sharpe(s, "/m/b") is None


def test_equity_and_fill_facts(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        with s.write():
            for i, eq in enumerate(("100", "90", "120", "110")):
                insert_equity(s, "a", T + i * 3600, Decimal(eq), Decimal(eq), None)
            for i, order in enumerate(("o1", "o1", "o2")):  # two fills of one order count once
                insert_fill(s, fill_id=f"f{i}", trader="a", client_order_id=order,
                            ticker="BTC-USD", side="BUY", qty=Decimal("1"), price=Decimal("1"),
                            fee=Decimal("0"), liquidity="MAKER", realized_pnl=None,
                            at=T + i * 3600)
        assert prom.equity_points(s, "a")[1] == (T + 3600, 90.0)
        assert prom.first_equity_at(s, "a") == T and prom.first_equity_at(s, "b") is None
        assert prom.equity_bounds(s, "a", T, T + 3 * 3600) == (100.0, 120.0)
        assert prom.equity_bounds(s, "a", T + 9e6, T + 1e7) is None
        assert prom.orders_filled_since(s, "a", T) == 2
        assert prom.orders_filled_since(s, "a", T + 2 * 3600) == 1
