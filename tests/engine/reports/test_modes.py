"""`cappuccino doctor` reports files other users can read, and `--fix-modes` closes them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from store.db import Store


def _doctor(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                           "doctor", *args], capture_output=True, text=True, env=env, timeout=120)


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_loose_modes_are_reported_then_fixed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"  # a sticky world-writable folder, like /tmp: never touched
    shared.mkdir()
    shared.chmod(0o1777)
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text(f'[store]\npath = "{shared}/c.db"\n[paths]\nlogs = "var/logs"\n'
                   'models = "var/models"\n')
    old = os.umask(0o022)
    try:
        Store(shared / "c.db").close()
        logs, model = tmp_path / "var" / "logs", tmp_path / "var" / "models" / "m1"
        logs.mkdir(parents=True)
        model.mkdir(parents=True)
        (logs / "trader-a.log").write_text("x\n")
        (model / "model.pt").write_bytes(b"w")
    finally:
        os.umask(old)
    loose = [shared / "c.db", logs, logs / "trader-a.log", model, model / "model.pt"]
    (shared / "c.db").chmod(0o644)  # a store made before stores were private
    assert all(_mode(p) & 0o077 for p in loose)

    out = _doctor(cfg)
    line = next(x for x in out.stdout.splitlines() if x.split()[1:2] == ["modes"])
    assert line.startswith("WARN") and "open to other users" in line, line
    assert "c.db (0644)" in line and "--fix-modes" in line and "chmod go-rwx" in line

    fixed = _doctor(cfg, "--fix-modes")
    line = next(x for x in fixed.stdout.splitlines() if x.split()[1:2] == ["modes"])
    assert line.startswith("OK") and "fixed" in line, line
    assert [oct(_mode(p) & 0o077) for p in loose] == ["0o0"] * len(loose)
    assert _mode(shared) == 0o1777  # the shared folder kept its mode
    again = _doctor(cfg)
    assert any(x.startswith("OK") and "modes" in x for x in again.stdout.splitlines())
