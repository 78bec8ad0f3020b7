"""What the console asks of the supervisor: a command row (the console's one kind of write)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from store.commands import insert_command
from store.db import Store

SOURCE = "console"
# Every action that changes something; --readonly disables all of them.
MUTATING = ("start_study", "promote_paper", "promote_ensemble", "promote_live", "capital",
            "stop", "kill", "restart", "halt_all")


@dataclass(frozen=True)
class CommandRequest:
    action: str
    target: str | None = None
    args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        extra = f" {json.dumps(self.args, sort_keys=True)}" if self.args else ""
        return f"{self.action} {self.target or ''}".strip() + extra


def submit(store: Store, req: CommandRequest) -> int:
    return insert_command(store, req.action, req.target, req.args, source=SOURCE)
