"""The console's loader: one snapshot of every pane, in a thread or in its own process."""

from __future__ import annotations

from typing import Any

from console.bench import T0
from console.data import Loader, ProcessLoader
from store.db import Store


def test_thread_loader_snapshot(env: Any) -> None:
    loader = Loader(env.db, clock=lambda: T0, proc_stats=lambda pid, ct: _stats(pid))
    snap = loader.load()
    loader.close()
    assert snap.error is None
    assert snap.study is not None and snap.study.name == "btc-5m"
    assert snap.counts is not None and snap.counts.running == 4  # 2 here, 2 mirrored
    assert snap.counts.hosts == 3
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


def _replay_trader(db: Any, name: str, mode: str, clock: float) -> None:
    """A trader whose rows lie on its own clock (a replay in 2022), years behind T0."""
    with Store(db) as st, st.write():
        c = st.conn
        c.execute("INSERT INTO traders (name, broker, mode, model, tickers, timeframe, capital, "
                  "last_bar_at, started_at, updated_at) VALUES (?, 'sim', ?, 'm', "
                  "'[\"BTC-USD\"]', '5m', '1000', ?, ?, ?)", (name, mode, clock - 300, T0, T0))
        for k in range(10):  # fills over its last 5 days; one 40 days back (outside 30 days)
            at = clock - k * 12 * 3600 if k < 9 else clock - 40 * 86400
            c.execute("INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, "
                      "price, fee, liquidity, at) VALUES (?, ?, ?, 'BTC-USD', 'BUY', '0.001', "
                      "'40000', '0.10', ?, ?)", (f"{name}-{k}", name, f"{name}-o{k}",
                                                  "MAKER" if k % 3 else "TAKER", at))
        for k in range(8):  # decisions over its last 4 days; every other passes
            at = clock - k * 12 * 3600
            c.execute("INSERT INTO decisions (trader, bar_at, ticker, action, side, score, "
                      "f_size, f_momentum, f_agreement, f_volatility, f_context, passed, at) "
                      "VALUES (?, ?, 'BTC-USD', 0.5, 'BUY', ?, 0.5, 0.5, 0.5, 0.5, 0.5, ?, ?)",
                      (name, at, 0.4 + 0.4 * (k % 2), k % 2, at))
        c.execute("INSERT INTO equity (trader, at, equity, cash, equity_f) VALUES "
                  "(?, ?, '1000', '1000', 1000)", (name, clock))


def test_replay_trader_windows_end_at_its_own_clock(env: Any) -> None:
    replay = 1_650_000_000.0  # 2022-04-15: the demo's simulated trader replays the past
    _replay_trader(env.db, "replay-1", "paper", replay)
    _replay_trader(env.db, "live-1", "live", replay)  # a live trader keeps the wall clock
    loader = Loader(env.db, clock=lambda: T0, proc_stats=lambda pid, ct: _stats(pid))
    snap = loader.load()
    again = loader.load()  # the second load serves settled days from the cache
    loader.close()
    assert snap.error is None
    for s in (snap, again):
        ex = {e.trader: e for e in s.execution}
        assert (ex["replay-1"].fills, ex["replay-1"].maker_fills) == (9, 6)
        assert ex["replay-1"].since < replay < T0
        assert ex["live-1"].fills == 0  # the wall clock's last 30 days hold none of its rows
        cv = {c.trader: c for c in s.conviction}
        assert (cv["replay-1"].decisions, cv["replay-1"].passed) == (8, 4)
        assert cv["live-1"].decisions == 0
        # The fixture's own traders write on the wall clock: unchanged.
        assert (ex["paper-1"].fills, ex["paper-1"].maker_fills) == (12, 9)
    assert dict(snap.clocks) == {"replay-1": replay}


def test_replay_clock_going_back_drops_cached_days(env: Any) -> None:
    replay = 1_650_000_000.0
    _replay_trader(env.db, "replay-1", "paper", replay)
    loader = Loader(env.db, clock=lambda: T0, proc_stats=lambda pid, ct: _stats(pid))
    assert {e.trader: e for e in loader.load().execution}["replay-1"].fills == 9
    with Store(env.db) as st, st.write():  # the replay restarts 20 days earlier: rows start over
        for table in ("fills", "decisions", "equity"):
            st.conn.execute(f"DELETE FROM {table} WHERE trader = 'replay-1'")
        st.conn.execute("DELETE FROM traders WHERE name = 'replay-1'")
    earlier = replay - 20 * 86400
    _replay_trader(env.db, "replay-1", "paper", earlier)
    ex = {e.trader: e for e in loader.load().execution}["replay-1"]
    loader.close()
    # Stale days kept from the first run (empty there, full now) would give fewer fills.
    assert ex.fills == 9 and ex.since < earlier


async def test_execution_pane_says_which_traders_run_on_their_own_clock(env: Any) -> None:
    from textual.widgets import Static

    _replay_trader(env.db, "replay-1", "paper", 1_650_000_000.0)
    app = env.app()
    async with app.run_test(size=(160, 48)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("6")
        await pilot.pause()
        note = str(app.query_one("#execution-note", Static).render())
        assert "replay-1 2022-04-15" in note and "paper-1" not in note


def test_quantities_reach_the_panes_on_each_traders_increment(env: Any) -> None:
    """paper-1 recorded 0.001 ETH and 0.0001 BTC steps; paper-2 recorded none (8 decimals)."""
    from decimal import Decimal

    from store.increments import ProductIncrement, record_increments

    with Store(env.db) as st:
        with st.write():
            st.conn.execute("UPDATE positions SET qty = '0.0123456789999'")
            st.conn.execute("UPDATE fills SET qty = '0.0123456789999'")
        record_increments(st, [
            ProductIncrement("paper-1", "BTC-USD", "sim", "0.0001", "0.01", None, None, T0),
            ProductIncrement("paper-1", "ETH-USD", "sim", "0.001", "0.01", None, None, T0)])
    loader = Loader(env.db, clock=lambda: T0, proc_stats=lambda pid, ct: _stats(pid))
    snap = loader.load()
    loader.close()
    want = {("paper-1", "BTC-USD"): "0.0123", ("paper-1", "ETH-USD"): "0.012"}
    assert snap.positions and snap.fills and snap.trips
    for p in snap.positions:
        assert p.qty == want.get((p.trader, p.ticker), "0.01234567"), p
    for f in snap.fills:
        assert f.qty == want.get((f.trader, f.ticker), "0.01234567"), f
    for t in snap.trips:
        assert t.qty == Decimal(want.get((t.trader, t.ticker), "0.01234567")), t
