"""`store_soak_integrity`: 1 when the mixed store soak (engine.soak.mixed) comes out whole.

Not a speed: the figure is 1 or 0, and the note says what ran and what was checked (or the
first findings).
"""

from __future__ import annotations

from pathlib import Path

from engine.bench import Result


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    from engine.soak.mixed import run_mixed

    seconds = 20.0 if quick else 90.0
    report = run_mixed(workdir / "soak", seconds)
    counts = ", ".join(f"{k} {v}" for k, v in report.counts)
    note = (f"{seconds:g} s of supervisor, services, sim trader, writers, CLI loops and "
            f"supervisor SIGKILLs: {counts}")
    if not report.ok:
        note += "; FINDINGS: " + " | ".join(report.findings[:3])
    return {"store_soak_integrity": Result(1.0 if report.ok else 0.0, "ok", note=note)}
