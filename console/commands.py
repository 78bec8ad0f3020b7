"""What the console asks of the supervisor: a command row (the console's one kind of write).

Every request is checked first with the supervisor's own schemas
(engine.supervisor.commands), so the console never queues what the supervisor would
refuse; the supervisor checks again when it executes (the row is only a request).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from engine.config import Config
from engine.supervisor.commands import Refused, validate_request
from store.commands import insert_command
from store.db import Store

SOURCE = "console"
# Every action that changes something; --readonly disables all of them.
MUTATING = ("start_study", "promote_paper", "promote_ensemble", "promote_live", "capital",
            "stop", "kill", "restart", "halt_all", "exit_position", "flatten")


@dataclass(frozen=True)
class CommandRequest:
    action: str
    target: str | None = None
    args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        extra = f" {json.dumps(self.args, sort_keys=True)}" if self.args else ""
        return f"{self.action} {self.target or ''}".strip() + extra


def submit(store: Store, req: CommandRequest, cfg: Config) -> int:
    """Queue the request; ValueError (the supervisor's reason) when it would be refused."""
    try:
        validate_request(cfg, req.action, req.target, req.args)
    except Refused as e:
        raise ValueError(str(e)) from None
    return insert_command(store, req.action, req.target, req.args, source=SOURCE)
