"""`cappuccino ps | start | stop | restart | kill | logs`: supervised processes from the shell.

start/stop/restart/kill write a command to the store (source "cli"), start the
supervisor when it is absent, and follow the command's row and the processes' rows to the
real outcome (a supervisor that dies meanwhile is started again and finishes the job): exit
0 when done, 1 when it failed or nothing settled by the deadline (the grace period plus a
margin; the message then gives each process's state), 2 for bad usage, an unknown name
included: that is answered from the store before anything is written or started.
`stop all` stops every supervised process (stopping the supervisor itself never does);
`stop supervisor` ends the supervisor (its children keep running: `stop all` first).
`ps` and `logs` only read; they never start anything.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from engine.cli import Subparsers
from engine.cli.errors import JobError, UsageError
from engine.config import Config
from engine.names import UnknownName, listing, no_store, unknown
from engine.text import printable, printable_lines


def register(sub: Subparsers) -> None:
    p = sub.add_parser("ps", help="list supervised processes")
    p.set_defaults(func=run_ps)
    for action, text in (("start", "start a supervised process (or a built-in service)"),
                         ("stop", "stop a process: SIGTERM to its group, SIGKILL after grace"),
                         ("restart", "stop, then start a process"),
                         ("kill", "SIGKILL a process's whole group now")):
        p = sub.add_parser(action, help=text)
        p.add_argument("name", help="process name" + (", or 'all'" if action == "stop" else ""))
        p.add_argument("--wait", type=float, default=None, metavar="S",
                       help="seconds to wait for the outcome (default: grace period + margin)")
        p.set_defaults(func=run_command, action=action)
    p = sub.add_parser("logs", help="show a process's log (name 'supervisor' for its own)")
    p.add_argument("name")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-n", "--lines", type=int, default=50, metavar="N",
                   help="how many lines to show first (default 50)")
    p.add_argument("--grep", metavar="PATTERN", help="only lines matching this regex")
    p.set_defaults(func=run_logs)


def run_ps(args: argparse.Namespace, cfg: Config) -> int:
    from engine.cli.status import (
        empty_doc,
        open_existing,
        process_table,
        process_view,
        store_missing,
    )
    from engine.supervisor.client import supervisor_status
    from store.processes import list_processes

    if store_missing(cfg):
        lines = process_table(empty_doc(cfg))
        print(printable_lines([*lines, f"store {cfg.store.path} does not exist yet: nothing runs"]))
        return 0
    store = open_existing(cfg)
    try:
        alive, pid = supervisor_status(cfg, store)
        now = time.time()
        doc = {"supervisor": {"alive": alive, "pid": pid},
               "processes": [process_view(r, now) for r in list_processes(store)]}
    finally:
        store.close()
    print(printable_lines(process_table(doc)))  # last errors are log lines: no escapes
    return 0


def run_command(args: argparse.Namespace, cfg: Config) -> int:
    from engine.cli.status import store_missing
    from engine.supervisor.client import SupervisorError, control
    from engine.supervisor.commands import Refused, validate_request
    from engine.supervisor.spawn import valid_name

    name = args.name
    if args.wait is not None and args.wait < 0:
        raise UsageError("--wait must be >= 0")
    if name == "supervisor":  # not one of its own processes: it is the lock's holder
        if args.action != "stop":
            raise UsageError("the supervisor is not a supervised process: `cappuccino stop "
                             "supervisor` ends it; any command that needs it starts it")
        return stop_supervisor(cfg, args.wait)
    if not (valid_name(name) or (name == "all" and args.action == "stop")):
        raise UsageError(f"bad process name {name[:64]!r} (letters, digits, . _ - only, "
                         "starting with a letter or digit)")
    try:  # the supervisor's own check, so a refusal is a usage error here
        validate_request(cfg, args.action, name, {})
    except Refused as e:
        raise UsageError(str(e)) from None
    if name != "all":
        _require_known(cfg, name, services=args.action == "start")
    elif store_missing(cfg):  # nothing ever ran: no store, no supervisor to start for it
        print(f"nothing to stop (no store at {cfg.store.path} yet: nothing has run)")
        return 0
    elif _all_stopped_offline(cfg):  # a supervisor started now would only stop nothing
        print("nothing to stop (the supervisor is not running and every process is stopped)")
        return 0
    try:
        outcome = control(cfg, args.action, name, args.wait)
    except SupervisorError as e:
        raise JobError(str(e)) from None
    if outcome.ok:
        print(outcome.text)
        return 0
    raise JobError(outcome.text)


def stop_supervisor(cfg: Config, wait_s: float | None) -> int:
    """SIGTERM the supervisor, which exits leaving its children running (a new one adopts
    them), and wait for its lock to be free. Exit 0 when it is gone (or none ran)."""
    import os
    import signal

    from engine.supervisor import lock
    from engine.supervisor.client import control_wait_s
    from engine.supervisor.spawn import is_supervisor

    path = lock.lock_path(cfg.store.path)
    pid = lock.holder(path)
    if pid is None:
        print("the supervisor is not running")
        return 0
    if not pid or not is_supervisor(pid):  # the pid in the lock file is a claim: check it
        raise JobError(f"{path} is held by pid {pid or '?'}, which is not a cappuccino "
                       "supervisor: not signalled")
    os.kill(pid, signal.SIGTERM)
    wait = control_wait_s(cfg, "stop") if wait_s is None else wait_s
    deadline = time.monotonic() + wait
    while lock.holder(path) == pid:
        if time.monotonic() >= deadline:
            raise JobError(f"the supervisor (pid {pid}) still holds its lock after {wait:g}s")
        time.sleep(0.05)
    running = _running_names(cfg)
    print(f"stopped the supervisor (pid {pid}); " + (
        f"still running: {listing(running)} (`cappuccino stop all` stops "
        f"{'it' if len(running) == 1 else 'them'}; a new supervisor adopts "
        f"{'it' if len(running) == 1 else 'them'})" if running else "nothing else runs"))
    return 0


def _all_stopped_offline(cfg: Config) -> bool:
    """No supervisor holds the lock, and no recorded process runs or would be started by
    the next supervisor (every row's desired state is stopped)."""
    from engine.cli.status import open_existing
    from engine.supervisor import lock
    from engine.supervisor.spawn import same_process
    from store.processes import list_processes

    if lock.holder(lock.lock_path(cfg.store.path)) is not None:
        return False
    store = open_existing(cfg)
    try:
        rows = list_processes(store)
    finally:
        store.close()
    return all(r.desired == "stopped" and not (r.pid and same_process(r.pid, r.create_time,
                                                                      r.name))
               for r in rows)


def _running_names(cfg: Config) -> list[str]:
    from engine.cli.status import open_existing, store_missing
    from engine.supervisor.spawn import same_process
    from store.processes import list_processes

    if store_missing(cfg):
        return []
    store = open_existing(cfg)
    try:
        return [r.name for r in list_processes(store)
                if r.pid and same_process(r.pid, r.create_time, r.name)]
    finally:
        store.close()


def _process_names(cfg: Config) -> list[str] | None:
    """The processes the store knows, trials last (a day of studies leaves thousands);
    None without a store."""
    from engine.cli.status import open_existing, store_missing
    from store.processes import list_processes

    if store_missing(cfg):
        return None
    store = open_existing(cfg)
    try:
        names = [r.name for r in list_processes(store)]
    finally:
        store.close()
    return sorted(names, key=lambda n: (n.startswith("trial-"), n))


def _require_known(cfg: Config, name: str, *, services: bool) -> None:
    """An unknown name is bad usage (exit 2), found before a command row is written or a
    supervisor started. `start` also knows the built-in services it may declare."""
    from engine.supervisor.services import SERVICES

    builtin = list(SERVICES) if services else []
    names = _process_names(cfg)
    if name in builtin or (names is not None and name in names):
        return
    if names is None and not builtin:
        raise no_store("process", name, cfg.store.path)
    known = (names or []) + [s for s in builtin if s not in (names or [])]
    raise unknown("process", name, known, "processes")


def log_file(cfg: Config, name: str) -> Path:
    from engine.supervisor.spawn import log_path, own_log_path
    from engine.supervisor.supervisor import default_log_path

    if name == "supervisor":
        return default_log_path(cfg, name)
    path = log_path(cfg, name)
    if Path(cfg.store.path).exists():
        from engine.cli.status import open_existing
        from store.processes import get_process

        store = open_existing(cfg)
        try:
            row = get_process(store, name)
        finally:
            store.close()
        if row is not None and row.log_path:
            return own_log_path(cfg, name, row.log_path)  # never a file outside the logs
        if row is None and not path.exists():
            known = unknown("process", name, [*(_process_names(cfg) or []), "supervisor"],
                            "processes")
            raise UnknownName(f"{known}{_trial_log_hint(cfg, name)}")
    elif not path.exists():
        raise no_store("process", name, cfg.store.path)
    return path


def _trial_log_hint(cfg: Config, name: str) -> str:
    kept = cfg.retention.trial_logs_days
    return (f"; a trial's log is removed {kept:g} days after its last line ([retention] "
            "trial_logs_days)" if name.startswith("trial-") and kept else "")


def run_logs(args: argparse.Namespace, cfg: Config) -> int:
    from engine.supervisor.logs import follow, tail_lines
    from engine.supervisor.spawn import valid_name

    if not valid_name(args.name):
        raise UsageError(f"bad process name {args.name!r} (letters, digits, . _ - only)")
    if args.lines < 0:
        raise UsageError("-n must be >= 0")
    try:
        pattern = re.compile(args.grep) if args.grep else None
    except re.error as e:
        raise UsageError(f"--grep: not a valid regular expression: {e}") from None
    path = log_file(cfg, args.name)
    if not path.exists() and not args.follow:
        raise JobError(f"no log yet for {args.name} ({path}){_trial_log_hint(cfg, args.name)}")
    if path.exists():
        for line in tail_lines(path, args.lines, pattern):
            print(printable(line))  # a log line may carry an exchange's text: no escapes
    if not args.follow:
        return 0
    sys.stdout.flush()
    try:
        for line in follow(path):
            if pattern is None or pattern.search(line):
                print(printable(line), flush=True)
    except KeyboardInterrupt:
        pass
    return 0
