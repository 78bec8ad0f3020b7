"""`cappuccino trade --name` becomes a folder (<run>/traders/NAME: the sim exchange file,
the trader's state): a name with a slash or a leading dot never leaves that folder. It
is refused as bad usage (exit 2, one line) before anything is created; a forged processes
row of a paper trader reaches the same check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from engine.soak.workdir import make_workdir

ROOT = Path(__file__).resolve().parents[3]


def test_a_name_that_climbs_out_of_the_run_folder_is_refused(tmp_path: Path) -> None:
    work = tmp_path / "w"
    make_workdir(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    for name in ("../../../escaped", "..", ".hidden", "a/b", "-x"):
        proc = subprocess.run(
            [sys.executable, "-m", "engine.cli.main", "--config", str(work / "cappuccino.toml"),
             "trade", f"--name={name}", "--model", str(work / "model"), "--broker", "sim"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (name, proc.returncode, proc.stderr[-400:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "--name" in lines[0] and "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("escaped")) and not list(tmp_path.rglob("sim-exchange.db"))
