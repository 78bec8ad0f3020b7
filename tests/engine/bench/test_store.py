"""The store bench's compaction figure (engine.bench.store.bench_compact) on a real file."""

from __future__ import annotations

import re
from pathlib import Path

from engine.bench.store import bench_compact


def test_compact_figure_is_measured_on_a_store_that_shrinks(tmp_path: Path) -> None:
    out = bench_compact(tmp_path / "c.db", 6)
    r = out["store_compact_s_per_100mb"]
    assert r.unit == "s/100MB" and r.value > 0
    m = re.fullmatch(r"(\d+) MB -> (\d+) MB in [\d.]+ s; integrity checks before and after "
                     r"[\d.]+ s", r.note)
    assert m, r.note
    before, after = int(m[1]), int(m[2])
    assert 5 <= before <= 9 and after <= before / 2  # two thirds were free pages
    assert (tmp_path / "c.db").stat().st_size <= (after + 1) * 1e6
