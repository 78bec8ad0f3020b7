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
    (("--minutes", "-1"), "--minutes must be between 0 and 1440"),
    (("--kill-rounds", "-1"), "--kill-rounds must be between 0 and 10000"),
    (("--trading-kill-rounds", "-2"), "--trading-kill-rounds must be between 0 and 10000"),
    (("--clock-steps", "-1"), "--clock-steps must be between 0 and 10000"),
    (("--minutes", "0", "--kill-rounds", "0"),
     "nothing to run: --minutes, --kill-rounds, --trading-kill-rounds and --clock-steps are "
     "all 0"),
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


def test_trading_rounds_without_the_fakes_is_one_line(config_path: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """An installed wheel has no tests/fakes: exit 2 saying what it needs, nothing run."""
    from engine.cli.main import main

    monkeypatch.setitem(sys.modules, "tests.fakes", None)  # as if not importable
    code = main(["--config", str(config_path), "soak", "--trading-kill-rounds", "20",
                 "--dir", str(tmp_path / "soak")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("cappuccino: --trading-kill-rounds: the exchange fakes cannot be "
                          "loaded") and "source checkout" in err
    assert not (tmp_path / "soak").exists()


@pytest.mark.slow
def test_trading_kill_rounds_on_both_venues(config_path: Path, tmp_path: Path) -> None:
    """The issue-13 loop as an operator runs it (CI: 2 rounds; the issue's check is 20)."""
    out = soak(config_path, "--minutes", "0", "--kill-rounds", "0", "--trading-kill-rounds",
               "2", "--dir", str(tmp_path / "soak"))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "soak: clean (no order twice, books equal the exchanges)"
    counts = dict(kv.rsplit(" ", 1) for kv in lines[0].removeprefix("soak: ").split(", "))
    assert counts["coinbase_kill_rounds"] == counts["alpaca_kill_rounds"] == "2"
    assert int(counts["coinbase_orders"]) >= 3 and int(counts["alpaca_orders"]) >= 3
    assert "soak: alpaca SIGKILL 2/2" in out.stderr


@pytest.mark.slow
def test_clock_steps_restart_nothing(config_path: Path, tmp_path: Path) -> None:
    """The wall clock of the supervisor and its services steps an hour forward and back
    (CI: 4 steps): no service is taken for hung, samples and notifications go on. Before
    the watchdog judged beats on the monotonic clock, each step restarted services."""
    out = soak(config_path, "--minutes", "0", "--kill-rounds", "0", "--clock-steps", "4",
               "--dir", str(tmp_path / "soak"))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == ("soak: clean (no service restarted by a clock step, samples and "
                         "notifications went on)")
    counts = dict(kv.rsplit(" ", 1) for kv in lines[0].removeprefix("soak: ").split(", "))
    assert counts["clock_steps"] == counts["clock_notifications"] == "4"
    assert int(counts["clock_samples_after"]) >= 10
    assert "soak: clock step 4/4 (back)" in out.stderr
