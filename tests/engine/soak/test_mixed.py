"""The store soak in CI (issue 10): supervisor, monitor, sampler, notifier, a sim trader,
counting writers, CLI processes opening and closing the store in a loop, halt/resume/restart
commands and SIGKILLs of the supervisor and writers, all at once on one store. The store
must come out whole. `cappuccino soak --minutes N` runs the same for longer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.soak.mixed import run_mixed

SECONDS = float(os.environ.get("CAPPUCCINO_TEST_SOAK_S", "40"))


@pytest.mark.slow
def test_store_soak_comes_out_whole(tmp_path: Path) -> None:
    report = run_mixed(tmp_path, SECONDS)
    assert report.findings == ()
    counts = dict(report.counts)
    # The soak did what it says (a quiet soak would prove nothing).
    assert counts["supervisor_kills"] >= 2 and counts["writer_kills"] >= 2
    assert counts["writer_rows_acked"] > 1000 and counts["fills_compared"] > 0
    assert counts["cli_reads"] >= 10 and counts["wal_samples"] >= 100
    assert counts.get("cmd_halt_ok", 0) + counts.get("cmd_resume_ok", 0) >= 2
