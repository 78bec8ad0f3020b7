"""Helpers to turn sqlite3 rows into frozen dataclasses."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any, ClassVar, Protocol, TypeVar


class Dataclass(Protocol):
    """Any dataclass (what dataclasses.fields accepts)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


T = TypeVar("T", bound=Dataclass)


def to_row(cls: type[T], row: sqlite3.Row | None) -> T | None:
    if row is None:
        return None
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: row[k] for k in row.keys() if k in names})


def to_rows(cls: type[T], rows: list[sqlite3.Row]) -> list[T]:
    if not rows:
        return []
    names = {f.name for f in dataclasses.fields(cls)}
    keys = [k for k in rows[0].keys() if k in names]
    return [cls(**{k: r[k] for k in keys}) for r in rows]
