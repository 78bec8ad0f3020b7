"""Store benchmarks: write throughput of 4 writer processes, and the console's query latency.

- store_write_rows_per_s: 4 processes insert fills rows together, 500 rows per
  BEGIN IMMEDIATE transaction, for a fixed row count. Also reported: store_locked_errors
  and store_commit_p99_ms (request of the write lock to COMMIT done, so lock waits count).
- store_query_p95_ms: with 1M fills and 100k equity rows present (quick: 100k / 10k), the
  console's queries (store.views: last_fills, equity_curve (key "equity_series"), trial_counts) while 4 writers
  keep inserting; the value is the worst of the three p95s.
- store_open_ms: opening that store (quick_check + migrations check), as every CLI command does.
- store_compact_s_per_100mb: `cappuccino compact`'s VACUUM and checkpoint (store.compact) of
  a store two thirds free pages, per 100 MB of file before (120 MB; quick: 30 MB); the note
  gives the file before and after and the integrity checks' time, which come on top.
"""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from engine.bench import Result
from store.compact import Exclusive, compact
from store.db import Store, StoreError
from store.fixtures import (
    add_attempts,
    add_equity_with_benchmark,
    add_fills,
    add_freed_decisions,
    fast_load,
    settle,
    total_fills,
)

WRITERS = 4
BATCH = 500
TICKERS = ("BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "LTC-USD", "AVAX-USD", "UNI-USD")
T0 = 1_767_225_600.0  # 2026-01-01 UTC: populated history starts here


# fill_id, trader, client_order_id, ticker, side, qty, price, fee, liquidity, pnl, at
FillRow = tuple[str, str, str, str, str, str, str, str, str, str, float]
# A writer's result: id, rows written, commit latencies, locked errors, start, end.
WriterResult = tuple[int, int, list[float], int, float, float]


def fill_rows(tag: str, start: int, n: int, at0: float, step_s: float) -> Iterator[FillRow]:
    """Fills-like rows: Decimal text for money, unique ids, time-ordered `at`."""
    for i in range(start, start + n):
        yield (f"{tag}-{i:010d}", tag, f"{tag}-o{i // 3}", TICKERS[i % len(TICKERS)],
               "BUY" if i % 2 else "SELL", f"0.{i % 9000 + 1000:04d}", f"{90000 + i % 5000}.25",
               f"0.{i % 97 + 10:02d}", "MAKER" if i % 4 else "TAKER", f"{i % 200 - 100}.5",
               at0 + i * step_s)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def _writer(path: str, wid: int, rows: int, pace_s: float, ready: Any, start: Any, stop: Any,
            out: Any) -> None:
    """One writer process: batches of BATCH rows until `rows` are in (or `stop` is set)."""
    store = Store(path, check=False)
    tag = f"bench-w{wid}"
    latencies: list[float] = []
    locked = written = 0
    ready.put(wid)
    start.wait()
    t_start = time.monotonic()
    while (rows and written < rows) or (not rows and not stop.is_set()):
        batch = list(fill_rows(tag, written, BATCH, time.time(), 1e-6))
        t = time.perf_counter()
        try:
            with store.write():
                add_fills(store.conn, batch)
        except (StoreError, sqlite3.OperationalError) as e:
            if "locked" not in str(e):
                raise
            locked += 1
            continue
        latencies.append(time.perf_counter() - t)
        written += len(batch)
        if pace_s:
            time.sleep(pace_s)
    out.put((wid, written, latencies, locked, t_start, time.monotonic()))
    store.close()


class Writers:
    """WRITERS spawned processes (spawn: safe whatever the parent imported)."""

    def __init__(self, path: Path, rows_each: int = 0, pace_s: float = 0.0) -> None:
        ctx = mp.get_context("spawn")
        self.start, self.stop = ctx.Event(), ctx.Event()
        self.ready, self.out = ctx.Queue(), ctx.Queue()
        self.procs = [ctx.Process(target=_writer, args=(str(path), w, rows_each, pace_s,
                                                        self.ready, self.start, self.stop,
                                                        self.out))
                      for w in range(WRITERS)]
        for p in self.procs:
            p.start()

    def _collect(self, q: Any, what: str, timeout: float) -> list[Any]:
        """One item per writer from q; fails fast when a writer died instead."""
        import queue

        items: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(items) < len(self.procs):
            try:
                items.append(q.get(timeout=0.5))
            except queue.Empty:
                dead = [p.exitcode for p in self.procs if p.exitcode not in (None, 0)]
                if dead or time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"bench writers failed to {what} (exit codes "
                                       f"{dead})") from None
        return items

    def go(self) -> None:
        """Start every writer at once, after each has opened the store."""
        self._collect(self.ready, "start", 120)
        self.start.set()

    def finish(self, timeout: float = 600) -> list[WriterResult]:
        self.stop.set()
        results = self._collect(self.out, "finish", timeout)
        for p in self.procs:
            p.join(timeout=30)
        return results

    def kill(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.kill()
            p.join(timeout=10)


def bench_write(path: Path, rows_total: int) -> dict[str, Result]:
    Store(path).close()
    writers = Writers(path, rows_each=rows_total // WRITERS)
    writers.go()
    results = writers.finish()
    wall = max(r[5] for r in results) - min(r[4] for r in results)
    rows = sum(r[1] for r in results)
    locked = sum(r[3] for r in results)
    lat_ms = [x * 1000 for r in results for x in r[2]]
    with Store(path) as s:
        stored = total_fills(s)
    if stored != rows:
        raise RuntimeError(f"lost rows: wrote {rows}, store holds {stored}")
    p50, p99, worst = percentile(lat_ms, 50), percentile(lat_ms, 99), max(lat_ms)
    note = (f"{WRITERS} processes x {rows // WRITERS} rows, {BATCH} rows per BEGIN IMMEDIATE; "
            f"{locked} locked errors; commit p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"max {worst:.1f} ms over {len(lat_ms)} commits")
    return {
        "store_write_rows_per_s": Result(rows / wall, "rows/s", note=note),
        "store_locked_errors": Result(float(locked), "errors", note=note),
        "store_commit_p99_ms": Result(p99, "ms", note=note),
    }


def populate(path: Path, fills: int, equity: int, traders: int = 8,
             trials: int = 2000) -> None:
    """A big store, fast: one process, large executemany transactions."""
    with Store(path) as s:
        fast_load(s.conn)  # setup only: the figures come after
        per = fills // traders
        for t in range(traders):
            tag = f"trader-{t}"
            for start in range(0, per, 100_000):
                with s.write():
                    add_fills(s.conn, fill_rows(tag, start, min(100_000, per - start), T0,
                                                60.0))
        per_eq = equity // traders
        with s.write():
            add_equity_with_benchmark(s.conn, (
                (f"trader-{t}", T0 + i * 300.0, f"{10000 + i * 0.01:.2f}", "5000.00",
                  10000 + i * 0.01, 10000 + i * 0.008)
                 for t in range(traders) for i in range(per_eq)))
            add_attempts(s.conn, (
                ("bench", trial, a, ("FAILED" if a == 0 and trial % 7 == 0 else
                                     ("COMPLETE", "PRUNED", "FAILED", "RUNNING")[trial % 4]),
                 "{}", "{}", trial * 0.001, T0 + trial * 60, T0 + trial * 60 + 50)
                 for trial in range(trials) for a in range(2 if trial % 7 == 0 else 1)))
        settle(s.conn)


def _queries(store: Store) -> dict[str, Callable[[], Any]]:
    from store import views

    return {
        "last_fills": lambda: views.last_fills(store, limit=500),
        "equity_series": lambda: views.equity_curve(store, "trader-3"),
        "trial_counts": lambda: views.trial_counts(store, "bench"),
    }


def bench_query(path: Path, fills: int, equity: int, rounds: int) -> dict[str, Result]:
    populate(path, fills, equity)
    t = time.perf_counter()
    store = Store(path)
    open_ms = (time.perf_counter() - t) * 1000
    queries = _queries(store)
    for fn in queries.values():  # warm the page cache, check the answers
        if not fn():
            raise RuntimeError("a console query returned nothing on the populated store")
    # Writers at a steady pace (4 x 500 rows every 100 ms = 20k rows/s, far above live
    # trading) so the queries share the CPUs with them instead of only measuring scheduling.
    writers = Writers(path, pace_s=0.1)
    writers.go()
    time.sleep(0.3)
    times: dict[str, list[float]] = {name: [] for name in queries}
    try:
        for _ in range(rounds):
            for name, fn in queries.items():
                t = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t) * 1000)
    finally:
        results = writers.finish()
    store.close()
    written = sum(r[1] for r in results)
    p95 = {name: percentile(v, 95) for name, v in times.items()}
    note = (f"{fills} fills, {equity} equity rows; {rounds} rounds while {WRITERS} writers "
            f"added {written} rows; p95 " + ", ".join(f"{k} {v:.2f} ms" for k, v in p95.items())
            + "; median " + ", ".join(f"{k} {statistics.median(v):.2f} ms"
                                      for k, v in times.items()))
    return {
        "store_query_p95_ms": Result(max(p95.values()), "ms", note=note),
        "store_open_ms": Result(open_ms, "ms", note=f"Store() on {fills} fills: quick_check "
                                f"and schema check ({path.stat().st_size / 1e6:.0f} MB)"),
    }


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    out = bench_write(workdir / "write.db", 40_000 if quick else 400_000)
    out |= bench_query(workdir / "query.db", fills=100_000 if quick else 1_000_000,
                       equity=10_000 if quick else 100_000, rounds=60 if quick else 300)
    out |= bench_compact(workdir / "compact.db", 30 if quick else 120)
    return out


def bench_compact(path: Path, mb: int) -> dict[str, Result]:
    with Store(path) as s, s.write():
        add_freed_decisions(s.conn, mb * 5400)
    with Exclusive(path) as db:
        done = compact(db)
    per = done.seconds / (done.bytes_before / 1e8)
    note = (f"{done.bytes_before / 1e6:.0f} MB -> {done.bytes_after / 1e6:.0f} MB in "
            f"{done.seconds:.2f} s; integrity checks before and after {done.check_seconds:.2f} s")
    return {"store_compact_s_per_100mb": Result(per, "s/100MB", note=note)}
