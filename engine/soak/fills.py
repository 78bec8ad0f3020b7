"""Two sim traders on one store, one SIGKILLed again and again: every fill of each trader
must be in the store exactly as its own exchange file has it (issue 10: sim fill ids were
numbered per exchange and keyed globally, and the store kept 157 of 834 fills)."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from engine.soak.workdir import make_workdir, stop, tail, trader, wait_for
from store.db import Store
from store.fixtures import decision_count, exchange_fill_keys, fill_keys

STEADY, KILLED = "steady", "killed"


def _decisions(store: Store, name: str) -> int:
    return decision_count(store, name)


def exchange_fills(run_dir: Path, name: str) -> set[tuple[object, ...]]:
    """The fills of one trader's sim exchange file (the broker's truth)."""
    return exchange_fill_keys(run_dir / "traders" / name / "sim-exchange.db")


def compare_fills(store: Store, run_dir: Path, names: tuple[str, ...]) -> tuple[list[str], int]:
    """Findings where the store's fills differ from the exchanges'; and the fills compared."""
    findings, total = [], 0
    for name in names:
        ours = fill_keys(store, name)
        truth = exchange_fills(run_dir, name)
        total += len(truth)
        if not truth:
            findings.append(f"{name}: its exchange made no fill; nothing was proven")
        missing, extra = truth - ours, ours - truth
        if missing or extra:
            findings.append(f"{name}: store has {len(ours)} fills, exchange {len(truth)}: "
                            f"{len(missing)} missing (e.g. {sorted(missing)[:1]}), "
                            f"{len(extra)} not on the exchange")
    return findings, total


def run_fill_kills(root: Path, rounds: int, seed: int = 1,
                   say: Callable[[str], None] = lambda _: None) -> tuple[list[str], int]:
    """Run the scenario in `root`; returns (findings, fills compared)."""
    cfg = make_workdir(root)
    cfg_path, run_dir = root / "cappuccino.toml", Path(cfg.paths.run)
    rng = random.Random(seed)
    findings: list[str] = []
    store = Store(cfg.store.path)
    steady = trader(cfg_path, STEADY, root / f"{STEADY}.log")
    log = root / f"{KILLED}.log"
    try:
        for r in range(rounds + 1):
            before = _decisions(store, KILLED)
            p = trader(cfg_path, KILLED, log)
            def progressed(b: int = before, p: subprocess.Popen[bytes] = p) -> bool:
                return _decisions(store, KILLED) > b + 2 or p.poll() is not None

            wait_for(progressed, 120)
            if p.poll() is not None or _decisions(store, KILLED) <= before:
                findings.append(f"round {r}: the killed trader made no progress "
                                f"(exit {p.poll()}): {tail(log, 600)}")
                stop(p)
                break
            if r == rounds:  # the last run ends cleanly: SIGTERM books every fill
                code = stop(p)
                if code != 0:
                    findings.append(f"{KILLED}: exit {code} on SIGTERM: {tail(log, 600)}")
                break
            time.sleep(rng.uniform(0.0, 0.5))
            p.kill()
            p.wait(30)
            say(f"round {r + 1}/{rounds}: SIGKILLed {KILLED} "
                f"({_decisions(store, KILLED)} decisions)")
            if steady.poll() is not None:
                findings.append(f"{STEADY} exited {steady.returncode}: "
                                f"{tail(root / f'{STEADY}.log', 600)}")
                break
        code = stop(steady)
        if code != 0 and not findings:
            findings.append(f"{STEADY}: exit {code} on SIGTERM: "
                            f"{tail(root / f'{STEADY}.log', 600)}")
        found, total = compare_fills(store, run_dir, (STEADY, KILLED))
        findings += found
        check = store.integrity()
        if check != "ok":
            findings.append(f"integrity_check: {check}")
    finally:
        stop(steady)
        store.close()
    return findings, total
