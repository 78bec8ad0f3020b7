"""The health line: is anything wrong right now, and where (pure; no Textual, no store).

One line on top of every pane (and so in `--serve`): the supervisor (alive or not, with its
heartbeat age), the store (ok, or unreadable with its path), HALTED/REDUCING traders,
traders whose newest alert is CRITICAL/EMERGENCY, and FATAL processes. Each problem is a
`Cause` the `!` key jumps to, in order of urgency.
"""

from __future__ import annotations

from dataclasses import dataclass

BAD_TRADING = ("HALTED", "REDUCING")
BAD_LEVELS = ("EMERGENCY", "CRITICAL")


@dataclass(frozen=True)
class Cause:
    """One problem: the pane that shows it, the row to select there (table id, row key)."""

    text: str
    pane: str
    table: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Health:
    ok: bool
    text: str
    causes: tuple[Cause, ...] = ()


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "no beat"
    s = int(seconds)
    return "beat " + (f"{s}s" if s < 120 else (f"{s // 60}m" if s < 7200 else f"{s // 3600}h"))


def health(*, store_path: str, store_error: str | None, sup_alive: bool,
           sup_pid: int | None, sup_age_s: float | None,
           traders: tuple[tuple[str, str, str | None], ...] = (),
           levels: tuple[tuple[str, str], ...] = (),
           processes: tuple[tuple[str, str], ...] = ()) -> Health:
    """traders: (name, trading state, reason); levels: (trader, newest alert level);
    processes: (name, state)."""
    causes: list[Cause] = []
    parts: list[str] = []
    if sup_alive:
        parts.append(f"supervisor ok ({_age(sup_age_s)})")
    else:
        why = "not running" if sup_pid is None else f"pid {sup_pid} silent"
        causes.append(Cause(f"supervisor DOWN ({why}, {_age(sup_age_s)})", "processes",
                            "procs-table", "supervisor"))
        parts.append(f"supervisor DOWN ({_age(sup_age_s)})")
    if store_error is not None:
        # The path in full: the operator must see which file could not be read.
        causes.insert(0, Cause(f"store UNREADABLE {store_path}: {store_error}", "store"))
        parts.append(f"store UNREADABLE {store_path}")
    else:
        parts.append("store ok")
    fatal = [n for n, s in processes if s == "FATAL"]
    for name in fatal:
        causes.append(Cause(f"process {name} FATAL", "processes", "procs-table", name))
    for state in BAD_TRADING:
        hit = [(n, r) for n, s, r in traders if s == state]
        for name, reason in hit:
            causes.append(Cause(f"trader {name} {state}" + (f": {reason}" if reason else ""),
                                "positions", "traders-table", name))
        if hit:
            parts.append(f"{len(hit)} {state}")
    for level in BAD_LEVELS:
        names = [n for n, lv in levels if lv == level]
        for name in names:
            causes.append(Cause(f"trader {name} alert level {level}", "alerts",
                                "alerts-levels", name))
        if names:
            parts.append(f"{len(names)} {level}")
    if fatal:
        parts.append(f"{len(fatal)} FATAL")
    ok = not causes
    if not ok:
        parts.append("! why")
    return Health(ok, ("● " if ok else "✖ ") + "  ".join(parts), tuple(causes))
