"""The supervisor end to end: real supervisor subprocesses, real children, real signals."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import psutil
import pytest

from engine.supervisor.spawn import same_process
from store.processes import list_processes

SLEEPER = "import sys, time\nprint('up', sys.argv[1:], flush=True)\ntime.sleep(600)\n"


def count_marked(marker: str) -> int:
    n = 0
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = p.info["cmdline"] or []
        if marker in cmd and p.info["status"] != psutil.STATUS_ZOMBIE:
            n += 1
    return n


def test_command_round_trip_start_restart_kill_stop(harness, script) -> None:
    h = harness()
    h.supervise()
    argv = [*script("sleeper.py", SLEEPER), "round-trip"]
    started = h.command("start", "sleeper", {"kind": "exec", "argv": argv})
    assert started.state == "done", started.result
    row = h.wait_state("sleeper", "RUNNING")
    assert f"pid {row.pid}" in (started.result or "")
    assert same_process(row.pid, row.create_time)

    restarted = h.command("restart", "sleeper")
    assert restarted.state == "done", restarted.result
    new = h.wait_state("sleeper", "RUNNING")
    assert new.pid != row.pid and new.restarts == row.restarts + 1
    assert not same_process(row.pid, row.create_time)

    killed = h.command("kill", "sleeper")
    assert killed.state == "done" and "killed" in (killed.result or "")
    assert h.process("sleeper").state == "STOPPED"
    assert not same_process(new.pid, new.create_time)

    again = h.command("start", "sleeper")
    assert again.state == "done", again.result
    third = h.wait_state("sleeper", "RUNNING")
    stopped = h.command("stop", "sleeper")
    assert stopped.state == "done" and stopped.result == "stopped sleeper"
    final = h.process("sleeper")
    assert final.state == "STOPPED" and final.desired == "stopped" and final.pid is None
    assert not same_process(third.pid, third.create_time)
    # The log got the child's output; the audit log kept every command and outcome.
    assert "round-trip" in Path(final.log_path or "").read_text()
    with h.store() as s:
        audit = s.query("SELECT action, state FROM commands ORDER BY id")
    assert [(r["action"], r["state"]) for r in audit] == [
        ("start", "done"), ("restart", "done"), ("kill", "done"), ("start", "done"),
        ("stop", "done")]


def test_adopts_children_after_supervisor_sigkill(harness, script) -> None:
    h = harness()
    first = h.supervise()
    marker = f"adopt-{os.getpid()}-{id(h)}"
    before = h.start_exec("worker", [*script("s.py", SLEEPER), marker])

    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=5)
    assert same_process(before.pid, before.create_time), "child died with its supervisor"

    h.supervise()
    h.wait_for(lambda: "adopted worker" in h.output(2), what="adoption log line")
    after = h.wait_state("worker", "RUNNING")
    assert (after.pid, after.create_time) == (before.pid, before.create_time)
    assert count_marked(marker) == 1  # no duplicate started
    # The adopted child is still under control: a stop reaches its group.
    assert h.command("stop", "worker").state == "done"
    assert not same_process(before.pid, before.create_time)
    assert count_marked(marker) == 0


def test_adoption_restarts_a_daemon_that_died_while_unsupervised(harness, script) -> None:
    h = harness()
    first = h.supervise()
    row = h.start_exec("d", script("d.py", SLEEPER))
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=5)
    os.killpg(row.pid, signal.SIGKILL)
    h.wait_for(lambda: not same_process(row.pid, row.create_time), what="child gone")
    h.supervise()
    h.wait_for(lambda: h.process("d").state == "RUNNING" and h.process("d").pid != row.pid,
               what="restart of the dead daemon")
    assert "status unknown" in (h.process("d").last_error or "")


def test_crash_loop_backs_off_then_goes_fatal(harness) -> None:
    h = harness()
    h.supervise()
    argv = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    row = h.start_exec("crasher", argv, "FATAL")
    cfg = h.cfg.supervisor
    assert row.quick_restarts == cfg.max_quick_restarts
    assert row.restarts == cfg.max_quick_restarts - 1
    assert row.pid is None and row.exit_code == 3
    assert row.last_error == "exited with code 3: boom"
    # Delays grew by backoff_factor between the quick exits.
    delays = [float(x) for x in re.findall(r"restarting in ([0-9.]+)s", h.output())]
    assert delays == pytest.approx([cfg.backoff_initial_s * cfg.backoff_factor ** i
                                    for i in range(cfg.max_quick_restarts - 1)], rel=0.01)
    with h.store() as s:
        events = s.query("SELECT level, title FROM outbox WHERE event = 'process' ORDER BY id")
    assert [e["level"] for e in events] == ["warning"] * (cfg.max_quick_restarts - 1) + [
        "failure"]
    assert events[-1]["title"] == "crasher is FATAL"
    # FATAL stays down until the operator starts it again.
    assert h.process("crasher").state == "FATAL"
    again = h.command("start", "crasher")
    assert again.state == "done"
    assert h.wait_state("crasher", "FATAL").restarts > row.restarts


def test_job_that_finishes_is_not_restarted(harness) -> None:
    h = harness()
    h.supervise()
    argv = [sys.executable, "-c", "print('done')"]
    assert h.command("start", "job", {"kind": "exec-job", "argv": argv}).state == "done"
    row = h.wait_state("job", "EXITED")
    assert row.exit_code == 0 and row.restarts == 0 and row.last_error is None


def test_term_ignoring_group_is_killed_after_grace(harness, script, tmp_path) -> None:
    h = harness()
    h.supervise()
    pidfile = tmp_path / "grandchild.pid"
    argv = script("stubborn.py", (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
        "open(sys.argv[1] + '.tmp', 'w').write(str(g.pid))\n"
        "import os; os.replace(sys.argv[1] + '.tmp', sys.argv[1])\n"
        "time.sleep(600)\n")) + [str(pidfile)]
    row = h.start_exec("stubborn", argv)
    h.wait_for(pidfile.exists, what="grandchild pid file")
    grand = psutil.Process(int(pidfile.read_text()))
    grand_ct = grand.create_time()
    h.extra_pids.append(grand.pid)
    assert os.getpgid(grand.pid) == row.pid  # same group as the child

    stopped = h.command("stop", "stubborn", timeout=20)
    assert stopped.state == "done", stopped.result
    assert "ignored SIGTERM" in (stopped.result or "")
    assert not same_process(row.pid, row.create_time)
    assert not same_process(grand.pid, grand_ct)
    assert "SIGKILL to group" in h.output()


def test_second_supervisor_on_same_store_is_refused(harness) -> None:
    h = harness()
    first = h.supervise()
    second = h.cli("supervise", timeout=20)
    assert second.returncode == 1
    assert f"supervisor already running (pid {first.pid})" in second.stderr
    assert "Traceback" not in second.stderr
    assert first.poll() is None


def test_sigterm_ends_supervisor_but_not_children(harness, script) -> None:
    h = harness()
    sup = h.supervise()
    row = h.start_exec("keep", script("k.py", SLEEPER))
    sup.send_signal(signal.SIGTERM)
    assert sup.wait(timeout=10) == 0
    assert same_process(row.pid, row.create_time)
    with h.store() as s:
        assert [r.state for r in list_processes(s)] == ["RUNNING"]


def test_unknown_process_and_bad_input_fail_clearly(harness) -> None:
    h = harness()
    h.supervise()
    assert h.command("stop", "nope").result == "no process named 'nope' (processes: none yet)"
    assert h.command("kill", "nope").result == "no process named 'nope' (processes: none yet)"
    assert h.command("restart", "nope").state == "failed"
    bad = h.command("start", "../x", {"kind": "exec", "argv": ["true"]})
    assert bad.state == "failed" and "target must be a process name" in (bad.result or "")
    missing = h.command("start", "ghost", {"kind": "exec", "argv": ["/nonexistent/bin"]})
    assert missing.state == "failed" and "cannot start" in (missing.result or "")
    promote = h.command("promote", "x")
    assert promote.state in ("done", "failed")  # handled (or "not available in this build")


def test_child_log_is_rotated_while_it_keeps_writing(harness, script) -> None:
    h = harness()
    h.supervise()
    argv = script("chatty.py", (
        "import time\n"
        "for burst in range(6):\n"
        "    print(f'burst {burst} ' + 'x' * 6000, flush=True)\n"
        "    time.sleep(0.3)\n"
        "print('tail-marker', flush=True)\n"
        "time.sleep(600)\n"))
    assert h.command("start", "chatty", {"kind": "exec", "argv": argv}).state == "done"
    log = Path(h.process("chatty").log_path or "")
    h.wait_for(lambda: log.exists() and "tail-marker" in log.read_text(), what="tail marker")
    backups = sorted(p.name for p in log.parent.glob("chatty.log.*"))
    assert backups == ["chatty.log.1", "chatty.log.2"]  # log_backups = 2, oldest dropped
    assert log.stat().st_size < 2 * h.cfg.supervisor.log_max_bytes
    assert b"\0" not in log.read_bytes()  # O_APPEND: no sparse hole after truncation


def test_sighup_is_survived_and_children_do_not_inherit_an_ignored_hup(harness, script,
                                                                     tmp_path) -> None:
    h = harness()
    sup = h.supervise()
    probe = script("hup.py", (
        "import signal, sys, time\n"
        "print('hup', signal.getsignal(signal.SIGHUP) == signal.SIG_DFL, flush=True)\n"
        "time.sleep(600)\n"))
    assert h.command("start", "hup", {"kind": "exec", "argv": probe}).state == "done"
    log = Path(h.process("hup").log_path or "")
    h.wait_for(lambda: log.exists() and "hup" in log.read_text(), what="child output")
    assert "hup True" in log.read_text()
    sup.send_signal(signal.SIGHUP)
    h.wait_for(lambda: "SIGHUP ignored" in h.output(), what="SIGHUP log line", alive=sup)
    assert h.command("stop", "hup").state == "done"  # still supervising


def test_finished_trial_rows_are_pruned_failed_ones_stay(harness) -> None:
    from engine.supervisor.supervisor import Supervisor
    from store.processes import update_process, upsert_process

    h = harness("keep_exited_s = 60\n")
    old = 1_000.0  # finished long before now - keep_exited_s
    with h.store() as s:
        for name, kind, state, code, stopped in (
                ("trial-s-0", "trial", "EXITED", 0, old), ("trial-s-1", "trial", "FATAL", 1, old),
                ("trial-s-2", "trial", "EXITED", 0, None), ("study-s", "study", "EXITED", 0, old),
                ("trial-s-3", "trial", "STOPPED", -9, old)):
            upsert_process(s, name, kind, ["worker"])
            update_process(s, name, state=state, exit_code=code, stopped_at=stopped)
        sup = Supervisor(h.cfg, s)
        sup.tick()  # one supervisor poll, in this process
        names = sorted(r.name for r in list_processes(s))
        assert names == ["study-s", "trial-s-1", "trial-s-2", "trial-s-3"]  # just updated: kept
        update_process(s, "trial-s-2", stopped_at=old)
        assert sup.prune_finished() == []  # at most once a minute
        assert sup.prune_finished(force=True) == ["trial-s-2"]
