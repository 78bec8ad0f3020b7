"""Built-in services the supervisor keeps running: name -> (kind, cappuccino argv).

`[supervisor] services` picks which ones are declared at supervisor start. A service the
operator stopped stays stopped across supervisor restarts; a FATAL one is retried once
per supervisor start (the build may have been fixed since).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    name: str
    kind: str
    argv: tuple[str, ...]


SERVICES: dict[str, Service] = {
    "monitor": Service("monitor", "monitor", ("monitor",)),
    "sampler": Service("sampler", "sampler", ("sample",)),
    "notifier": Service("notifier", "notifier", ("notify",)),
    # Phone control: only when listed in [supervisor] services ([telegram] enabled too).
    "telegram": Service("telegram", "telegram", ("telegram",)),
}


def service(name: str) -> Service | None:
    return SERVICES.get(name)
