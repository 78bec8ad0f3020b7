"""`cappuccino supervise`: run the supervisor in the foreground (one per store).

The console and the other CLI commands start it detached when it is absent. SIGTERM or
Ctrl-C ends the supervisor only; its children keep running (a new supervisor adopts
them). To stop the children: `cappuccino stop all`; then `cappuccino stop supervisor`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from engine.cli import Subparsers
from engine.cli.errors import JobError
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("supervise", help="run the process supervisor (one per store)",
                       description=__doc__.splitlines()[0])
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.runtime import ensure_dir, open_store
    from engine.supervisor.lock import AlreadyRunning, acquire, lock_path
    from engine.supervisor.supervisor import Supervisor

    try:
        fd = acquire(lock_path(cfg.store.path))
    except AlreadyRunning as e:
        raise JobError(str(e)) from None
    except OSError as e:
        raise JobError(f"{lock_path(cfg.store.path)}: cannot take the supervisor lock: "
                       f"{e.strerror or e}") from None
    handler = logging.StreamHandler(sys.stderr)
    fmt = logging.Formatter("%(asctime)s supervisor[%(process)d] %(levelname)s %(message)s",
                            "%Y-%m-%dT%H:%M:%SZ")
    fmt.converter = time.gmtime
    handler.setFormatter(fmt)
    root = logging.getLogger("cappuccino")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    ensure_dir(cfg.paths.logs)
    store = open_store(cfg)
    try:
        return Supervisor(cfg, store).run()
    finally:
        store.close()
        os.close(fd)
