"""The outbox's retention: delivered and silent rows go after a while, pending ones never."""

from __future__ import annotations

from pathlib import Path

from store.db import Store
from store.outbox import enqueue, mark_failed, mark_sent, pending_count, prune_delivered, recent


def test_prune_delivered_keeps_every_pending_row(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        sent_old = enqueue(store, "fill", "info", "t", "sent long ago", silent=False, at=10.0)
        mark_sent(store, sent_old, at=20.0)
        silent_old = enqueue(store, "trial", "info", "t", "silent, old", silent=True, at=11.0)
        failing = enqueue(store, "fill", "info", "t", "never delivered", silent=False, at=12.0)
        mark_failed(store, failing, next_try_at=13.0, error="down")
        sent_new = enqueue(store, "fill", "info", "t", "sent lately", silent=False, at=90.0)
        mark_sent(store, sent_new, at=150.0)
        enqueue(store, "trial", "info", "t", "silent, new", silent=True, at=150.0)
        assert prune_delivered(store, before=100.0) == 2
        assert {r.body for r in recent(store)} == {"never delivered", "sent lately",
                                                   "silent, new"}
        assert pending_count(store) == 1
        assert {r.id for r in recent(store)}.isdisjoint({sent_old, silent_old})
