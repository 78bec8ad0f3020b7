"""Every CLI command survives a reader that closes the pipe (`cappuccino ps | head -1`):
no traceback, no "Exception ignored" line, exit 0. Real processes, real pipes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from store.db import Store
from store.processes import upsert_process

ROOT = Path(__file__).resolve().parents[3]
COMMANDS = ["ps", "status", "status --json", "logs supervisor -n 5", "export alerts -o -",
            "--help", "bench --help", "doctor"]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "cappuccino.toml").write_text("")
    with Store(tmp_path / "var" / "cappuccino.db") as s:
        for i in range(300):  # more than a pipe buffer of `ps` lines
            upsert_process(s, f"trader-{i:03d}-{'x' * 12}", "trader", ["trade"])
        with s.write():
            s.conn.executemany("INSERT INTO alerts (trader, level, message, at) VALUES "
                               "('t', 'INFO', ?, ?)", [("m" * 200, float(i)) for i in range(500)])
    logs = tmp_path / "var" / "logs"
    logs.mkdir(parents=True)
    (logs / "supervisor.log").write_text("line\n" * 100)
    return tmp_path


def run_closed(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run with stdout on a pipe whose reading end is already closed."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([sys.executable, "-m", "engine.cli.main", *argv], cwd=cwd,
                              stdout=w, stderr=subprocess.PIPE, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(w)


@pytest.mark.parametrize("command", COMMANDS)
def test_closed_pipe_is_silent(workdir: Path, command: str) -> None:
    run = run_closed(["--config", str(workdir / "cappuccino.toml"), *command.split()], workdir)
    assert run.stderr == b"" and run.returncode == 0, run.stderr.decode()[-2000:]


def test_head_reads_one_line(workdir: Path) -> None:
    """The usual shell pipeline, with `head` closing after the first line."""
    run = subprocess.run(
        f"{sys.executable} -m engine.cli.main --config {workdir / 'cappuccino.toml'} ps "
        "| head -1; echo \"rc=${PIPESTATUS[0]}\"", shell=True, executable="/bin/bash",
        cwd=workdir, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.stdout.splitlines() == ["supervisor: NOT running", "rc=0"]
    assert run.stderr == ""
