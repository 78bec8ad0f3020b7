from __future__ import annotations

import pytest

from store.alerts import count_alerts, insert_alert, last_alert, last_alerts, recent_alerts
from store.db import Store


def test_alert_history_queries(tmp_path) -> None:
    with Store(tmp_path / "a.db") as store:
        insert_alert(store, "a", "WARNING", "w", 10.0, -0.1, 0.5)
        insert_alert(store, "a", "CRITICAL", "c", 20.0)
        insert_alert(store, "b", "OK", "ok", 15.0)
        insert_alert(store, "a", "OK", "back", 30.0)
        assert last_alert(store, "a").message == "back"
        assert last_alert(store, "zz") is None
        latest = last_alerts(store, ["a", "b", "zz"])
        assert {k: v.level for k, v in latest.items()} == {"a": "OK", "b": "OK"}
        assert last_alerts(store, []) == {}
        assert [r.message for r in recent_alerts(store, 2)] == ["back", "c"]
        assert [r.message for r in recent_alerts(store, 10, trader="b")] == ["ok"]
        assert count_alerts(store, "a", since=0) == 1
        assert count_alerts(store, "a", since=25) == 0
        assert recent_alerts(store, 1)[0].live_sharpe is None
        with pytest.raises(ValueError, match="unknown alert level"):
            insert_alert(store, "a", "PANIC", "x", 1.0)


def test_prune_alerts_keeps_severe_ones_each_traders_latest_and_recent_ones(tmp_path) -> None:
    from store.alerts import prune_alerts

    with Store(tmp_path / "a.db") as store:
        insert_alert(store, "a", "WARNING", "old warning", 10.0)
        insert_alert(store, "a", "CRITICAL", "old critical", 11.0)
        insert_alert(store, "a", "EMERGENCY", "old emergency", 12.0)
        insert_alert(store, "a", "OK", "old ok", 13.0)
        insert_alert(store, None, "WARNING", "old untraded", 14.0)
        insert_alert(store, "b", "WARNING", "b's only, old", 15.0)
        insert_alert(store, "a", "OK", "a's latest, new", 200.0)
        insert_alert(store, None, "INFO", "new untraded", 201.0)
        assert prune_alerts(store, before=100.0) == 3
        left = {r.message for r in recent_alerts(store, 100)}
        assert left == {"old critical", "old emergency", "b's only, old", "a's latest, new",
                        "new untraded"}
        # what the live gate counts and the monitor starts from is unchanged
        assert count_alerts(store, "a", since=0) == 2
        assert last_alerts(store, ["a", "b"])["b"].message == "b's only, old"
        assert prune_alerts(store, before=100.0) == 0
