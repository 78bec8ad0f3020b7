"""Promotions through the gates: recorded passes, refusals and forced overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.promote import PromotionError, PromotionRefused, Request, execute_command, promote
from engine.study.synthetic import write_planted
from store.commands import get_command, insert_command
from store.db import Store
from tests.engine import paper_record

NOW = 1_800_000_000.0


@pytest.fixture
def env(make_config):
    cfg = make_config("[study]\nname = \"s1\"\n")
    store = Store(cfg.store.path)
    yield cfg, store
    store.close()


EDGE, NOISE = 2e-4, -5e-5  # per-bar mean active return of a real edge / a fee-paying noise


def write_evidence(cfg, trial: int, mean: float) -> None:  # type: ignore[no-untyped-def]
    write_planted(Path(cfg.paths.models), "s1", trial, mean)


def add_trial(store: Store, trial: int, state: str, objective: float | None,
              model: bool = True, cfg=None, mean: float = EDGE) -> None:  # type: ignore[no-untyped-def]
    if cfg is not None:
        write_evidence(cfg, trial, mean)
    with store.write():
        store.conn.execute(
            "INSERT INTO attempts (study, trial, attempt, state, objective, started_at) "
            "VALUES ('s1', ?, 0, ?, ?, 0)", (trial, state, objective))
        if model and state == "COMPLETE":
            store.conn.execute(
                "INSERT INTO models (path, study, trial, objective, sharpe, created_at) "
                "VALUES (?, 's1', ?, ?, 1.2, 0)", (f"/models/s1-t{trial}", trial, objective))


def add_paper_trader(store: Store, name: str = "p1", hours: float = 50.0, drift: float = 2e-4,
                     trades: int = 7, mode: str = "paper") -> None:
    paper_record.add_paper_trader(store, name, end=NOW, mode=mode, hours=hours, drift=drift,
                                  trades=trades)


def promotions(store: Store) -> list[dict]:
    return [dict(r) for r in store.query("SELECT * FROM promotions ORDER BY id")]


def test_trial_to_paper_starts_a_sim_trader(env) -> None:
    cfg, store = env
    add_trial(store, 3, "COMPLETE", 0.25, cfg=cfg)
    add_trial(store, 90, "PRUNED", None, cfg=cfg, mean=NOISE)
    out = promote(cfg, store, Request(to="paper", trial=3), NOW)
    assert out.passed and not out.forced and out.trader == "s1-t3-paper"
    [p] = promotions(store)
    assert (p["kind"], p["subject"], p["passed"], p["forced"]) == ("paper", "s1/trial 3", 1, 0)
    assert {g["name"]: g["value"] for g in json.loads(p["gates"])}["CPCV objective"] == 0.25
    cmd = get_command(store, out.command_id)
    assert (cmd.action, cmd.target) == ("trade", "trader-s1-t3-paper")
    args = cmd.arguments
    assert args["broker"] == "sim" and args["live"] is False
    assert args["model"] == "/models/s1-t3" and args["trial"] == 3
    ev = store.one("SELECT * FROM outbox WHERE event = 'promotion'")
    assert "trial #3" in ev["body"] and "model /models/s1-t3" in ev["body"]


def test_refusal_is_recorded_and_force_needs_a_reason(env) -> None:
    cfg, store = env
    add_trial(store, 4, "COMPLETE", -0.1)
    with pytest.raises(PromotionRefused, match="CPCV objective -0.1"):
        promote(cfg, store, Request(to="paper", trial=4), NOW)
    [p] = promotions(store)
    assert p["passed"] == 0 and p["forced"] == 0
    assert store.query("SELECT * FROM commands") == []            # nothing started
    with pytest.raises(PromotionError, match="--reason"):
        promote(cfg, store, Request(to="paper", trial=4, force=True), NOW)
    assert len(promotions(store)) == 1                            # bad request: not recorded
    out = promote(cfg, store, Request(to="paper", trial=4, force=True, reason="smoke test"), NOW)
    assert out.forced and not out.passed
    p = promotions(store)[-1]
    assert (p["passed"], p["forced"], p["reason"]) == (0, 1, "smoke test")
    assert get_command(store, out.command_id).action == "trade"


def test_missing_trial_and_ensemble(env) -> None:
    cfg, store = env
    with pytest.raises(PromotionRefused, match="trial completed missing"):
        promote(cfg, store, Request(to="paper", trial=99), NOW)
    for t, obj in ((1, 0.4), (2, 0.3), (3, 0.2)):
        add_trial(store, t, "COMPLETE", obj, cfg=cfg, mean=EDGE if t < 3 else NOISE)
    out = promote(cfg, store, Request(to="paper", model="ensemble:2"), NOW)
    assert out.passed and get_command(store, out.command_id).arguments["model"] == "ensemble:2"
    with pytest.raises(PromotionRefused, match="completed trials with a model 3"):
        promote(cfg, store, Request(to="paper", model="ensemble:4"), NOW)


def test_paper_to_live_passes_and_refuses(env) -> None:
    cfg, store = env
    add_paper_trader(store, "good-paper")
    out = promote(cfg, store, Request(to="live", trader="good-paper"), NOW)
    gates = {g.name: g for g in out.gates}
    assert gates["hours on paper"].value == 50.0 and gates["trades per day"].value == pytest.approx(
        7 / (50 / 24), rel=1e-3)
    assert out.trader == "good-live"
    args = get_command(store, out.command_id).arguments
    assert (args["broker"], args["live"], args["capital"]) == ("coinbase", True, "1000.00")
    assert args["tickers"] == ["BTC-USD"]

    add_paper_trader(store, "young", hours=10)
    with pytest.raises(PromotionRefused, match="hours on paper"):
        promote(cfg, store, Request(to="live", trader="young"), NOW)
    add_paper_trader(store, "loser", drift=-3e-4)
    with pytest.raises(PromotionRefused, match="paper Sharpe"):
        promote(cfg, store, Request(to="live", trader="loser"), NOW)
    add_paper_trader(store, "busy", trades=15)
    with pytest.raises(PromotionRefused, match="trades per day"):
        promote(cfg, store, Request(to="live", trader="busy"), NOW)
    add_paper_trader(store, "alerted")
    with store.write():
        store.conn.execute("INSERT INTO alerts (trader, level, message, at) "
                           "VALUES ('alerted', 'CRITICAL', 'x', ?)", (NOW - 3600,))
    with pytest.raises(PromotionRefused, match="critical alerts on paper 1"):
        promote(cfg, store, Request(to="live", trader="alerted"), NOW)
    with pytest.raises(PromotionRefused, match="starting capital"):
        promote(cfg, store, Request(to="live", trader="good-paper", name="good-live2",
                                    capital=5000), NOW)
    # good-live's trade command is pending (no supervisor here): a second start is refused
    with pytest.raises(PromotionError, match="good-live is being started"):
        promote(cfg, store, Request(to="live", trader="good-paper"), NOW)
    with pytest.raises(PromotionError, match="no trader named"):
        promote(cfg, store, Request(to="live", trader="ghost"), NOW)
    kinds = [(p["kind"], p["passed"]) for p in promotions(store)]
    assert kinds == [("live", 1)] + [("live", 0)] * 5


def test_capital_steps_follow_profitable_weeks(env) -> None:
    cfg, store = env
    add_paper_trader(store, "lv", hours=24 * 7 + 1, drift=3e-4, mode="live")
    with pytest.raises(PromotionRefused, match="next capital step 3000"):
        promote(cfg, store, Request(to="capital", trader="lv", capital=3000), NOW)
    out = promote(cfg, store, Request(to="capital", trader="lv", capital=2000), NOW)
    assert out.passed
    assert store.one("SELECT capital FROM traders WHERE name='lv'")[0] == "2000.00"
    # The next step counts weeks from this change: none yet.
    with pytest.raises(PromotionRefused, match="profitable live weeks at this step 0"):
        promote(cfg, store, Request(to="capital", trader="lv", capital=3000), NOW + 60)
    assert store.one("SELECT * FROM outbox WHERE event = 'capital'") is not None


def test_supervisor_handler_uses_console_args(env) -> None:
    cfg, store = env
    add_trial(store, 5, "COMPLETE", 0.3, cfg=cfg)
    add_trial(store, 90, "PRUNED", None, cfg=cfg, mean=NOISE)
    cid = insert_command(store, "promote", "s1", {"to": "paper", "study": "s1", "trial": 5},
                         source="console")
    msg = execute_command(cfg, store, get_command(store, cid))
    assert "s1-t5-paper" in msg
    trade = store.one("SELECT * FROM commands WHERE action = 'trade'")
    assert trade["source"] == "console"
    add_trial(store, 6, "FAILED", None)
    cid = insert_command(store, "promote", "s1", {"to": "paper", "trial": 6})
    with pytest.raises(PromotionRefused):
        execute_command(cfg, store, get_command(store, cid))


def test_check_shows_gates_and_records_nothing(config_path, capsys) -> None:
    config_path.write_text("[study]\nname = \"s1\"\n")
    from engine.config import load_config

    cfg = load_config(config_path, environ={})
    with Store(cfg.store.path) as store:
        add_trial(store, 2, "COMPLETE", 0.5, cfg=cfg)
        add_trial(store, 3, "COMPLETE", -0.2, cfg=cfg, mean=NOISE)
    base = ["--config", str(config_path), "promote", "--check", "--to", "paper"]
    assert main([*base, "--trial", "2"]) == 0
    assert "CPCV objective: 0.5 (needs > 0) ok" in capsys.readouterr().out
    assert main([*base, "--trial", "3", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is False and doc["gates"][1]["value"] == -0.2
    with Store(cfg.store.path) as store:
        assert store.query("SELECT * FROM promotions") == []
        assert store.query("SELECT * FROM commands") == []


def test_noise_is_refused_on_deflated_evidence_and_force_is_recorded(env) -> None:
    cfg, store = env
    # a positive objective alone no longer reaches paper: 6 noise trials, the best one asks
    for t in range(6):
        add_trial(store, t, "COMPLETE", 0.4 if t == 2 else 0.1, cfg=cfg, mean=0.0)
    with pytest.raises(PromotionRefused) as e:
        promote(cfg, store, Request(to="paper", trial=2), NOW)
    gates = {g.name: g for g in e.value.gates}
    dsr = gates["deflated Sharpe ratio"]
    assert not dsr.passed and dsr.value < 0.95
    assert f"deflated Sharpe ratio {dsr.value} (needs >= 0.95)" in str(e.value)
    assert gates["CPCV objective"].passed  # the old gate alone would have let it through
    out = promote(cfg, store, Request(to="paper", trial=2, force=True,
                                      reason="watch noise on paper"), NOW)
    assert out.forced and not out.passed
    p = promotions(store)[-1]
    assert (p["forced"], p["reason"]) == (1, "watch noise on paper")
    recorded = {g["name"]: g for g in json.loads(p["gates"])}
    assert recorded["deflated Sharpe ratio"]["value"] == dsr.value
    assert "PBO" in recorded and "held-out active Sharpe 95% low" in recorded
