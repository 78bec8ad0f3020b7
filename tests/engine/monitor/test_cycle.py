"""The monitor on synthetic equity series of known Sharpe (backtest Sharpe 1.5 throughout).

Levels are z-scores of live minus backtest Sharpe (defaults: WARNING -2, CRITICAL -3,
EMERGENCY -3.5). With a 288-return window and the default 2016-bar backtest, the standard
error of the gap is about 18 Sharpe points on these series, so the Sharpes below are large.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from engine.monitor.cycle import run_cycle
from store.db import Store

CFG = """
[monitor]
interval_s = 3600
window_hours = 24
min_samples = 280
emergency_sustain_h = 6
cooldown_s = 7200
halt_wait_s = 0
"""
T0 = 1_800_000_000.0
H = 3600.0


@pytest.fixture
def env(make_config):
    cfg = make_config(CFG)
    store = Store(cfg.store.path)
    yield cfg, store
    store.close()


WARN, CRIT, EMER = -45.0, -58.0, -120.0   # live Sharpes: z about -2.5, -3.2, -6.4


def by_name(verdicts):
    return {v.trader: v for v in verdicts}


def expected_z(r: np.ndarray, live: float, backtest: float, n_bt: int) -> float:
    """Lo (2002) with a Newey-West (Bartlett) long-run variance, recomputed by hand."""
    n, ppy = len(r), 365 * 86_400 / 300.0
    lags = math.floor(4 * (n / 100) ** (2 / 9))
    x = r - r.mean()
    gamma = [float(np.sum(x[k:] * x[:n - k])) / n for k in range(lags + 1)]
    ratio = (gamma[0] + 2 * sum((1 - k / (lags + 1)) * gamma[k]
                                for k in range(1, lags + 1))) / gamma[0]
    var_live = (ratio + live**2 / ppy / 2) / n * ppy
    var_bt = (ratio + backtest**2 / ppy / 2) / n_bt * ppy
    return (live - backtest) / math.sqrt(var_live + var_bt)


def test_levels_follow_the_z_score_of_the_gap(env, kit) -> None:
    cfg, store = env
    cases = {"ok": 1.3, "warn": WARN, "crit": CRIT, "emer": EMER}
    for name, sharpe in cases.items():
        kit.add_trader(store, name)
        kit.add_equity(store, name, kit.returns(sharpe, 480), T0)  # 40 h: emergency sustained
    v = by_name(run_cycle(cfg, store, T0))
    for name, sharpe in cases.items():
        assert v[name].live_sharpe == pytest.approx(sharpe, abs=1e-6)
        assert v[name].samples == 288
        want = expected_z(kit.returns(sharpe, 480)[-288:], sharpe, 1.5, 2016)
        assert v[name].z == pytest.approx(want, rel=1e-6)
    assert v["ok"].z > -0.5 and -3 < v["warn"].z < -2 and -3.5 < v["crit"].z < -3
    assert [v[n].level for n in cases] == ["OK", "WARNING", "CRITICAL", "EMERGENCY"]
    assert v["emer"].emergency_hours == pytest.approx(6.0)
    assert v["emer"].stopped and not v["crit"].stopped
    levels = {r["trader"]: r["level"] for r in store.query("SELECT * FROM alerts")}
    assert levels == {"warn": "WARNING", "crit": "CRITICAL", "emer": "EMERGENCY"}


def test_emergency_must_be_sustained_then_auto_stops_once(env, kit) -> None:
    cfg, store = env
    kit.add_trader(store, "bad", mode="live")
    # 27 h of data: full windows only for the checkpoints of the last 3 h.
    kit.add_equity(store, "bad", kit.returns(EMER, 360), T0 + 3 * H)
    [v] = run_cycle(cfg, store, T0)
    assert v.level == "CRITICAL" and v.emergency_hours == pytest.approx(3.0)
    assert "for 3.0 of 6 h" in v.message
    assert not v.stopped
    assert store.query("SELECT * FROM commands") == []

    [v] = run_cycle(cfg, store, T0 + 3 * H)  # now 6 h below the emergency line
    assert v.level == "EMERGENCY" and v.stopped
    cmds = store.query("SELECT * FROM commands")
    assert [(c["action"], c["target"], c["source"]) for c in cmds] == [
        ("stop", "trader-bad", "monitor")]
    assert json.loads(cmds[0]["args"])["trader"] == "bad"
    assert store.one("SELECT halt_requested FROM traders WHERE name='bad'")[0] == 1
    body = store.query("SELECT body FROM outbox WHERE event='alert' ORDER BY id")[-1]["body"]
    assert "auto-stop" in body and "trader bad" in body and "trial #7" in body

    [v] = run_cycle(cfg, store, T0 + 3 * H)  # halt already requested: no second stop
    assert v.level == "EMERGENCY" and not v.stopped
    assert len(store.query("SELECT * FROM commands")) == 1


def test_min_samples_gives_no_verdict(env, kit) -> None:
    cfg, store = env
    kit.add_trader(store, "young")
    kit.add_equity(store, "young", kit.returns(EMER, 48), T0)
    [v] = run_cycle(cfg, store, T0)
    assert v.level == "INSUFFICIENT" and v.state == "INSUFFICIENT DATA (48/280)"
    assert v.live_sharpe is None and not v.alerted
    assert store.query("SELECT * FROM alerts") == []
    assert store.query("SELECT * FROM outbox") == []


def test_no_backtest_sharpe_is_reported_not_alerted(env, kit) -> None:
    cfg, store = env
    kit.add_trader(store, "nb", backtest=None)
    kit.add_equity(store, "nb", kit.returns(-3.0, 300), T0)
    [v] = run_cycle(cfg, store, T0)
    assert v.level == "NO_BACKTEST" and v.live_sharpe == pytest.approx(-3.0, abs=0.3)
    assert store.query("SELECT * FROM alerts") == []


def test_dedupe_cooldown_and_level_changes(env, kit) -> None:
    cfg, store = env
    kit.add_trader(store, "w")
    # Cycle times fall on bar times: each window then holds exactly 288 returns.
    kit.add_equity(store, "w", kit.returns(WARN, 288 + 72), T0 + 6 * H)

    def outbox_titles() -> list[str]:
        return [r["title"] for r in store.query("SELECT title FROM outbox ORDER BY id")]

    assert run_cycle(cfg, store, T0)[0].alerted
    assert not run_cycle(cfg, store, T0 + 600)[0].alerted      # same level, in cooldown
    assert not run_cycle(cfg, store, T0 + 6900)[0].alerted
    again = run_cycle(cfg, store, T0 + 7200)[0]                 # cooldown over: reminder
    assert again.level == "WARNING" and again.alerted
    assert outbox_titles() == ["w: WARNING", "w: still WARNING"]

    # The trader gets worse: a level change notifies at once, inside the cooldown.
    kit.add_equity(store, "w", kit.returns(CRIT, 288 + 72), T0 + 6 * H)
    assert run_cycle(cfg, store, T0 + 7500)[0].level == "CRITICAL"
    kit.add_equity(store, "w", kit.returns(1.4, 288 + 72), T0 + 6 * H)
    ok = run_cycle(cfg, store, T0 + 7800)[0]
    assert ok.level == "OK" and ok.alerted
    assert not run_cycle(cfg, store, T0 + 7800 + 7200)[0].alerted  # OK is never repeated
    assert outbox_titles()[2:] == ["w: CRITICAL", "w: OK"]
    levels = [r["level"] for r in store.query("SELECT level FROM alerts ORDER BY id")]
    assert levels == ["WARNING", "WARNING", "CRITICAL", "OK"]


def test_alert_events_respect_off_mode(make_config, kit) -> None:
    cfg = make_config(CFG + "\n[notify.events]\nalert = \"off\"\n")
    with Store(cfg.store.path) as store:
        kit.add_trader(store, "w")
        kit.add_equity(store, "w", kit.returns(WARN, 288), T0)
        assert run_cycle(cfg, store, T0)[0].alerted
        assert len(store.query("SELECT * FROM alerts")) == 1  # history kept
        assert store.query("SELECT * FROM outbox") == []      # not notified


def test_monitor_cli_once_json(config_path, kit) -> None:
    import subprocess
    import sys
    import time

    config_path.write_text(CFG)
    from engine.config import load_config

    cfg = load_config(config_path, environ={})
    with Store(cfg.store.path) as store:
        kit.add_trader(store, "c")
        kit.add_equity(store, "c", kit.returns(CRIT, 288), time.time())
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config_path),
                          "monitor", "--once", "--json"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    [v] = json.loads(out.stdout)
    assert v["trader"] == "c" and v["level"] == "CRITICAL" and v["alerted"]


def test_replayed_trader_is_judged_on_its_own_clock(env, kit) -> None:
    cfg, store = env
    kit.add_trader(store, "replay")
    kit.add_equity(store, "replay", kit.returns(CRIT, 288), T0 - 400 * 86_400)  # a year back
    [v] = run_cycle(cfg, store, T0)
    assert v.level == "CRITICAL" and v.samples == 288
    assert store.one("SELECT at FROM alerts")["at"] == T0  # alert time: the wall clock


def test_emergency_waits_for_halted_before_the_stop(make_config, kit) -> None:
    """The trader cancels its orders and goes HALTED on the flag; only then is it stopped."""
    import threading
    import time

    from store.processes import update_process, upsert_process

    cfg = make_config(CFG.replace("halt_wait_s = 0", "halt_wait_s = 20"))
    store = Store(cfg.store.path)
    kit.add_trader(store, "x")
    kit.add_equity(store, "x", kit.returns(EMER, 480), T0)
    upsert_process(store, "trader-x", "trader", ["trade"])
    update_process(store, "trader-x", state="RUNNING")
    halted_at: list[float] = []

    def fake_trader() -> None:  # plays the trader's poll loop on its own connection
        with Store(cfg.store.path) as s:
            while not s.one("SELECT halt_requested FROM traders WHERE name='x'")[0]:
                time.sleep(0.02)
            time.sleep(0.3)
            with s.write():
                s.conn.execute("UPDATE traders SET trading_state='HALTED' WHERE name='x'")
            halted_at.append(time.time())

    th = threading.Thread(target=fake_trader)
    th.start()
    try:
        [v] = run_cycle(cfg, store, T0)
    finally:
        th.join(10)
    assert v.stopped and halted_at
    stop = store.one("SELECT at FROM commands WHERE action = 'stop'")
    assert stop["at"] >= halted_at[0]
    store.close()


def test_a_small_gap_inside_the_noise_is_ok(env, kit) -> None:
    """The old fixed rule called a 1.2-point shortfall CRITICAL; one day of 5-minute bars
    cannot tell it from luck (its standard error is about 18)."""
    cfg, store = env
    kit.add_trader(store, "noise")
    kit.add_equity(store, "noise", kit.returns(0.3, 288), T0)
    [v] = run_cycle(cfg, store, T0)
    assert v.level == "OK" and abs(v.z) < 0.2
    assert store.query("SELECT * FROM alerts") == []


def test_backtest_sample_size_comes_from_the_model(env, kit, tmp_path) -> None:
    """A long held-out backtest is a precise one: the same live series is judged harder."""
    cfg, store = env
    model = tmp_path / "m"
    model.mkdir()
    (model / "metrics.json").write_text(json.dumps({"holdout_bars": [1000, 1000 + 100_001]}))
    kit.add_trader(store, "short")
    kit.add_trader(store, "long")
    with store.write():
        store.conn.execute("UPDATE traders SET model = ? WHERE name = 'long'", (str(model),))
    for name in ("short", "long"):
        kit.add_equity(store, name, kit.returns(-50.0, 288), T0)
    v = by_name(run_cycle(cfg, store, T0))
    r = kit.returns(-50.0, 288)
    assert v["short"].z == pytest.approx(expected_z(r, -50.0, 1.5, 2016), rel=1e-6)
    assert v["long"].z == pytest.approx(expected_z(r, -50.0, 1.5, 100_000), rel=1e-6)
    assert v["long"].z < v["short"].z


def test_z_thresholds_must_be_ordered(make_config) -> None:
    from engine.config.load import ConfigError

    with pytest.raises(ConfigError, match="warning_z <= critical_z <= emergency_z"):
        make_config("[monitor]\nwarning_z = 4.0\n")
