"""`cappuccino ps | start | stop | kill | restart | logs` from the shell."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config import load_config
from engine.supervisor.lock import holder, lock_path
from store.db import Store
from store.processes import update_process, upsert_process

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def fast_config(supervised_config: Callable[[str], Path]) -> Path:
    # The CLI starts a detached supervisor: supervised_config kills it afterwards.
    return supervised_config("[supervisor]\npoll_s = 0.05\nheartbeat_s = 0.2\nstop_grace_s = 1\n"
                             "stale_heartbeats = 25\nservices = []\n")


def cli(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config),
                           *argv], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_stop_unknown_process_is_bad_usage_and_starts_nothing(fast_config: Path) -> None:
    cfg = load_config(fast_config, environ={})
    r = cli(fast_config, "stop", "nope")
    assert r.returncode == 2
    assert r.stderr.strip() == (f"cappuccino: no process named 'nope' (no store at "
                                f"{cfg.store.path} yet: nothing has run)")
    assert not Path(cfg.store.path).exists() and not holder(lock_path(cfg.store.path))
    Path(cfg.store.path).parent.mkdir(parents=True)
    with Store(cfg.store.path) as s:
        # A real production kind (the supervisor runs nothing else).
        upsert_process(s, "napper", "sampler", ["sample"], "stopped")
    r = cli(fast_config, "stop", "nope")
    assert (r.returncode, r.stderr.strip()) == (
        2, "cappuccino: no process named 'nope' (processes: napper)")
    with Store(cfg.store.path) as s:
        assert s.query("SELECT * FROM commands") == []  # asked nobody: nothing recorded
    assert not holder(lock_path(cfg.store.path))
    r = cli(fast_config, "start", "napper")
    assert r.returncode == 0 and r.stdout.startswith("started napper (pid ")
    r = cli(fast_config, "stop", "all")
    assert (r.returncode, r.stdout.strip()) == (0, "stopped napper")


def test_bad_usage_exits_2(config_path: Path, capsys) -> None:
    assert main(["--config", str(config_path), "stop", "../etc"]) == 2
    assert "bad process name" in capsys.readouterr().err
    assert main(["--config", str(config_path), "start", "x", "--wait", "-1"]) == 2
    assert main(["--config", str(config_path), "logs", "x", "--grep", "("]) == 2
    assert "--grep" in capsys.readouterr().err


def test_ps_and_logs_read_the_store_and_files(config_path: Path, capsys) -> None:
    cfg = load_config(config_path, environ={})
    log = Path(cfg.paths.logs) / "trader-a.log"
    log.parent.mkdir(parents=True)
    log.write_text("".join(f"{i} {'ERROR' if i % 10 == 0 else 'info'} line\n"
                           for i in range(100)))
    with Store(cfg.store.path) as s:
        upsert_process(s, "trader-a", "trader", ["trade", "--name", "a"])
        update_process(s, "trader-a", state="BACKOFF", last_error="exited with code 2",
                       log_path=str(log), restarts=3)
    base = ["--config", str(config_path)]
    assert main([*base, "ps"]) == 0
    out = capsys.readouterr().out
    assert "supervisor: NOT running" in out
    assert "trader-a" in out and "BACKOFF" in out and "exited with code 2" in out
    assert main([*base, "logs", "trader-a", "-n", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == ["98 info line", "99 info line"]
    assert main([*base, "logs", "trader-a", "-n", "3", "--grep", "ERR"]) == 0
    assert capsys.readouterr().out.splitlines() == ["70 ERROR line", "80 ERROR line",
                                                    "90 ERROR line"]
    assert main([*base, "logs", "nobody"]) == 2
    assert "no process named 'nobody' (processes: trader-a, supervisor)" in capsys.readouterr().err


def test_logs_of_the_supervisor_itself(config_path: Path, capsys) -> None:
    cfg = load_config(config_path, environ={})
    assert main(["--config", str(config_path), "logs", "supervisor"]) == 1
    assert "no log yet for supervisor" in capsys.readouterr().err
    log = Path(cfg.paths.logs) / "supervisor.log"
    log.parent.mkdir(parents=True)
    log.write_text("a\nb supervising\nc\n")
    assert main(["--config", str(config_path), "logs", "supervisor", "--grep", "superv"]) == 0
    assert capsys.readouterr().out == "b supervising\n"


def test_logs_of_a_trial_whose_log_retention_removed(config_path: Path, capsys) -> None:
    cfg = load_config(config_path, environ={})
    Path(cfg.store.path).parent.mkdir(parents=True)
    Store(cfg.store.path).close()  # the trial's row and its log were both pruned
    assert main(["--config", str(config_path), "logs", "trial-s-3"]) == 2
    err = capsys.readouterr().err
    assert "no process named 'trial-s-3'" in err and "removed 14 days after its last line" in err
    assert len(err.strip().splitlines()) == 1
    with Store(cfg.store.path) as s:  # its row kept, its log removed: nothing unknown
        upsert_process(s, "trial-s-3", "trial", ["worker", "--study", "s", "--trial", "3"])
    assert main(["--config", str(config_path), "logs", "trial-s-3"]) == 1
    err = capsys.readouterr().err
    assert "no log yet for trial-s-3" in err and "removed 14 days after its last line" in err


def test_stop_supervisor_never_signals_a_process_that_is_not_one(config_path: Path) -> None:
    """The pid in the lock file is the holder's claim: a process holding the lock that is
    not `cappuccino supervise` (a forged or reused lock) is named, never signalled."""
    cfg = load_config(config_path, environ={})
    lock = lock_path(cfg.store.path)
    lock.parent.mkdir(parents=True)
    code = ("import fcntl, os, sys, time\n"
            f"fd = os.open({str(lock)!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.pwrite(fd, f'{os.getpid()}\\n'.encode(), 0)\n"
            "print('held', flush=True)\n"
            "time.sleep(60)\n")
    holder_proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                                   text=True)
    try:
        assert holder_proc.stdout is not None and holder_proc.stdout.readline() == "held\n"
        r = cli(config_path, "stop", "supervisor")
        assert r.returncode == 1 and "not a cappuccino supervisor: not signalled" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
        assert holder_proc.poll() is None  # still alive: nothing was sent to it
        assert holder(lock) == holder_proc.pid
    finally:
        holder_proc.kill()
        holder_proc.wait(timeout=10)


def test_stop_all_before_anything_ran_creates_nothing(
        supervised_config: Callable[[str], Path]) -> None:
    """`stop all` on a fresh installation made a store, started a supervisor and its
    services only to stop them, and the supervisor stayed running: the one thing left
    behind by a command meant to stop everything."""
    config_path = supervised_config("")  # the default services, as a fresh install has
    cfg = load_config(config_path, environ={})
    r = cli(config_path, "stop", "all")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"nothing to stop (no store at {cfg.store.path} yet: nothing "
                                "has run)")
    assert not Path(cfg.store.path).exists() and not holder(lock_path(cfg.store.path))
    for action in ("stop", "kill"):
        assert cli(config_path, action, "nothing").returncode == 2
    assert not Path(cfg.store.path).parent.exists() or not any(
        Path(cfg.store.path).parent.iterdir())


def test_stop_all_again_after_stop_supervisor_starts_nothing(fast_config: Path) -> None:
    """The operator's way to go offline (`stop all`, `stop supervisor`, then `compact`): a
    second `stop all` on the way started a supervisor only to answer "nothing to stop", and
    left it running, so `compact` was refused. With the supervisor down and every process
    stopped, there is nothing to ask it: nothing is started."""
    cfg = load_config(fast_config, environ={})
    Path(cfg.store.path).parent.mkdir(parents=True)
    with Store(cfg.store.path) as s:
        upsert_process(s, "napper", "sampler", ["sample"], "stopped")
    assert cli(fast_config, "start", "napper").returncode == 0
    assert cli(fast_config, "stop", "all").stdout.strip() == "stopped napper"
    assert cli(fast_config, "stop", "supervisor").returncode == 0
    assert not holder(lock_path(cfg.store.path))
    r = cli(fast_config, "stop", "all")
    assert (r.returncode, r.stdout.strip()) == (
        0, "nothing to stop (the supervisor is not running and every process is stopped)")
    assert not holder(lock_path(cfg.store.path)), "a supervisor was started"
    r = cli(fast_config, "compact")
    assert r.returncode == 0, r.stderr
    with Store(cfg.store.path) as s:  # a row a supervisor would still start: it is asked
        update_process(s, "napper", desired="running")
    r = cli(fast_config, "stop", "all")
    assert r.returncode == 0 and "the supervisor is not running" not in r.stdout, r.stderr
    assert holder(lock_path(cfg.store.path))  # the supervisor fixture stops it
