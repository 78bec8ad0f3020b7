"""store.views: the console's read-only snapshot queries, on a real SQLite store."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from store import commands, period, samples, views
from store.db import Store

T = 1_767_225_600.0


@pytest.fixture
def st(tmp_path: Path) -> Store:
    s = Store(tmp_path / "s.db")
    yield s
    s.close()


def _fill(st: Store, fid: str, trader: str, at: float, liq: str = "MAKER", fee: str = "0.10",
          order: str | None = None) -> None:
    with st.write():
        st.conn.execute(
            "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, fee, "
            "liquidity, at) VALUES (?, ?, ?, 'BTC-USD', 'BUY', '0.001', '95000', ?, ?, ?)",
            (fid, trader, order or fid, fee, liq, at))


def _trader(st: Store, name: str, fee_tier: str | None = None) -> None:
    with st.write():
        st.conn.execute(
            "INSERT INTO traders (name, broker, mode, model, tickers, timeframe, capital, "
            "fee_tier, started_at, updated_at) VALUES (?, 'sim', 'paper', 'm', '[]', '5m', "
            "'1000', ?, ?, ?)", (name, fee_tier, T - 86400, T))


def test_last_fills_newest_first_and_bounded(st: Store) -> None:
    for i in range(30):
        _fill(st, f"f{i}", "a" if i % 2 else "b", T + i)
    got = views.last_fills(st, limit=10)
    assert [f.fill_id for f in got] == [f"f{i}" for i in range(29, 19, -1)]
    only_a = views.last_fills(st, limit=100, trader="a")
    assert len(only_a) == 15 and {f.trader for f in only_a} == {"a"}


def _equity(st: Store, trader: str, n: int, step: float = 60.0) -> None:
    with st.write():
        st.conn.executemany(
            "INSERT INTO equity (trader, at, equity, cash, equity_f, benchmark_f, backtest_f) "
            "VALUES (?, ?, '1', '1', ?, ?, ?)",  # the backtest is missing on odd rows
            [(trader, T + i * step, 1000.0 + i, 900.0 + i, None if i % 2 else 1100.0 + i)
             for i in range(n)])


def test_equity_curve_returns_all_points_when_few(st: Store) -> None:
    _equity(st, "a", 50)
    pts = views.equity_curve(st, "a", max_points=100)
    assert [p.at for p in pts] == [T + i * 60.0 for i in range(50)]
    assert pts[-1].equity == 1049.0 and pts[-1].benchmark == 949.0
    assert pts[-1].backtest is None and pts[-2].backtest == 1148.0


def test_equity_curve_downsamples_evenly_and_keeps_the_ends(st: Store) -> None:
    _equity(st, "a", 10_000)
    _equity(st, "b", 10)
    pts = views.equity_curve(st, "a", max_points=100)
    assert 90 <= len(pts) <= 100
    assert pts[0].at == T and pts[-1].at == T + 9_999 * 60.0
    gaps = [b.at - a.at for a, b in zip(pts, pts[1:], strict=False)]
    assert max(gaps) - min(gaps) <= 120.0  # even spacing, within a row or two
    assert all(p.equity == 1000.0 + (p.at - T) / 60.0 for p in pts)  # real rows, not averages
    assert all(p.backtest == (None if (p.at - T) / 60.0 % 2 else p.equity + 100.0) for p in pts)


def test_equity_curve_since_and_unknown_trader(st: Store) -> None:
    _equity(st, "a", 100)
    assert views.equity_curve(st, "nobody") == []
    pts = views.equity_curve(st, "a", max_points=500, since=T + 90 * 60.0)
    assert [p.at for p in pts] == [T + i * 60.0 for i in range(90, 100)]


def _attempt(st: Store, trial: int, attempt: int, state: str, objective: float | None = None,
             study: str = "s") -> None:
    with st.write():
        st.conn.execute(
            "INSERT INTO attempts (study, trial, attempt, state, objective, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?)", (study, trial, attempt, state, objective, T + trial))


def test_trial_counts_use_each_trials_latest_attempt(st: Store) -> None:
    _attempt(st, 0, 0, "COMPLETE", 0.1)
    _attempt(st, 1, 0, "FAILED")
    _attempt(st, 1, 1, "COMPLETE", 0.2)   # retried, now complete
    _attempt(st, 2, 0, "FAILED")
    _attempt(st, 2, 1, "RUNNING")         # retried, running
    _attempt(st, 3, 0, "PRUNED")
    _attempt(st, 4, 0, "FAILED")
    _attempt(st, 5, 0, "RETRYING")
    _attempt(st, 0, 0, "COMPLETE", study="other")
    c = views.trial_counts(st, "s")
    assert (c.total, c.running, c.complete, c.failed, c.pruned, c.retrying, c.retried) == (
        6, 1, 2, 1, 1, 1, 2)
    assert views.trial_counts(st, "none").total == 0


def _mirror(st: Store, trial: int, host: str, state: str = "COMPLETE",
            progress: float = 1.0) -> None:
    """Another host's trial, written the way the study driver's mirror writes it."""
    from store import registry

    registry.upsert_remote_trials(st, [registry.RemoteTrial(
        study="s", trial=trial, state=state, host=host, params={}, objective=None,
        progress=progress, started_at=T + trial, ended_at=None, device="cuda:1")])


def _local_host(st: Store, trial: int, host: str | None) -> None:
    with st.write():
        st.conn.execute("UPDATE attempts SET host = ? WHERE trial = ? AND mirrored = 0",
                        (host, trial))


def test_trial_counts_count_the_hosts_that_ran_the_study(st: Store) -> None:
    assert views.trial_counts(st, "s").hosts == 0  # nothing ran yet
    _attempt(st, 0, 1, "COMPLETE", 0.1)  # an older worker: no host recorded
    assert views.trial_counts(st, "s").hosts == 1
    _mirror(st, 1, "gpu-b")
    _mirror(st, 2, "gpu-c", "RUNNING", 0.4)
    _mirror(st, 3, "gpu-b")
    c = views.trial_counts(st, "s")
    assert (c.hosts, c.total, c.running, c.complete) == (3, 4, 1, 3)  # this host + b + c
    _attempt(st, 4, 1, "COMPLETE", 0.2)
    _local_host(st, 4, "gpu-a")  # a newer worker names this host: still one host here
    _local_host(st, 0, "")       # start_attempt's default when no host is given
    assert views.trial_counts(st, "s").hosts == 3
    _attempt(st, 0, 1, "COMPLETE", study="other")
    _mirror(st, 9, "gpu-z")
    assert views.trial_counts(st, "other").hosts == 1  # other studies' hosts do not count


def test_hosts_of_a_store_that_only_mirrors(st: Store) -> None:
    _mirror(st, 0, "gpu-b")
    _mirror(st, 1, "gpu-c")
    assert views.trial_counts(st, "s").hosts == 2  # this host ran none of them


def test_attempts_carry_where_they_ran(st: Store) -> None:
    _attempt(st, 0, 1, "RUNNING")
    _local_host(st, 0, "gpu-a")
    _mirror(st, 1, "gpu-b", "RUNNING", 0.6)
    page = {a.trial: (a.host, a.mirrored) for a in views.attempts_page(st, "s")}
    assert page == {0: ("gpu-a", 0), 1: ("gpu-b", 1)}
    running = views.running_attempts_all_hosts(st, "s")
    assert [(a.trial, a.host, a.mirrored, a.progress) for a in running] == [
        (0, "gpu-a", 0, 0.0), (1, "gpu-b", 1, 0.6)]
    _mirror(st, 1, "gpu-b", "RUNNING", 0.9)  # the mirror's next poll moves the bar
    assert views.running_attempts_all_hosts(st, "s")[1].progress == 0.9


def test_attempts_page_and_running(st: Store) -> None:
    for t in range(20):
        _attempt(st, t, 0, "RUNNING" if t % 5 == 0 else "COMPLETE", 0.01 * t)
    page = views.attempts_page(st, "s", limit=5, offset=2)
    assert [a.trial for a in page] == [17, 16, 15, 14, 13]
    assert [a.trial for a in views.running_attempts_all_hosts(st, "s")] == [0, 5, 10, 15]


def test_attempts_page_carries_each_models_sharpe_and_benchmarks(st: Store) -> None:
    from store import registry

    for t in range(4):
        _attempt(st, t, 0, "COMPLETE" if t < 3 else "FAILED", 0.1 * t)
    with st.write():
        st.conn.execute("UPDATE attempts SET model_path = 'm/' || trial WHERE trial < 2")
    registry.add_model(st, "m/0", "s", 0, objective=0.0, sharpe=1.2, ew_sharpe=0.4,
                       hodl_sharpe=0.9, data_fingerprint="d", feature_fingerprint="f")
    registry.add_model(st, "m/1", "s", 1, objective=0.1, sharpe=-0.3, ew_sharpe=None,
                       hodl_sharpe=0.2, data_fingerprint="d", feature_fingerprint="f")
    registry.add_model(st, "m/other", "s", 2, objective=0.2, sharpe=5.0, ew_sharpe=5.0,
                       hodl_sharpe=5.0, data_fingerprint="d", feature_fingerprint="f")
    got = {a.trial: (a.sharpe, a.ew_sharpe, a.hodl_sharpe) for a in views.attempts_page(st, "s")}
    # Trial 2's attempt names no model path: a model of another path is not its model.
    assert got == {0: (1.2, 0.4, 0.9), 1: (-0.3, None, 0.2), 2: (None, None, None),
                   3: (None, None, None)}
    seen: list[str] = []
    st.conn.set_trace_callback(seen.append)  # the statement as run, parameters filled in
    views.attempts_page(st, "s", limit=2)
    st.conn.set_trace_callback(None)
    plan = " ".join(r["detail"] for r in st.query(f"EXPLAIN QUERY PLAN {seen[-1]}"))
    assert "SCAN" not in plan and "models" in plan, plan  # index seeks only, however many rows


def test_gpu_latest_one_row_per_gpu_and_history_oldest_first(st: Store) -> None:
    with st.write():
        st.conn.executemany(
            "INSERT INTO gpu_samples (at, gpu, name, mem_used_mb, mem_total_mb, util_pct, "
            "temp_c, resolution) VALUES (?, ?, 'G', ?, 1000, 10, 50, 5)",
            [(T + i, g, 100.0 * g + i) for i in range(50) for g in (0, 1, 3)])
    latest = samples.latest_gpus(st)
    assert [(g.gpu, g.at, g.mem_used_mb) for g in latest] == [
        (0, T + 49, 49.0), (1, T + 49, 149.0), (3, T + 49, 349.0)]
    hist = views.gpu_history(st, 1, limit=5)
    assert [h.at for h in hist] == [T + i for i in range(45, 50)]


def test_gpu_processes_at_the_newest_instant(st: Store) -> None:
    with st.write():
        st.conn.executemany("INSERT INTO gpu_process_samples (at, gpu, pid, process, "
                            "mem_used_mb) VALUES (?, 0, ?, ?, ?)",
                            [(T, 1, "old", 5.0), (T + 5, 2, "trial-0", 900.0),
                             (T + 5, 3, None, 100.0)])
    assert [(p.pid, p.process) for p in views.gpu_processes(st)] == [(2, "trial-0"), (3, None)]


def test_decision_buckets_and_blocked(st: Store) -> None:
    rows = []
    for i in range(48):  # one decision an hour for two days; every 4th passes
        rows.append(("a", T - 48 * 3600 + i * 3600, "BUY", 0.5 + (i % 4 == 0) * 0.3,
                     int(i % 4 == 0)))
    rows.append(("a", T - 10, "HOLD", 0.0, 0))  # holds are not decisions to trade
    with st.write():
        st.conn.executemany(
            "INSERT INTO decisions (trader, bar_at, ticker, action, side, score, f_size, "
            "f_momentum, f_agreement, f_volatility, f_context, passed, reason, at) VALUES "
            "(?, ?, 'BTC-USD', 0.5, ?, ?, 0.1, 0.2, 0.3, 0.4, 0.5, ?, 'low', ?)",
            [(t, at, side, score, passed, at) for t, at, side, score, passed in rows])
    days = period.decision_buckets(st, "a", T - 7 * 86400, T + 1e-9)
    assert sum(b.decisions for b in days) == 48 and sum(b.passed for b in days) == 12
    assert min(b.first_at for b in days) == T - 48 * 3600
    assert period.decision_buckets(st, "b", T - 86400, T) == []
    blocked = views.blocked_decisions(st, "a", limit=3)
    assert len(blocked) == 3 and all(not b.passed and b.side == "BUY" for b in blocked)
    assert blocked[0].at > blocked[1].at and blocked[0].f_context == 0.5


def test_fill_buckets_count_makers_and_fees(st: Store) -> None:
    tier = json.dumps({"pricing_tier": "Intro 2", "maker_fee_rate": "0.004"})
    _trader(st, "a", tier)
    for i in range(10):
        _fill(st, f"f{i}", "a", T - i * 3600, "MAKER" if i < 7 else "TAKER", "0.10")
    _fill(st, "old", "a", T - 40 * 86400, "TAKER", "5")
    buckets = period.fill_buckets(st, "a", T - 30 * 86400, T + 1)
    assert (sum(b.fills for b in buckets), sum(b.maker_fills for b in buckets)) == (10, 7)
    assert sum(Decimal(b.fees) for b in buckets) == Decimal("1.00")


def test_alerts_levels_promotions_and_commands(st: Store) -> None:
    _trader(st, "a")
    _trader(st, "b")
    with st.write():
        st.conn.executemany("INSERT INTO alerts (trader, level, live_sharpe, backtest_sharpe, "
                            "message, at) VALUES (?, ?, 0.1, 1.0, 'm', ?)",
                            [("a", "WARNING", T - 100), ("a", "CRITICAL", T - 50),
                             ("b", "OK", T - 10)])
        st.conn.execute("INSERT INTO promotions (at, kind, subject, trader, gates, passed) "
                        "VALUES (?, 'paper', 's/1', 'a', ?, 0)",
                        (T, json.dumps([{"name": "CPCV objective", "value": -0.1,
                                         "threshold": "> 0", "passed": False}])))
        st.conn.execute("INSERT INTO commands (at, source, action, args, state, result) "
                        "VALUES (?, 'console', 'stop', '{}', 'done', 'stopped')", (T,))
        st.conn.execute("INSERT INTO commands (at, source, action, args) "
                        "VALUES (?, 'console', 'kill', '{}')", (T,))
    assert [(a.trader, a.level) for a in views.latest_alert_per_trader(st)] == [
        ("a", "CRITICAL"), ("b", "OK")]
    assert [a.level for a in views.alerts(st, limit=2)] == ["OK", "CRITICAL"]
    (p,) = views.latest_promotion_per_trader(st)
    assert not p.passed and p.gates[0].name == "CPCV objective" and not p.gates[0].passed
    assert [c.action for c in views.finished_commands(st, [1, 2])] == ["stop"]
    assert [c.id for c in commands.recent_commands(st)] == [2, 1]


def test_views_never_write(st: Store) -> None:
    _trader(st, "a")
    before = st.conn.total_changes
    views.traders(st), views.positions_page(st), views.processes(st), samples.latest_system(st)
    views.study(st), views.studies(st), views.system_history(st), views.promotions(st)
    assert st.conn.total_changes == before


def test_trader_clock_is_the_latest_of_its_own_rows(st: Store) -> None:
    assert views.trader_clock(st, "a") is None  # unknown trader: no clock
    _trader(st, "a")
    assert views.trader_clock(st, "a") is None  # no rows yet
    replay = 1_650_000_000.0  # 2022: a replayed trader's clock
    _fill(st, "f1", "a", replay - 600)
    assert views.trader_clock(st, "a") == replay - 600
    with st.write():
        st.conn.execute("INSERT INTO equity (trader, at, equity, cash, equity_f) VALUES "
                        "('a', ?, '1000', '1000', 1000)", (replay,))
        st.conn.execute("UPDATE traders SET last_bar_at = ? WHERE name = 'a'", (replay - 300,))
    assert views.trader_clock(st, "a") == replay
    _fill(st, "b1", "b", T)  # another trader's rows do not move it
    assert views.trader_clock(st, "a") == replay


def test_study_view_carries_the_evidence_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from store import registry, views
    from store.db import Store

    with Store(tmp_path / "c.db") as st:
        registry.upsert_study(st, "a", "journal", "5m", 3)
        assert views.study(st, "a").evidence_dict is None  # type: ignore[union-attr]
        registry.put_study_evidence(st, "a", json.dumps({"pbo": 0.4, "best": {"trial": 2}}))
        registry.put_study_evidence(st, "b", json.dumps({"pbo": 0.9}))  # another study's
        got = views.study(st)
        assert got is not None and got.name == "a"
        assert got.evidence_dict == {"pbo": 0.4, "best": {"trial": 2}}
        registry.put_study_evidence(st, "a", "not json")
        assert views.study(st, "a").evidence_dict is None  # type: ignore[union-attr]
