"""The outbox's retention: delivered, silent and never tried rows go after a while, rows
an outage holds never."""

from __future__ import annotations

from pathlib import Path

from store.db import Store
from store.outbox import enqueue, mark_failed, mark_sent, pending_count, prune_delivered, recent


def test_prune_delivered_keeps_every_row_an_outage_holds(tmp_path: Path) -> None:
    with Store(tmp_path / "o.db") as store:
        sent_old = enqueue(store, "fill", "info", "t", "sent long ago", silent=False, at=10.0)
        mark_sent(store, sent_old, at=20.0)
        enqueue(store, "trial", "info", "t", "silent, old", silent=True, at=11.0)
        failing = enqueue(store, "fill", "info", "t", "outage, old", silent=False, at=12.0)
        mark_failed(store, failing, next_try_at=13.0, error="down")
        enqueue(store, "fill", "info", "t", "never tried, old", silent=False, at=14.0)
        sent_new = enqueue(store, "fill", "info", "t", "sent lately", silent=False, at=90.0)
        mark_sent(store, sent_new, at=150.0)
        enqueue(store, "trial", "info", "t", "silent, new", silent=True, at=150.0)
        enqueue(store, "fill", "info", "t", "never tried, new", silent=False, at=150.0)
        assert prune_delivered(store, before=100.0) == 3
        assert {r.body for r in recent(store)} == {"outage, old", "sent lately", "silent, new",
                                                   "never tried, new"}
        assert pending_count(store) == 2
        assert prune_delivered(store, before=100.0, max_attempts=2) == 0  # 1 try of 2 so far
        mark_failed(store, failing, next_try_at=14.0, error="down")
        assert prune_delivered(store, before=100.0, max_attempts=2) == 1  # given up on
        assert prune_delivered(store, before=100.0) == 0
