"""Commands that are not about processes, mapped to engine functions imported lazily.

Each handler is `fn(cfg, store, command: CommandRow) -> str` (the result text; raise to
fail). A handler that needs a process started or stopped inserts a command of its own
(source "supervisor") rather than spawning anything itself. Handlers run on the
supervisor's handler thread with their own Store connection, so a slow promotion never
delays restarts or heartbeats.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from engine.config import Config
from store.commands import CommandRow
from store.db import Store

HANDLERS: dict[str, str] = {
    "promote": "engine.promote:execute_command",
    "halt_all": "engine.trading.control:halt_all",
    "resume": "engine.trading.control:resume",
    "exit": "engine.trading.control:exit_command",
    "capital": "engine.promote:change_capital",
}

Handler = Callable[[Config, Store, CommandRow], object]


class NotAvailable(Exception):
    """The handler's module is not part of this build."""


def resolve(action: str) -> Handler:
    spec = HANDLERS.get(action)
    if spec is None:
        raise NotAvailable(f"unknown action {action!r}")
    module_name, _, fn_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        # Only a missing handler module means "not built"; a missing dependency is a bug.
        if e.name and module_name.startswith(e.name):
            raise NotAvailable(f"{action}: not available in this build") from None
        raise
    fn: Handler | None = getattr(module, fn_name, None)  # HANDLERS names Handler functions
    if not callable(fn):
        raise NotAvailable(f"{action}: not available in this build")
    return fn


def run_handler(cfg: Config, store: Store, command: CommandRow) -> str:
    result = resolve(command.action)(cfg, store, command)
    return "" if result is None else str(result)
