"""Fault injection for tests ONLY: the trial worker reads CAPPUCCINO_FAULT.

Never set it in production. Format: entries separated by ";", each a comma-separated list
of key=value; `trial=N` limits an entry to one trial, `attempt=N` to one attempt (default
1, so a fault fires once and the retry shows recovery; `attempt=*` fires on every attempt).

    oom_at_update=U           raise torch.cuda.OutOfMemoryError inside update U's
                              training step
    nan_at_update=U           poison the actor's weights at update U (the loss becomes NaN)
    sigkill_at_update=U       the worker SIGKILLs itself after update U
    corrupt_ckpt_at_update=U  after the checkpoint at update U: garble it, then SIGKILL
    hang_at_update=U          hang forever inside update U's training step (the heartbeat
                              thread keeps beating; only the driver's time limit ends it)
    free_mb=X                 free-space checks see X MB free

Example: CAPPUCCINO_FAULT="trial=0,oom_at_update=2;trial=1,sigkill_at_update=3"
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ENV_FAULT = "CAPPUCCINO_FAULT"
KEYS = ("oom_at_update", "nan_at_update", "sigkill_at_update", "corrupt_ckpt_at_update",
        "hang_at_update", "free_mb")


@dataclass(frozen=True)
class Faults:
    oom_at_update: int | None = None
    nan_at_update: int | None = None
    sigkill_at_update: int | None = None
    corrupt_ckpt_at_update: int | None = None
    hang_at_update: int | None = None
    free_mb: float | None = None


def parse(text: str, trial: int, attempt: int) -> Faults:
    values: dict[str, float] = {}
    for entry in filter(None, (e.strip() for e in text.split(";"))):
        kv = dict(p.split("=", 1) for p in entry.split(",") if "=" in p)
        if "trial" in kv and int(kv["trial"]) != trial:
            continue
        want = kv.get("attempt", "1")
        if want != "*" and int(want) != attempt:
            continue
        for key in KEYS:
            if key in kv:
                values[key] = float(kv[key])
    # free_mb is a float, every other fault an int (KEYS are Faults' own fields)
    return Faults(**{k: (v if k == "free_mb" else int(v)) for k, v in values.items()})  # type: ignore[arg-type]


def from_env(trial: int, attempt: int) -> Faults:
    return parse(os.environ.get(ENV_FAULT, ""), trial, attempt)
