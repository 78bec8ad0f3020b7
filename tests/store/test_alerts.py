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
        assert prune_alerts(store, now=200.0, keep_s=100.0) == 3
        left = {r.message for r in recent_alerts(store, 100)}
        assert left == {"old critical", "old emergency", "b's only, old", "a's latest, new",
                        "new untraded"}
        # what the live gate counts and the monitor starts from is unchanged
        assert count_alerts(store, "a", since=0) == 2
        assert last_alerts(store, ["a", "b"])["b"].message == "b's only, old"
        assert prune_alerts(store, now=200.0, keep_s=100.0) == 0


def test_prune_alerts_goes_by_a_replaying_traders_own_clock(tmp_path) -> None:
    from store.alerts import prune_alerts

    day, wall = 86400.0, 1.8e9           # the wall clock: 2027
    replay = 1.65e9                      # a replaying trader's clock: 2022
    with Store(tmp_path / "a.db") as store:
        for d in range(0, 200, 10):      # a WARNING every 10 days of the replay
            insert_alert(store, "demo", "WARNING", f"day {d}", replay + d * day)
        insert_alert(store, None, "WARNING", "wall, recent", wall - day)
        insert_alert(store, None, "WARNING", "wall, old", wall - 100 * day)
        insert_alert(store, None, "WARNING", "wall, newest", wall)
        # 90 days back from the replay's newest alert (day 190): days 100..190 stay
        assert prune_alerts(store, now=wall, keep_s=90 * day) == 10 + 1
        left = [r.message for r in recent_alerts(store, 100, trader="demo")]
        assert left == [f"day {d}" for d in range(190, 90, -10)]
        assert {r.message for r in recent_alerts(store, 100) if r.trader is None} == {
            "wall, recent", "wall, newest"}
