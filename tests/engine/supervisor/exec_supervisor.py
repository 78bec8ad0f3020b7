"""A test's own supervisor: production code plus kinds that run an arbitrary argv.

Production has no such kind (engine.supervisor.spawn runs only cappuccino subcommands).
The supervisor tests need children that sleep, crash or ignore SIGTERM, so they start this
entry point instead of `python -m engine.cli.main`; it registers "exec" (a daemon) and
"exec-job" (a job) in this process only, then runs the ordinary CLI.

    python tests/engine/supervisor/exec_supervisor.py --config PATH supervise

With EXEC_SUPERVISOR_CLOCK_SHIFT=FILE, this process's wall clock (time.time) is the real one
plus the seconds FILE holds (tests/fakes/clockshift); its children keep the real clock.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from engine.supervisor import commands, policy, spawn  # noqa: E402


class StartExec(commands.Typed):
    kind: Literal["exec", "exec-job"]
    argv: list[str]

    def process(self) -> tuple[str, list[str]]:
        return self.kind, list(self.argv)


def register() -> None:
    for kind in ("exec", "exec-job"):
        commands.START_KINDS[kind] = StartExec
        spawn.CUSTOM_KINDS[kind] = list
    policy.JOB_KINDS = policy.JOB_KINDS | {"exec-job"}


if __name__ == "__main__":
    register()
    if os.environ.get("EXEC_SUPERVISOR_CLOCK_SHIFT"):  # this process only, not its children
        from tests.fakes.clockshift.sitecustomize import install

        install(os.environ["EXEC_SUPERVISOR_CLOCK_SHIFT"])
    from engine.cli.main import main

    sys.exit(main(sys.argv[1:]))
