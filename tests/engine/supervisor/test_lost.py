"""StoreWatch: a store file gone counts only when seen twice CONFIRM_S apart; a store that
is still its own file never counts."""

from __future__ import annotations

import os
from pathlib import Path

from engine.supervisor.lost import CONFIRM_S, StoreWatch
from store.db import Store


def test_deleted_confirmed_on_a_second_check(tmp_path: Path) -> None:
    t = [0.0]
    store = Store(tmp_path / "s.db")
    try:
        watch = StoreWatch(store, clock=lambda: t[0])
        assert watch.lost() is None
        os.unlink(tmp_path / "s.db")
        assert watch.lost() is None  # first sight: not yet
        t[0] += CONFIRM_S / 2
        assert watch.lost() is None
        t[0] += CONFIRM_S
        assert watch.lost() == "deleted"
    finally:
        store.close()


def test_replaced_and_intact(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    try:
        assert store.file_lost() is None
        store.conn.execute("SELECT 1")
        assert store.file_lost() is None  # still its own file after use
        Store(tmp_path / "o.db").close()
        os.replace(tmp_path / "o.db", tmp_path / "s.db")
        assert store.file_lost() == "replaced by another file"
    finally:
        store.close()
