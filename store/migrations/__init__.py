"""Versioned schema migrations. Migration N is `vNNNN_*.sql`; PRAGMA user_version = N after it.

Never edit a released migration: add the next one. Times are REAL unix seconds (UTC).
Money and quantities are Decimal text (exact), except derived floats marked `_f`.
"""

from __future__ import annotations

from importlib import resources


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) in order."""
    out = []
    for entry in resources.files(__package__).iterdir():
        name = entry.name
        if name.startswith("v") and name.endswith(".sql"):
            out.append((int(name[1:5]), name, entry.read_text(encoding="utf-8")))
    out.sort()
    versions = [v for v, _, _ in out]
    if versions != list(range(1, len(out) + 1)):
        raise RuntimeError(f"migration versions must be 1..N without gaps, got {versions}")
    return out


def latest_version() -> int:
    return len(migrations())
