"""A trader whose stored risk state cannot be read fails closed: HALTED for the day.

The risk state (kv `risk:<trader>`) is what remembers a daily-loss halt or a loss streak
across a restart. A value that does not read back (a corrupt row, a tool's stray write) used
to make the trader start ACTIVE with fresh limits (forgetting a halt), or crash on every
start when a field had the wrong type. A real sim trader, started on a store holding such a
row, must go HALTED with the reason and place no order before the next UTC day of its clock.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from engine.soak.workdir import make_workdir, stop, tail, trader
from store import kv
from store.db import Store

DAY = 86400.0


@pytest.mark.parametrize("raw", ["not json {", "[1, 2]",
                                 '{"state": "HALTED", "day_start_equity": "lots"}'])
def test_an_unreadable_risk_state_halts_the_trader_for_the_day(tmp_path: Path, raw: str) -> None:
    cfg = make_workdir(tmp_path)
    with Store(cfg.store.path) as st:
        kv.put(st, "risk:t", raw)
    log = tmp_path / "t.log"
    p = trader(tmp_path / "cappuccino.toml", "t", log)
    try:
        deadline = time.monotonic() + 90
        first = last = None
        while time.monotonic() < deadline and p.poll() is None:
            with Store(cfg.store.path, check=False) as st:
                row = st.one("SELECT MIN(at) AS a, MAX(at) AS b FROM equity WHERE trader = 't'")
            first, last = (row["a"], row["b"]) if row else (None, None)
            if first is not None and last is not None and last > (math.floor(first / DAY) + 1) * DAY + 3600:
                break  # an hour into the next UTC day of the trader's clock
            time.sleep(0.5)
        assert p.poll() is None, tail(log)
        assert first is not None and last is not None, tail(log)
    finally:
        stop(p)
    text = log.read_text(errors="replace")
    assert "stored risk state unreadable" in text, text[-2000:]
    # an order is decided at its bar's close: the bar closing at midnight is the new day's
    midnight = (math.floor(first / DAY) + 1) * DAY - 300  # 5m bars
    with Store(cfg.store.path, check=False) as st:
        early = st.one("SELECT COUNT(*) AS n FROM orders WHERE trader = 't' AND bar_at < ?",
                       (midnight,))
    assert early is not None and early["n"] == 0
    assert "Traceback" not in text


@pytest.mark.parametrize(("key", "raw"), [("shadow:t", "not json {"), ("shadow:t", '{"cash": 1}'),
                                          ("hodl:t", "[1, 2]"), ("hodl:t", '{"prices": "x"}')])
def test_unreadable_benchmark_state_is_started_afresh(tmp_path: Path, key: str, raw: str) -> None:
    """The benchmarks' kv rows (the shadow backtest, HODL) only inform the charts: one that
    does not read back is started afresh, never a crash on every bar."""
    cfg = make_workdir(tmp_path)
    with Store(cfg.store.path) as st:
        kv.put(st, key, raw)
    log = tmp_path / "t.log"
    p = trader(tmp_path / "cappuccino.toml", "t", log)
    try:
        deadline = time.monotonic() + 90
        n = 0
        while time.monotonic() < deadline and p.poll() is None and n < 50:
            with Store(cfg.store.path, check=False) as st:
                row = st.one("SELECT COUNT(*) AS n FROM equity WHERE trader = 't'")
            n = int(row["n"]) if row else 0
            time.sleep(0.5)
        assert p.poll() is None, tail(log)
        assert n >= 50, tail(log)
    finally:
        stop(p)
    assert "Traceback" not in log.read_text(errors="replace")
