"""End to end: `cappuccino supervise` runs a sim trader replaying 5-minute bars fast while its
retention tick thins the trader's old equity and decisions. The store stays bounded, whole
(integrity_check), the books (orders, fills) complete against the exchange, and the trader
never stalls.

A minute cannot replay the 31-day window (the smallest allowed) and more: once the trader
wrote its first bar, the test writes its 36 earlier days of per-bar rows (as after weeks of
running; without books, so the exchange's fills compare with the store's), and the trader's
own bars move the window's edge through them while it runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.bench.books import write_days
from engine.config import load_config
from engine.soak.fills import compare_fills
from engine.soak.workdir import CONFIG, ROOT, child_env, tiny_model
from store import thinning
from store.db import Store
from store.processes import upsert_process

DAY = 86400.0
BAR = 300.0
WINDOW = 31
TRADER = "books"
# 31 days of synthetic 5-minute bars (20 of them to replay), as fast as the trader goes
E2E = CONFIG.replace("synthetic_bars = 3000", "synthetic_bars = 9000").replace(
    "replay_speed = 200", "replay_speed = 2000") + f"""
[supervisor]
poll_s = 0.05
heartbeat_s = 0.5
services = []
[retention]
trading_days = {WINDOW}
every_s = 1
[monitor]
window_hours = 24
emergency_sustain_h = 0
"""


def _logs(root: Path) -> str:
    text = ""
    for f in [root / "supervise.out", *sorted((root / "var").rglob("*.log"))]:
        with contextlib.suppress(OSError):
            text += f"\n== {f.name}\n" + f.read_text(errors="replace")[-2000:]
    return text


def _one(store: Store, sql: str, *args: object) -> float:
    row = store.one(sql, args)
    assert row is not None
    return float(row[0] or 0)


@pytest.mark.slow
def test_a_replaying_trader_stays_bounded_and_whole_under_the_sweep(tmp_path: Path) -> None:
    path = tmp_path / "cappuccino.toml"
    path.write_text(E2E)
    cfg = load_config(path, environ={})
    tiny_model(tmp_path / "model", cfg)
    (tmp_path / "var" / "logs").mkdir(parents=True, exist_ok=True)
    out = open(tmp_path / "supervise.out", "wb")  # noqa: SIM115
    sup = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(path),
                            "supervise"], cwd=ROOT, env=child_env(), stdin=subprocess.DEVNULL,
                           stdout=out, stderr=out, start_new_session=True)
    out.close()
    store = Store(cfg.store.path)
    try:
        upsert_process(store, f"trader-{TRADER}", "trader",
                       ["trade", "--name", TRADER, "--model", str(tmp_path / "model"),
                        "--broker", "sim", "--tickers", "BTC-USD,ETH-USD"])
        start = time.monotonic()
        while not (own_first := _one(store, "SELECT MIN(at) FROM equity WHERE trader = ?",
                                     TRADER)):
            assert time.monotonic() - start < 60, "no bar in 60 s" + _logs(tmp_path)
            time.sleep(0.2)
        # its earlier 36 days, before its first bar, while it writes its next ones
        seeded = 36 * int(DAY / BAR)
        write_days(store, TRADER, 0, seeded, t0=own_first - (seeded + 1) * BAR,
                   period_s=BAR, books=False)
        seeded_end = own_first - BAR
        first_at = _one(store, "SELECT MIN(at) FROM equity WHERE trader = ?", TRADER)
        last_at = _one(store, "SELECT MAX(at) FROM equity WHERE trader = ?", TRADER)
        last_move, stall, settle = time.monotonic(), 0.0, time.monotonic() + 5
        peak_rows, over = 0.0, -1e9
        cutoff = first_cut = thinning.cutoff_for(last_at, WINDOW)
        running = time.monotonic()
        while time.monotonic() - running < 60:
            time.sleep(0.5)
            at = _one(store, "SELECT MAX(at) FROM equity WHERE trader = ?", TRADER)
            m = time.monotonic()
            if at > last_at:
                last_at, last_move = at, m
            else:
                stall = max(stall, m - last_move)
            if m < settle:  # the first ticks thin the days just written
                continue
            cutoff = thinning.cutoff_for(last_at, WINDOW)
            rows = _one(store, "SELECT count(*) FROM equity WHERE trader = ?", TRADER)
            old = _one(store, "SELECT count(*) FROM equity WHERE trader = ? AND at < ?",
                       TRADER, cutoff - DAY)  # a day behind: the sweep runs once a second
            # thinned while it runs: an hour's row (and the first) before that point
            over = max(over, old - ((cutoff - DAY - first_at) / 3600.0 + 2))
            peak_rows = max(peak_rows, rows)
            if cutoff - first_cut >= 15 * DAY:  # the data's end is near (20 days)
                break
        replayed = (last_at - seeded_end) / DAY
        # the window's edge moved through at least 3 days of rows while the trader wrote
        assert cutoff - first_cut >= 3 * DAY, (replayed, _logs(tmp_path))
        time.sleep(3)  # a last tick or three after the newest bar we read
        proc = store.one("SELECT state, restarts FROM processes WHERE name = ?",
                         (f"trader-{TRADER}",))
        assert proc is not None and proc["state"] == "RUNNING" and proc["restarts"] == 0, \
            _logs(tmp_path)
        assert stall < 20, (stall, _logs(tmp_path))  # generous: a loaded 2-core CI box
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sup.pid, signal.SIGTERM)  # stops its children first
        with contextlib.suppress(subprocess.TimeoutExpired):
            sup.wait(30)
        pids = [r["pid"] for r in store.query("SELECT pid FROM processes WHERE pid IS NOT NULL")]
        for pid in [sup.pid, *pids]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    # bounded: beyond its window the trader keeps a row an hour (and its first)
    end = _one(store, "SELECT MAX(at) FROM equity WHERE trader = ?", TRADER)
    cut = thinning.full_since(store, TRADER)
    assert cut is not None and cut >= thinning.cutoff_for(end, WINDOW) - DAY
    old_hours = (cut - first_at) / 3600.0
    old_rows = _one(store, "SELECT count(*) FROM equity WHERE trader = ? AND at < ?",
                    TRADER, cut)
    assert old_rows <= old_hours + 2, (old_rows, old_hours)
    assert over <= 0, (over, replayed, (cutoff - first_cut) / DAY)
    bad = store.query("SELECT passed, reason FROM decisions WHERE trader = ? AND at < ? "
                      "AND passed = 0 AND instr(coalesce(reason, ''), 'risk') = 0",
                      (TRADER, cut))
    assert not bad
    # the books: every fill the exchange made is in the store, every fill has its order
    findings, compared = compare_fills(store, Path(cfg.paths.run), (TRADER,))
    assert not findings and compared > 0, findings
    orphans = _one(store, "SELECT count(*) FROM fills f WHERE trader = ? AND NOT EXISTS "
                   "(SELECT 1 FROM orders o WHERE o.client_order_id = f.client_order_id)",
                   TRADER)
    assert orphans == 0
    assert store.query("PRAGMA integrity_check")[0][0] == "ok"
    sweeps = [ln for f in [tmp_path / "supervise.out", *(tmp_path / "var").rglob("*.log")]
              for ln in f.read_text(errors="replace").splitlines() if "thinned" in ln]
    assert sweeps, _logs(tmp_path)
    print(f"replayed {replayed:.1f} days; equity rows peak {peak_rows:.0f}, "
          f"{old_rows:.0f} older than the window; fills {compared}; longest stall "
          f"{stall:.1f} s; {len(sweeps)} sweeps; {thinning.footprint(store)}")
    store.close()
