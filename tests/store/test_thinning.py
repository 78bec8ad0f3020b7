"""Thinning per-bar trading rows (store.thinning) on real store files, with a real writer
process holding the write lock at the same time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.bench.books import BARS_PER_DAY, write_days
from store import thinning, views
from store.db import Store

DAY = 86400.0
WINDOW = 31.0
ROOT = Path(__file__).resolve().parents[2]


def rows(store: Store, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.query(sql, args)]


def snapshot(store: Store, trader: str) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "equity": rows(store, "SELECT * FROM equity WHERE trader = ? ORDER BY at", trader),
        "decisions": rows(store, "SELECT * FROM decisions WHERE trader = ? ORDER BY id", trader),
        "orders": rows(store, "SELECT * FROM orders WHERE trader = ? ORDER BY 1", trader),
        "fills": rows(store, "SELECT * FROM fills WHERE trader = ? ORDER BY 1", trader),
    }


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "s.db") as s:
        yield s


def test_old_rows_thin_to_what_the_books_need_and_the_window_stays_whole(
        store: Store) -> None:
    write_days(store, "t", 0, 40 * BARS_PER_DAY)
    before = snapshot(store, "t")
    clock = views.trader_clock(store, "t")
    assert clock is not None
    cutoff = thinning.cutoff_for(clock, WINDOW)
    assert cutoff % DAY == 0 and clock - cutoff >= WINDOW * DAY

    done = thinning.thin_trader(store, "t", cutoff, max_batches=10_000)
    after = snapshot(store, "t")

    # the window, to the row and column, and the books whole
    assert [r for r in after["equity"] if r[1] >= cutoff] == \
        [r for r in before["equity"] if r[1] >= cutoff]
    assert [r for r in after["decisions"] if r[-1] >= cutoff] == \
        [r for r in before["decisions"] if r[-1] >= cutoff]
    assert after["orders"] == before["orders"] and after["fills"] == before["fills"]
    assert len(before["orders"]) > 100
    # older equity: the first row and the last of each UTC hour, nothing else
    old = [r for r in before["equity"] if r[1] < cutoff]
    last_of_hour: dict[int, tuple[Any, ...]] = {}
    for r in old:
        last_of_hour[int(r[1] // 3600)] = r
    want = sorted({old[0], *last_of_hour.values()}, key=lambda r: r[1])
    assert [r for r in after["equity"] if r[1] < cutoff] == want
    # older decisions: those that passed (each led to an order) or that the risk engine
    # refused; HOLDs and conviction refusals go
    kept = [r for r in before["decisions"] if r[-1] < cutoff and (r[12] or "risk" in r[13])]
    assert [r for r in after["decisions"] if r[-1] < cutoff] == kept
    assert any("risk" in r[13] for r in kept) and any(r[12] for r in kept)
    assert done.equity == len(before["equity"]) - len(after["equity"]) > 0
    assert done.decisions == len(before["decisions"]) - len(after["decisions"]) > 0
    # every order's decision is still there
    decided = set(rows(store, "SELECT bar_at, ticker FROM decisions WHERE passed = 1"))
    assert set(rows(store, "SELECT bar_at, ticker FROM orders")) <= decided
    assert thinning.full_since(store, "t") == cutoff
    assert rows(store, "PRAGMA integrity_check") == [("ok",)]
    # a second pass finds nothing left
    assert thinning.thin_trader(store, "t", cutoff, 10_000) == thinning.Thinned(0, 0, 2)


def test_a_small_budget_goes_in_bounded_batches_to_the_same_end(tmp_path: Path) -> None:
    ends = []
    for budget in (3, 10_000):
        with Store(tmp_path / f"b{budget}.db") as s:
            write_days(s, "t", 0, 36 * BARS_PER_DAY)
            clock = views.trader_clock(s, "t")
            assert clock is not None
            cutoff = thinning.cutoff_for(clock, WINDOW)
            passes = 0
            while True:
                t = thinning.thin_trader(s, "t", cutoff, budget)
                assert t.batches <= budget
                assert t.equity + t.decisions <= budget * thinning.BATCH
                passes += 1
                if t.equity + t.decisions == 0:
                    break
            assert passes > (2 if budget == 3 else 0)
            ends.append(snapshot(s, "t"))
    assert ends[0] == ends[1]


def test_each_trader_on_its_own_clock(store: Store) -> None:
    write_days(store, "replay", 0, 35 * BARS_PER_DAY)           # 2026-01 bars
    write_days(store, "live", 400 * BARS_PER_DAY, BARS_PER_DAY)  # a year later, one day
    with store.write():
        store.conn.execute("DELETE FROM equity WHERE trader = 'replay'")  # decisions only
    assert thinning.traders_with_rows(store) == ["live", "replay"]
    before_live = snapshot(store, "live")
    from engine.supervisor.retention import thin_trading

    t = thin_trading(store, WINDOW, time.time(), max_batches=10_000)
    assert t.decisions > 0 and t.equity == 0
    assert snapshot(store, "live") == before_live  # its day is inside its own window
    clock = views.trader_clock(store, "replay")
    assert clock is not None
    cutoff = thinning.cutoff_for(clock, WINDOW)
    left = rows(store, "SELECT passed, reason FROM decisions WHERE trader = 'replay' "
                "AND at < ?", cutoff)
    assert left and all(p or "risk" in r for p, r in left)
    assert rows(store, "SELECT count(*) FROM decisions WHERE trader = 'replay' AND at >= ?",
                cutoff)[0][0] > 4 * 2 * BARS_PER_DAY


WRITER = """
import json, os, sys, time
from engine.bench.books import write_days
from store.db import Store
i, stop = int(sys.argv[2]), sys.argv[3]
with Store(sys.argv[1]) as s:
    print("ready", flush=True)
    done, waits = [], []
    while not os.path.exists(stop):
        t = time.monotonic()
        write_days(s, "w", i, 1)       # one bar, one transaction, as a trader writes it
        waits.append(time.monotonic() - t)
        done.append(time.time())
        i += 1
    print(json.dumps([max(waits), done]), flush=True)
"""


def test_a_writer_process_keeps_writing_while_a_backlog_thins(tmp_path: Path) -> None:
    db, stop = tmp_path / "s.db", tmp_path / "stop"
    with Store(db) as s:
        write_days(s, "t", 0, 120 * BARS_PER_DAY)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db), "0", str(stop)],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        with Store(db) as s:
            deadline = time.monotonic() + 60
            while rows(s, "SELECT count(*) FROM equity WHERE trader = 'w'")[0][0] < 5:
                assert time.monotonic() < deadline, "the writer never wrote"
                time.sleep(0.05)
            clock = views.trader_clock(s, "t")
            assert clock is not None
            t0 = time.time()
            done = thinning.thin_trader(s, "t", thinning.cutoff_for(clock, WINDOW), 10_000)
            t1 = time.time()
        stop.touch()
        out, _ = proc.communicate(timeout=120)
    finally:
        stop.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    longest, commits = json.loads(out.strip().splitlines()[-1])
    assert done.batches > 100 and done.equity + done.decisions > 50_000
    # The writer committed bars all through the sweep (one transaction for the whole
    # backlog would have held it out from t0 to t1); its longest bar write stays short
    # (generous: a loaded CI box).
    during = [c for c in commits if t0 < c < t1]
    assert len(during) >= 3, (len(during), t1 - t0)
    assert longest < 2.0, longest
    with Store(db) as s:
        assert rows(s, "SELECT count(*) FROM equity WHERE trader = 'w'")[0][0] == len(commits)
        assert rows(s, "PRAGMA integrity_check") == [("ok",)]
