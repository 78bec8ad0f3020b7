"""`cappuccino doctor` reports the store's size and free fraction, and points to `compact`
only when the store is mostly free pages (> 50 %) and they are worth a stop (> 64 MB)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.reports.doctor import COMPACT_FREE_BYTES
from store.db import Store
from store.fixtures import add_freed_decisions


def _store(tmp_path: Path, rows: int) -> Path:
    (tmp_path / "cappuccino.toml").write_text("")
    db = tmp_path / "var" / "cappuccino.db"
    with Store(db) as s:
        with s.write():
            add_freed_decisions(s.conn, rows)
        s.one("PRAGMA wal_checkpoint(TRUNCATE)")  # the file holds every page, as doctor sees
    return db


def _free_line(tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config",
                          str(tmp_path / "cappuccino.toml"), "doctor"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120)
    assert "Traceback" not in out.stderr, out.stderr
    return next(x for x in out.stdout.splitlines() if "free pages" in x)


def _figures(line: str) -> tuple[float, int, float]:
    m = re.search(r"([\d,.]+) MB, (\d+)% free pages \(([\d,.]+) MB\)", line)
    assert m, line
    return float(m[1].replace(",", "")), int(m[2]), float(m[3].replace(",", ""))


def test_a_small_thinned_store_is_reported_without_compact(tmp_path: Path) -> None:
    db = _store(tmp_path, 30_000)
    line = _free_line(tmp_path)
    size, pct, free = _figures(line)
    assert abs(size * 1e6 - db.stat().st_size) < 0.1e6
    assert 55 <= pct <= 75 and free < COMPACT_FREE_BYTES / 1e6  # two thirds deleted, small
    assert "compact" not in line and not line.startswith("WARN"), line


@pytest.mark.slow
def test_a_store_mostly_free_pages_points_to_compact(tmp_path: Path) -> None:
    db = _store(tmp_path, 600_000)
    line = _free_line(tmp_path)
    size, pct, free = _figures(line)
    assert abs(size * 1e6 - db.stat().st_size) < 0.1e6
    assert pct > 50 and free * 1e6 > COMPACT_FREE_BYTES, line
    assert line.startswith("WARN") and "cappuccino compact" in line, line
