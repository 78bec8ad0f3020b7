"""The console's loader: one snapshot of every pane, in a thread or in its own process."""

from __future__ import annotations

from typing import Any

from console.data import Loader, ProcessLoader
from engine.bench.console import T0
from store.db import Store


def test_thread_loader_snapshot(env: Any) -> None:
    loader = Loader(env.db, clock=lambda: T0, proc_stats=lambda pid, ct: _stats(pid))
    snap = loader.load()
    loader.close()
    assert snap.error is None
    assert snap.study is not None and snap.study.name == "btc-5m"
    assert snap.counts is not None and snap.counts.running == 2
    assert {p.name for p in snap.processes} >= {"supervisor", "trial-0", "notifier"}
    fatal = next(p for p in snap.processes if p.name == "notifier")
    assert fatal.pid is None and fatal.cpu_pct is None  # not running: no psutil lookup
    assert next(p for p in snap.processes if p.name == "monitor").last_log.endswith(
        "last line of monitor")
    assert [g.gpu for g in snap.gpus] == [0] and len(snap.gpu_history[0]) == 60
    assert {t.name for t in snap.traders} == {"paper-1", "paper-2"}
    eq = dict(snap.equity)
    assert 0 < len(eq["paper-1"]) <= 240 and eq["paper-1"][-1].at <= T0
    ex = {e.trader: e for e in snap.execution}
    assert (ex["paper-1"].fills, ex["paper-1"].maker_fills) == (12, 9)
    assert {a.trader: a.level for a in snap.levels} == {"paper-1": "OK", "paper-2": "CRITICAL"}


def _stats(pid: int | None) -> Any:
    from console.procinfo import ProcStats

    return ProcStats(1.0, 2.0) if pid else ProcStats(None, None)


def test_execution_cache_sees_new_fills(env: Any) -> None:
    loader = Loader(env.db, clock=lambda: T0, proc_stats=lambda pid, ct: _stats(pid))
    first = {e.trader: e for e in loader.load().execution}["paper-1"]
    with Store(env.db) as st, st.write():
        st.conn.execute(
            "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, fee, "
            "liquidity, at) VALUES ('new', 'paper-1', 'o-new', 'BTC-USD', 'BUY', '1', '1', "
            "'2.5', 'TAKER', ?)", (T0 - 1,))
    second = {e.trader: e for e in loader.load().execution}["paper-1"]
    loader.close()
    assert second.fills == first.fills + 1 and second.maker_fills == first.maker_fills
    from decimal import Decimal

    assert Decimal(second.fees_paid) - Decimal(first.fees_paid) == Decimal("2.5")


def test_process_loader_matches_thread_loader(env: Any) -> None:
    pl = ProcessLoader(env.db, clock=lambda: T0)
    try:
        snap = pl.load()
        again = pl.load("btc-5m", (1, 2))
    finally:
        pl.close()
    assert snap.error is None and again.error is None
    assert snap.counts == again.counts and snap.counts is not None
    thread = Loader(env.db, clock=lambda: T0).load()
    assert snap.attempts == thread.attempts and snap.traders == thread.traders


def test_process_loader_reports_a_missing_store(tmp_path: Any) -> None:
    pl = ProcessLoader(tmp_path / "none.db", clock=lambda: T0)
    try:
        snap = pl.load()
    finally:
        pl.close()
    assert snap.error is not None and "store not found" in snap.error
