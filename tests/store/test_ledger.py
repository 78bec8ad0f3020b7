"""The trial ledger (store.ledger) and migration v0008_trial_ledger, which fills it from older stores."""

from __future__ import annotations

import json
from pathlib import Path

from store import ledger
from store.db import Store
from store.migrations import latest_version
from tests.store.older import store_before

LAYOUT = {"data": "abcdabcdabcdabcd", "timeframe": "5m", "cv": [0, 10], "holdout": [10, 12],
          "tests": [[[0, 5]]]}


def test_the_migration_counts_every_trial_of_a_study_with_a_layout(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with store_before(path, "trial_ledger.sql") as s:
        c = s.conn
        for name, created in (("a", 100.0), ("b", 200.0), ("nolayout", 300.0),
                              ("garbled", 400.0)):
            c.execute("INSERT INTO studies (name, storage, timeframe, n_trials, created_at, "
                      "updated_at) VALUES (?, 'journal', '5m', 3, ?, ?)", (name, created, created))
        # a: trial 0 retried (two attempts, one trial), trial 1; b: one trial with no studies
        # row left; nolayout: no layout recorded; garbled: a layout that is not JSON
        rows = [("a", 0, 1, 10.0), ("a", 0, 2, 11.0), ("a", 1, 1, 12.0), ("b", 5, 1, 13.0),
                ("nolayout", 0, 1, 14.0), ("garbled", 0, 1, 15.0), ("orphan", 0, 1, 16.0)]
        c.executemany("INSERT INTO attempts (study, trial, attempt, state, started_at) "
                      "VALUES (?, ?, ?, 'COMPLETE', ?)", rows)
        for name, value in (("a", json.dumps(LAYOUT)), ("b", json.dumps(LAYOUT)),
                            ("orphan", json.dumps({**LAYOUT, "timeframe": "1h"})),
                            ("garbled", "{not json")):
            c.execute("INSERT INTO kv (key, value, updated_at) VALUES (?, ?, 0)",
                      ("study_layout:" + name, value))
        c.execute("DELETE FROM studies WHERE name = 'b'")
    with Store(path) as s:
        assert s.version == latest_version()
        got = [(r.study, r.created, r.trial, r.sharpe, r.recorded_at)
               for r in ledger.rows_for(s, "abcdabcdabcdabcd/5m")]
        assert got == [("a", 100.0, 0, None, 10.0), ("a", 100.0, 1, None, 12.0),
                       ("b", 0.0, 5, None, 13.0)]
        assert [r.study for r in ledger.rows_for(s, "abcdabcdabcdabcd/1h")] == ["orphan"]
        # nothing else moved: every attempt is still there
        assert s.one("SELECT COUNT(*) FROM attempts")[0] == len(rows)
        assert ledger.study_data_keys(s) == {"a": "abcdabcdabcdabcd/5m",
                                             "b": "abcdabcdabcdabcd/5m",
                                             "orphan": "abcdabcdabcdabcd/1h"}


def test_record_keeps_a_row_and_fills_its_sharpe(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as s:
        ledger.record(s, "d/5m", "a", 1.0, [(0, None), (1, 0.2)])
        ledger.record(s, "d/5m", "a", 1.0, [(0, 0.1), (1, None)])
        ledger.record(s, "d/5m", "a", 2.0, [(0, 0.3)])   # the study re-created: another row
        got = [(r.created, r.trial, r.sharpe) for r in ledger.rows_for(s, "d/5m")]
        assert got == [(1.0, 0, 0.1), (1.0, 1, 0.2), (2.0, 0, 0.3)]
        assert ledger.rows_for(s, "other/5m") == []
        assert ledger.data_key({"data": "x", "timeframe": "5m"}) == "x/5m"
        assert ledger.data_key({"data": 1, "timeframe": "5m"}) is None
        assert ledger.data_key("unreadable") is None


def test_a_trial_counts_from_its_first_attempt(tmp_path: Path) -> None:
    from store import kv, registry

    with Store(tmp_path / "s.db") as s:
        registry.upsert_study(s, "a", "journal", "5m", 3)
        registry.upsert_study(s, "nolayout", "journal", "5m", 3)
        kv.put(s, "study_layout:a", json.dumps(LAYOUT))
        created = registry.get_study(s, "a").created_at  # type: ignore[union-attr]
        for trial in (0, 0, 1):  # trial 0 retried: one row
            registry.start_attempt(s, "a", trial, {})
        registry.start_attempt(s, "nolayout", 0, {})
        got = [(r.study, r.created, r.trial, r.sharpe)
               for r in ledger.rows_for(s, "abcdabcdabcdabcd/5m")]
        assert got == [("a", created, 0, None), ("a", created, 1, None)]
        assert s.one("SELECT COUNT(*) FROM trial_ledger")[0] == 2
