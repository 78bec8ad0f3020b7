"""Thinning a trader's per-bar rows ([retention] trading_days): every figure that reads them
is computed on a real store before and after a sweep, and none changes for its window."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.bench.books import BARS_PER_DAY, TICKERS, write_days
from engine.config import Config, ConfigError
from engine.metrics import series_sharpe
from engine.monitor.cycle import evaluate, latest_equity_at, load_traders, read_equity
from engine.promote import paper_facts
from engine.reports.export import load_frame
from engine.reports.report import build_reports, render_text
from engine.supervisor import retention
from engine.trading.trader import _blocked_exits
from store import period, thinning, views
from store import trading as st
from store.db import Store

DAY = 86400.0
ROOT = Path(__file__).resolve().parents[3]


def _trader(store: Store, name: str) -> None:
    with store.write():
        st.upsert_trader(store, name, broker="sim", mode="paper", model="m", study=None,
                         trial=None, tickers=TICKERS, timeframe="5m", capital=Decimal(1000),
                         backtest_sharpe=0.5)


def figures(cfg: Config, store: Store, name: str, cutoff: float) -> dict[str, Any]:
    """What the reports, the monitor, the console, the conviction filter and the gate read,
    for the windows they cover (all inside the trader's full-resolution window)."""
    end = latest_equity_at(store, name, time.time())
    assert end is not None
    m = cfg.monitor
    at, eq = read_equity(store, name, end - (m.window_hours + m.emergency_sustain_h) * 3600,
                         end)
    [info] = [t for t in load_traders(store) if t.name == name]
    month = end - 30 * DAY
    out: dict[str, Any] = {
        f"report {p}": render_text(build_reports(store, p, name)) for p in ("day", "week",
                                                                            "month")}
    out |= {
        "monitor": evaluate(cfg, info, at, eq, end),
        "pass rate by day": period.daily_pass_rate(store, name, month, end + 1),
        "decision totals": period.decision_totals(store, name, month, end + 1),
        "equity month": period.equity_in(store, name, month, end + 1),
        "console decision days": period.decision_buckets(store, name, cutoff, end + 1),
        "console fill days": period.fill_buckets(store, name, 0, end + 1),
        "console blocked": views.blocked_decisions(store, name),
        "chart in window": [p for p in views.equity_curve(store, name) if p.at >= cutoff],
        "status equity": st.equity_series(store, name, 500),
        "decision span": st.decision_span(store, name, since=cutoff),
        "blocked exits": _blocked_exits(store, name),
        "sell verdicts": st.recent_sell_verdicts(store, name),
        "fills": st.list_fills(store, name),
        "orders": st.list_orders(store, name, limit=100_000),
        "first equity": store.query("SELECT * FROM equity WHERE trader = ? ORDER BY at "
                                    "LIMIT 1", (name,))[0][:],
    }
    # exports: the window's per-bar rows, and the books whole
    for what in ("equity", "decisions"):
        out[f"export {what}"] = load_frame(store, what, since=cutoff, trader=name).to_csv()
    for what in ("fills", "orders"):
        out[f"export {what}"] = load_frame(store, what, trader=name).to_csv()
    # each UTC day's last equity, over the whole record: daily PnL and weekly bounds
    days: dict[int, float] = {}
    for a, e in period.equity_window(store, name, 0, end):
        days[int(a // DAY)] = e
    out["last of each day"] = days
    return out


def test_no_figure_changes_for_the_window_it_covers(make_config: Callable[..., Config]) -> None:
    cfg = make_config("[retention]\ntrading_days = 31\n")
    with Store(cfg.store.path) as store:
        _trader(store, "long")
        _trader(store, "short")
        write_days(store, "long", 0, 45 * BARS_PER_DAY)
        write_days(store, "short", 35 * BARS_PER_DAY, 10 * BARS_PER_DAY, seed=3)
        clock = views.trader_clock(store, "long")
        assert clock is not None
        cutoff = thinning.cutoff_for(clock, 31)
        before = {n: figures(cfg, store, n, cutoff) for n in ("long", "short")}
        gate_before = {n: paper_facts(store, n) for n in ("long", "short")}
        full = np.asarray(period.equity_window(store, "long", cutoff, clock), dtype=float)
        rows_before = thinning.footprint(store)

        swept = retention.sweep(cfg, store, time.time(), [])

        assert swept.equity > 3000 and swept.decisions > 7000
        after = thinning.footprint(store)
        assert after.equity_rows == rows_before.equity_rows - swept.equity
        for n in ("long", "short"):
            for key, value in before[n].items():
                assert figures(cfg, store, n, cutoff)[key] == value, (n, key)
        assert before["long"]["monitor"].live_sharpe is not None
        assert before["long"]["console blocked"]
        # the gate: a run inside the window reads the same; a longer one keeps its span,
        # trades and alerts, and its Sharpe is the full-resolution window's
        assert paper_facts(store, "short") == gate_before["short"]
        g0, g1 = gate_before["long"], paper_facts(store, "long")
        assert (g1.hours, g1.trades_per_day, g1.severe_alerts) == \
            (g0.hours, g0.trades_per_day, g0.severe_alerts)
        sharpe, n = series_sharpe(full[:, 0], full[:, 1])
        assert (g1.sharpe, g1.returns) == (pytest.approx(sharpe), n)
        assert g1.returns < g0.returns
        assert retention.sweep(cfg, store, time.time(), []).equity == 0  # nothing left


def test_a_row_stamped_in_the_future_does_not_age_the_record(
        make_config: Callable[..., Config]) -> None:
    cfg = make_config("[retention]\ntrading_days = 31\n")
    with Store(cfg.store.path) as store:
        now = time.time()
        start = (now - 20 * DAY) // DAY * DAY  # 20 days to now: all inside the window
        write_days(store, "t", 0, 20 * BARS_PER_DAY, t0=start)
        before = thinning.footprint(store)
        with store.write():  # one bad row, ten years ahead
            st.insert_equity(store, "t", now + 3650 * DAY, Decimal(1), Decimal(1), None)
        swept = retention.sweep(cfg, store, now, [])
        assert (swept.equity, swept.decisions) == (0, 0)
        assert thinning.footprint(store).decision_rows == before.decision_rows


def test_zero_days_keeps_every_row(make_config: Callable[..., Config]) -> None:
    cfg = make_config("[retention]\ntrading_days = 0\n")
    with Store(cfg.store.path) as store:
        write_days(store, "t", 0, 40 * BARS_PER_DAY)
        before = thinning.footprint(store)
        swept = retention.sweep(cfg, store, time.time(), [])
        assert (swept.equity, swept.decisions) == (0, 0)
        assert thinning.footprint(store) == before


@pytest.mark.parametrize("text, words", [
    ("[retention]\ntrading_days = 7\n", "trading_days must be 0"),
    ("[retention]\ntrading_days = -1\n", "trading_days"),
    ("[retention]\ntrading_days = 31\n[monitor]\nwindow_hours = 800\n", "window_hours"),
    ("[retention]\nevery_s = 0\n", "every_s"),
])
def test_a_bad_value_is_refused(make_config: Callable[..., Config], text: str,
                                words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        make_config(text)


def test_the_cli_says_one_line_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "cappuccino.toml").write_text("[retention]\ntrading_days = 7\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    r = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config",
                        str(tmp_path / "cappuccino.toml"), "status"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "trading_days" in lines[0] and "Traceback" not in r.stderr
    env["CAPPUCCINO_RETENTION__TRADING_DAYS"] = "ten"
    (tmp_path / "cappuccino.toml").write_text("")
    r = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config",
                        str(tmp_path / "cappuccino.toml"), "status"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r
    assert "trading_days" in r.stderr
