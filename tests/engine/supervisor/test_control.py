"""`cappuccino stop|restart|kill` follow the command to the real outcome and report it, even
when the stop takes the whole grace period or the supervisor is SIGKILLed meanwhile; no row
stays STOPPING (issue 10). Real supervisor, real sampler service, real CLI processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil

from engine.config import load_config
from engine.supervisor import lock
from engine.supervisor.client import control_wait_s
from engine.supervisor.spawn import same_process

sys.path.insert(0, os.path.dirname(__file__))
from conftest import FAST, ROOT  # noqa: E402

CONFIG = (FAST.replace("services = []", 'services = ["sampler"]')
          .replace("stop_grace_s = 1", "stop_grace_s = 3")
          + "[sampler]\ninterval_s = 0.5\nflush_s = 0.5\n")


def setup(harness):  # noqa: ANN001, ANN201
    h = harness()
    h.config_path.write_text(CONFIG)
    h.cfg = load_config(h.config_path, environ={})
    out = h.cli("start", "sampler", timeout=60)
    assert out.returncode == 0, out.stderr
    return h, h.wait_state("sampler", "RUNNING")


def test_stop_waits_through_the_grace_period(harness) -> None:
    h, row = setup(harness)
    os.kill(row.pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    t = time.monotonic()
    out = h.cli("stop", "sampler", timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "killed sampler after 3s grace (ignored SIGTERM)"
    assert time.monotonic() - t >= 3
    row = h.process("sampler")
    assert (row.state, row.pid) == ("STOPPED", None)


def test_restart_and_kill_report_what_happened(harness) -> None:
    h, row = setup(harness)
    out = h.cli("restart", "sampler", timeout=60)
    assert out.returncode == 0, out.stderr
    new = h.process("sampler")
    assert out.stdout.strip() == f"restarted sampler (pid {new.pid})"
    assert new.pid != row.pid and same_process(new.pid, new.create_time)
    out = h.cli("kill", "sampler", timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "killed sampler"), out.stderr
    assert h.process("sampler").state == "STOPPED"
    out = h.cli("stop", "nope", timeout=60)
    assert (out.returncode, out.stderr.strip()) == (
        2, "cappuccino: no process named 'nope' (processes: sampler)")


def test_supervisor_killed_during_a_stop(harness) -> None:
    """The CLI starts a new supervisor, which finishes the stop; the CLI says so."""
    h, row = setup(harness)
    os.kill(row.pid, signal.SIGSTOP)
    cli = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config",
                            str(h.config_path), "stop", "sampler"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    h.wait_state("sampler", "STOPPING")
    first = lock.holder(lock.lock_path(h.cfg.store.path))
    assert first
    os.kill(first, signal.SIGKILL)
    out, err = cli.communicate(timeout=control_wait_s(h.cfg, "stop") + 30)
    assert cli.returncode == 0, err
    assert out.strip() == ("sampler STOPPED (the supervisor had to be started again "
                           "meanwhile)")
    second = lock.holder(lock.lock_path(h.cfg.store.path))
    assert second and second != first
    with h.store() as s:
        assert not s.query("SELECT name FROM processes WHERE state = 'STOPPING'")
    assert not same_process(row.pid, row.create_time)


def test_sigterm_of_the_supervisor_finishes_stops_under_way(harness) -> None:
    """`demo stop` SIGTERMs the supervisor right after `stop all`: the stop still ends
    STOPPED (KILL at its deadline), not STOPPING with nobody left to settle it."""
    from store.commands import insert_command

    h, row = setup(harness)
    os.kill(row.pid, signal.SIGSTOP)
    with h.store() as s:
        insert_command(s, "stop", "sampler", {}, source="test")
    h.wait_state("sampler", "STOPPING")
    sup = lock.holder(lock.lock_path(h.cfg.store.path))
    assert sup
    os.kill(sup, signal.SIGTERM)
    h.wait_for(lambda: lock.holder(lock.lock_path(h.cfg.store.path)) is None, timeout=30,
               what="the supervisor to exit")
    assert h.process("sampler").state == "STOPPED"
    assert not same_process(row.pid, row.create_time)


def test_stop_all_counts_finished_jobs_instead_of_naming_each(harness, script) -> None:
    """After a day of studies `stop all` met thousands of finished trials and named each one
    in its answer (and in the command's row); past a few it counts them."""
    h = harness()
    h.supervise()
    done = script("done.py", "pass\n")
    for i in range(8):
        started = h.command("start", f"job-{i}", {"kind": "exec-job", "argv": done})
        assert started.state == "done", started.result
        h.wait_state(f"job-{i}", "EXITED", timeout=30)
    out = h.cli("stop", "all", timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("8 were not running (job-0, job-1, job-2, job-3, job-4, "
                                  "...)"), out.stdout
    out = h.cli("stop", "job-0", timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "job-0 was not running"), out.stderr


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stop_supervisor_ends_it_after_stop_all_and_nothing_is_left(harness) -> None:
    """The walk's finding: after `stop all` the supervisor itself stayed, and `stop
    supervisor` answered "no process named supervisor". It ends the supervisor now (its
    children keep running: `stop all` first), and says when there is none."""
    h, row = setup(harness)
    sup = lock.holder(lock.lock_path(h.cfg.store.path))
    assert sup
    out = h.cli("stop", "all", timeout=60)
    assert out.returncode == 0, out.stderr
    out = h.cli("stop", "supervisor", timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"stopped the supervisor (pid {sup}); nothing else runs"
    assert lock.holder(lock.lock_path(h.cfg.store.path)) is None
    h.wait_for(lambda: gone(sup), what="the supervisor's exit")
    out = h.cli("stop", "supervisor", timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "the supervisor is not running")
    assert lock.holder(lock.lock_path(h.cfg.store.path)) is None  # nor was one started
    for action in ("start", "restart", "kill"):
        out = h.cli(action, "supervisor", timeout=60)
        assert out.returncode == 2 and "stop supervisor" in out.stderr, out.stderr


def test_stop_supervisor_says_what_keeps_running(harness) -> None:
    h, row = setup(harness)
    sup = lock.holder(lock.lock_path(h.cfg.store.path))
    out = h.cli("stop", "supervisor", timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (f"stopped the supervisor (pid {sup}); still running: sampler "
                                  "(`cappuccino stop all` stops it; a new supervisor adopts it)")
    assert same_process(row.pid, row.create_time)  # its child was left running
