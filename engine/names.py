"""Names the operator types (processes, traders, studies, trials): an unknown one is bad usage.

Every command that takes a name answers an unknown one the same way: one line naming it and
the first few names that exist, exit 2 (design.md: bad usage). The CLI maps `UnknownName`
to that wherever it is raised; the console and the supervisor show or record its text.
"""

from __future__ import annotations

from collections.abc import Sequence

FIRST = 5  # names listed before "and N more": a day of studies leaves thousands of trials


def listing(names: Sequence[object], first: int = FIRST) -> str:
    """'a, b, c', 'a, b, c, d, e and 12 more', or 'none yet'."""
    items = [str(n) for n in names]
    if not items:
        return "none yet"
    shown = ", ".join(items[:first])
    return shown if len(items) <= first else f"{shown} and {len(items) - first} more"


class UnknownName(ValueError):
    """A name the store does not know. A ValueError, so callers that already turn a
    ValueError into a refusal (the supervisor's handlers) keep doing so."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def unknown(kind: str, name: object, known: Sequence[object], plural: str = "") -> UnknownName:
    """`no trader named 'x' (traders: a, b)`: the error to raise for an unknown name."""
    label = plural or f"{kind}s"
    return UnknownName(f"no {kind} named {name!r} ({label}: {listing(known)})")


def no_store(kind: str, name: object, path: str) -> UnknownName:
    """An unknown name because nothing has run yet: the store is never created to say so."""
    return UnknownName(f"no {kind} named {name!r} (no store at {path} yet: nothing has run)")
