"""The books bench (engine.bench.books): store growth per simulated day, full vs thinned."""

from __future__ import annotations

from pathlib import Path

from engine.bench import BENCH_MODULES
from engine.bench.books import BARS_PER_DAY, TICKERS, run


def test_thinning_bounds_the_growth_per_day(tmp_path: Path) -> None:
    assert "books" in BENCH_MODULES
    r = run(quick=True, workdir=tmp_path)
    size, rows = r["books_bytes_per_day"], r["books_rows_per_day"]
    assert size.baseline is not None and rows.baseline is not None
    assert rows.baseline == BARS_PER_DAY * (1 + len(TICKERS))
    # kept beyond the window: 24 hourly equity rows and the decisions that passed or the
    # risk refused (about 1.5 % of the decisions to trade)
    assert 24 <= rows.value < 0.1 * rows.baseline
    assert 0 < size.value < 0.2 * size.baseline
    # the pages thinning frees are reused by the next days' rows: few stay free
    free = r["books_free_bytes"]
    assert free.baseline and free.value < 0.1 * free.baseline
