"""The offline demo end to end: every pane has data within minutes, then it stops cleanly.

This is the README's run command minus the terminal: `cappuccino demo start` brings up the
supervisor, a CPU study, a promoted sim paper trader, the monitor, sampler and notifier;
the console's own loader must then see data for every pane.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from console.data import Loader

DEADLINE_S = 240


def _cli(cwd: Path, *args: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    # Smaller than the demo's own settings so CI spends about a minute here.
    env.update({"CAPPUCCINO_PPO__TOTAL_STEPS": "4000", "CAPPUCCINO_STUDY__N_TRIALS": "2",
                "CAPPUCCINO_TRADER__REPLAY_SPEED": "6"})
    return subprocess.run([sys.executable, "-m", "engine.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=None if umask is None else (lambda: os.umask(umask)))


def _open_to_others(root: Path) -> list[str]:
    """Every path under root that group or other users may read, write or enter."""
    found = []
    for p in [root, *root.rglob("*")]:
        try:
            mode = p.lstat().st_mode
        except FileNotFoundError:  # a temp file that came and went
            continue
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{p.relative_to(root)} {stat.S_IMODE(mode):04o}")
    return found


def _missing(snap: object) -> list[str]:
    s = snap  # a console.data.Snapshot
    panes = {
        "trials": s.study is not None and s.counts is not None and len(s.attempts) > 0,
        "gpu": s.system is not None and bool(s.system.gpu_status),
        "processes": any(p.kind == "trader" and p.state == "RUNNING" for p in s.processes),
        "positions": len(s.traders) > 0 and any(len(points) > 0 for _, points in s.equity),
        "conviction": any(c.decisions > 0 for c in s.conviction),
        "execution": any(e.fills > 0 for e in s.execution),
        "alerts": len(s.gates) > 0,
    }
    return [name for name, ok in panes.items() if not ok]


@pytest.mark.slow
def test_demo_fills_every_pane_then_stops_cleanly(tmp_path: Path) -> None:
    # The usual umask (022) must not make anything of the demo readable by other users.
    out = _cli(tmp_path, "demo", "start", umask=0o022)
    assert out.returncode == 0, out.stderr
    demo = tmp_path / "var" / "demo"
    loader = Loader(demo / "cappuccino.db", clock=time.time)
    missing: list[str] = ["everything"]
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            if (demo / "cappuccino.db").exists():
                snap = loader.load()
                if snap.error is None:
                    missing = _missing(snap)
                    if not missing:
                        break
            time.sleep(3)
        assert not missing, f"panes still empty after {DEADLINE_S}s: {missing}"
        # The local notification inbox received the promotion, naming trader and trial.
        inbox = [json.loads(x) for x in (demo / "notifications.jsonl").read_text().splitlines()]
        assert any("trial #" in (m["message"] or "") for m in inbox)
        # ... through the paper gate on the study's deflated evidence (its values shown, and
        # the reason when the demo forces a refused trial)
        promo = [m for m in inbox if "promotion to paper" in (m["title"] or "")]
        assert promo and "deflated Sharpe ratio" in promo[0]["message"]
        assert "Forced" not in promo[0]["title"] or "FORCED by the operator: demo: trial" in (
            promo[0]["message"])
        # Store, WAL files, logs, models, the run folder, keys: 0600/0700 under umask 022.
        assert (demo / "cappuccino.db-wal").exists() and (demo / "logs").is_dir()
        assert any((demo / "models").rglob("*.pt")), "no model saved yet"
        assert _open_to_others(tmp_path / "var") == []
        # A second start after `demo stop` brings the whole demo back: the orchestrator
        # finds its study done and its trader promoted, so the start itself must restart
        # the services and the trader the stop left STOPPED.
        stopped, alive = _stop_demo(tmp_path)
        assert stopped.returncode == 0 and not alive, (stopped.stderr, alive)
        again = _cli(tmp_path, "demo", "start")
        assert again.returncode == 0, again.stderr
        want = {"trader-demo", "monitor", "sampler", "notifier", "demo"}
        running: set[str] = set()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not want <= running:
            status = json.loads(_cli(tmp_path, "demo", "status").stdout or "{}")
            running = {p["name"] for p in status.get("processes", [])
                       if p["state"] == "RUNNING"}
            time.sleep(2)
        assert want <= running, f"not running again after demo stop + start: {want - running}"
    finally:
        loader.close()
        stopped, alive = _stop_demo(tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert not alive, f"still running after demo stop: {alive}"


def _stop_demo(cwd: Path) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """`demo stop`; then the pids of the demo's processes still alive 30 s later (killed, so
    a failing test never leaves a stray process behind)."""
    status = json.loads(_cli(cwd, "demo", "status").stdout or "{}")
    stopped = _cli(cwd, "demo", "stop")
    pids = [p["pid"] for p in status.get("processes", []) if p.get("pid")]
    sup = status.get("supervisor", {}).get("pid")
    _, alive = psutil.wait_procs(
        [psutil.Process(p) for p in [*pids, sup] if p and psutil.pid_exists(p)], timeout=30)
    for p in alive:
        p.kill()
    return stopped, [p.pid for p in alive]


def test_the_demo_study_is_seeded_and_has_seeds_and_splits(tmp_path: Path) -> None:
    from engine.config import load_config
    from engine.demo import write_demo_files

    cfg = load_config(write_demo_files(tmp_path), environ={})
    # a seeded sampler and per-trial seeds: a rerun of the demo gives the same evidence
    assert cfg.study.seed == 1 and cfg.study.workers == 1
    assert cfg.study.seeds >= 2 and cfg.study.max_splits >= 2  # an SE needs two scores


def test_a_demo_stopped_mid_study_trains_the_missing_trials_at_its_next_start(
        tmp_path: Path) -> None:
    """`demo stop` during the study, then `demo start`: the orchestrator used to train only
    when no trial had been attempted, so the study stayed stopped and no trader ever came."""
    from engine.config import load_config
    from engine.demo import write_demo_files
    from store.db import Store

    cfg = load_config(write_demo_files(tmp_path / "var" / "demo"), environ={})
    with Store(cfg.store.path) as store, store.write():  # one of _cli's 2 trials ended
        store.conn.execute("INSERT INTO attempts (study, trial, attempt, state, objective, "
                           "started_at) VALUES ('demo', 0, 1, 'COMPLETE', -1.0, 0)")
    try:
        assert _cli(tmp_path, "demo", "start").returncode == 0
        train = None
        deadline = time.monotonic() + 90
        with Store(cfg.store.path) as store:
            while train is None and time.monotonic() < deadline:
                train = store.one("SELECT args, source FROM commands WHERE action = 'train'")
                time.sleep(0.5)
        assert train is not None, "the demo never asked for the missing trials"
        assert train["source"] == "demo" and json.loads(train["args"])["n_trials"] == 1
    finally:
        stopped, alive = _stop_demo(tmp_path)
    assert stopped.returncode == 0 and not alive, (stopped.stderr, alive)
