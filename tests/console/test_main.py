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
