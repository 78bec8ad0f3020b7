"""Runs many `cappuccino` command lines, each in its own forked process, for one import.

Started as `python -m tests.engine.cli.bad_input_driver RESULTS.json` with a JSON list of
cases on stdin: {"id", "argv", "cwd"}. The parent imports the CLI once, then forks a child
per case; the child points fds 0/1/2 at /dev/null and two files, runs `engine.cli.main`
exactly as `python -m engine.cli.main` would (an escaping exception prints its traceback
and exits 1), and the parent writes {id: {"code", "stdout", "stderr"}} to RESULTS.json.
Forking keeps the corpus to one interpreter start-up on a loaded machine.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

PER_CASE_S = 90.0


def _child(argv: list[str], cwd: str, out: Path, err: Path) -> None:
    from engine.cli.main import main

    os.chdir(cwd)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(f, fd)
        os.close(f)
    code: int
    try:
        code = main(argv)
    except SystemExit as e:
        if isinstance(e.code, int) or e.code is None:
            code = e.code or 0
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:  # what the interpreter would do with an escaping exception
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _wait(pid: int) -> int:
    deadline = time.monotonic() + PER_CASE_S
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -9


def run(cases: list[dict[str, object]], scratch: Path) -> dict[str, dict[str, object]]:
    import engine.cli.main  # noqa: F401  (paid once, before the forks)

    results: dict[str, dict[str, object]] = {}
    for n, case in enumerate(cases):
        out, err = scratch / f"{n}.out", scratch / f"{n}.err"
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            argv = case["argv"]
            assert isinstance(argv, list)
            _child([str(a) for a in argv], str(case["cwd"]), out, err)
        code = _wait(pid)
        results[str(case["id"])] = {
            "code": code, "stdout": out.read_text(errors="replace"),
            "stderr": err.read_text(errors="replace")}
    return results


if __name__ == "__main__":
    target = Path(sys.argv[1])
    scratch = target.parent / "driver-scratch"
    scratch.mkdir(exist_ok=True)
    target.write_text(json.dumps(run(json.load(sys.stdin), scratch)))
