"""`cappuccino soak`: bad usage is one line and exit 2; a short real run exits 0 and says
what it checked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def soak(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config),
                           "soak", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("args, says", [
    (("--minutes", "0"), "--minutes must be > 0 and at most 1440"),
    (("--kill-rounds", "-1"), "--kill-rounds must be between 0 and 10000"),
])
def test_bad_usage(config_path: Path, args: tuple[str, ...], says: str) -> None:
    out = soak(config_path, *args)
    assert out.returncode == 2 and out.stderr.strip() == f"cappuccino: {says}"


def test_non_empty_dir_refused(config_path: Path, tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("")
    out = soak(config_path, "--dir", str(tmp_path / "busy"))
    assert out.returncode == 2 and "not empty" in out.stderr


@pytest.mark.slow
def test_short_soak_is_clean(config_path: Path, tmp_path: Path) -> None:
    out = soak(config_path, "--minutes", "0.1", "--kill-rounds", "0", "--quiet",
               "--dir", str(tmp_path / "soak"))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1].startswith("soak: clean") and "writer_rows_acked" in lines[0]
