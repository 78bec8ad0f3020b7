"""A store as an older release left it: every migration before a given one, for the tests
that prove a migration moves a populated store forward without losing a row."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import store.db as store_db
from store.db import Store
from store.migrations import migrations


def version_of(suffix: str) -> int:
    """The version of the one migration whose file name ends with `suffix`."""
    (version,) = [v for v, name, _ in migrations() if name.endswith(suffix)]
    return version


@contextlib.contextmanager
def store_before(path: Path, suffix: str) -> Iterator[Store]:
    """The store at `path` at the version before the migration ending with `suffix`, in a
    write transaction: rows written in the block land in the old schema."""
    target = version_of(suffix)
    earlier = [m for m in migrations() if m[0] < target]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store_db, "migrations", lambda: earlier)
        mp.setattr(store_db, "latest_version", lambda: len(earlier))
        with Store(path) as s, s.write():
            assert s.version == target - 1
            yield s
