"""Store growth of one trader's per-bar rows, per simulated day, without and with thinning.

- books_bytes_per_day: two stores get the same simulated trader (5-minute bars, 2 tickers,
  decisions, orders and fills as the trader writes them, store.trading); one is swept once
  per simulated day by the supervisor's retention (engine.supervisor.retention.thin_trading,
  [retention] trading_days). The value is the swept store's file growth per day once its
  window is full; the baseline is the unswept store's over the same days.
- books_rows_per_day: rows per simulated day the swept store keeps beyond its window
  (baseline: rows written per day).
- books_free_bytes: the swept store's free pages at the end (baseline: its file size).
  Freed pages are reused by the next rows (no VACUUM): growth is of the file itself.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from engine.bench import Result
from store import trading as st
from store.db import Store
from store.thinning import footprint

T0 = 1_767_225_600.0  # 2026-01-01 UTC
PERIOD_S = 300.0
TICKERS = ("BTC-USD", "ETH-USD")
BARS_PER_DAY = int(86400 / PERIOD_S)
WINDOW_DAYS = 31.0  # the smallest [retention] trading_days allowed


@dataclass(frozen=True)
class Written:
    equity: int
    decisions: int
    orders: int


def write_days(store: Store, trader: str, first_bar: int, n_bars: int, seed: int = 7,
               t0: float = T0, period_s: float = PERIOD_S, books: bool = True) -> Written:
    """Bars first_bar.. (from t0) of a simulated trader, one transaction per bar as the
    trader writes: an equity point, a decision per ticker (HOLD, conviction refusal, risk
    refusal or passed), and for each passed one an order and its fill (unless not `books`).
    Deterministic per bar index."""
    eq = dec = orders = 0
    for i in range(first_bar, first_bar + n_bars):
        rng = random.Random(seed * 1_000_003 + i)
        bar_at = t0 + i * period_s
        at = bar_at + period_s
        records = []
        with store.write():
            for k, ticker in enumerate(TICKERS):
                action = rng.uniform(-1, 1)
                side = "HOLD" if abs(action) < 0.3 else ("BUY" if action > 0 else "SELL")
                score = rng.random()
                if side == "HOLD":
                    passed, reason = False, "hold"
                elif score >= 0.985:  # ~6 trades a day: the live gate wants 2-5
                    passed, reason = True, "passed"
                elif score < 0.005:
                    passed, reason = False, "risk: position over max_position_pct"
                else:
                    passed, reason = False, f"score {score:.3f} < 0.985"
                records.append(st.DecisionRecord(bar_at, ticker, action, side, score, score,
                                                 0.5, 0.5, 0.5, 0.5, passed, reason))
                if passed and books:
                    coid = f"{trader}-{int(bar_at)}-{k}-0"
                    qty, price = Decimal("0.01"), Decimal(str(round(50_000 + 100 * action, 2)))
                    st.insert_order(store, client_order_id=coid, trader=trader, ticker=ticker,
                                    side=side, order_type="limit", post_only=True, qty=qty,
                                    limit_price=price, bar_at=bar_at, attempt=0,
                                    status="FILLED", at=at)
                    st.insert_fill(store, fill_id=f"f-{coid}", trader=trader,
                                   client_order_id=coid, ticker=ticker, side=side, qty=qty,
                                   price=price, fee=Decimal("0.2"), liquidity="MAKER",
                                   realized_pnl=None, at=at + 1)
                    orders += 1
            st.insert_decisions(store, trader, records, at=at + 1)
            value = 1000.0 * (1.0 + 0.0002 * ((i * 7919) % 101 - 50) / 50 + 0.00001 * i)
            st.insert_equity(store, trader, at, Decimal(str(round(value, 2))), Decimal("500"),
                             value * 0.999, value * 1.001, value * 1.0005)
        eq, dec = eq + 1, dec + len(records)
    return Written(eq, dec, orders)


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    from engine.supervisor.retention import thin_trading

    extra_days = 10 if quick else 30
    fill_days = int(WINDOW_DAYS) + 2  # the window full, and a day of it already thinned
    sizes: dict[str, tuple[int, int]] = {}
    kept_rows = free = size = 0
    for name, sweep in (("full", False), ("thinned", True)):
        with Store(workdir / f"books-{name}.db") as store:
            def one_day(day: int, swept: bool = sweep, s: Store = store) -> None:
                write_days(s, "bench", day * BARS_PER_DAY, BARS_PER_DAY)
                if swept:
                    thin_trading(s, WINDOW_DAYS, time.time(), max_batches=10_000)
            for day in range(fill_days):
                one_day(day)
            before = file_bytes(store)
            rows_before = _rows(store)
            for day in range(fill_days, fill_days + extra_days):
                one_day(day)
            sizes[name] = (before, file_bytes(store))
            if sweep:
                kept_rows = _rows(store) - rows_before
                f = footprint(store)
                free, size = f.free_bytes, f.file_bytes
    full = (sizes["full"][1] - sizes["full"][0]) / extra_days
    thin = (sizes["thinned"][1] - sizes["thinned"][0]) / extra_days
    written = BARS_PER_DAY * (1 + len(TICKERS))
    note = (f"one trader, {PERIOD_S:g} s bars, {len(TICKERS)} tickers, window "
            f"{WINDOW_DAYS:g} days, {extra_days} days measured after {fill_days}")
    return {
        "books_bytes_per_day": Result(thin, "bytes/day", full, note),
        "books_rows_per_day": Result(kept_rows / extra_days, "rows/day", float(written),
                                     "equity + decisions rows kept per simulated day"),
        "books_free_bytes": Result(float(free), "bytes", float(size),
                                   "free pages left in the thinned store (reused, not returned)"),
    }


def file_bytes(store: Store) -> int:
    return footprint(store).file_bytes


def _rows(store: Store) -> int:
    f = footprint(store)
    return f.equity_rows + f.decision_rows
