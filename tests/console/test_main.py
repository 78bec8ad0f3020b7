"""`cappuccino-console` arguments and bad configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from console.main import main, parse_args


def test_bad_config_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "cappuccino.toml"
    bad.write_text("[console]\nrefresh_s = 0.01\n")
    assert main(["--config", str(bad), "--readonly"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "refresh_s" in err and "Traceback" not in err


def test_flags() -> None:
    a = parse_args(["--readonly", "--demo", "--serve", "--config", "x.toml"])
    assert (a.readonly, a.demo, a.serve, a.config) == (True, True, True, "x.toml")
    assert parse_args([]).readonly is False


def test_entry_point_help_runs_without_heavy_imports() -> None:
    code = ("import sys, runpy; sys.argv = ['cappuccino-console', '--help']\n"
            "try:\n    runpy.run_module('console.main', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'optuna', 'coinbase', 'alpaca')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])
    assert "--readonly" in out.stdout and out.stdout.strip().endswith("[]")


def test_in_a_checkout_the_console_shows_the_demo_store(tmp_path: Path) -> None:
    """`cappuccino-console` where the README's first command ran (the repository, whose
    ./cappuccino.toml is the reference) shows the demo's store in its header, as the CLI
    does, and makes no empty default store. A real console on a pseudo-terminal."""
    import fcntl
    import os
    import select
    import struct
    import termios
    import time

    from engine.config import load_config
    from engine.demo import write_demo_files
    from store.db import Store

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "cappuccino.toml").write_bytes((root / "cappuccino.toml").read_bytes())
    Store(load_config(write_demo_files(tmp_path / "var" / "demo"), environ={})
          .store.path).close()
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    env.update({"TERM": "xterm-256color", "PYTHONPATH": str(root)})
    proc = subprocess.Popen([sys.executable, "-m", "console.main", "--readonly"],
                            cwd=tmp_path, env=env, stdin=follower, stdout=follower,
                            stderr=follower, start_new_session=True)
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"var/demo/cappuccino.db" not in seen and time.monotonic() < deadline:
            if select.select([leader], [], [], 0.5)[0]:
                try:
                    seen += os.read(leader, 65536)
                except OSError:  # the console ended
                    break
    finally:
        proc.kill()
        proc.wait(30)
        os.close(leader)
    assert b"var/demo/cappuccino.db" in seen, seen[-2000:]
    assert not (tmp_path / "var" / "cappuccino.db").exists()
