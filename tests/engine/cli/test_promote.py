"""`cappuccino promote` from the shell: the CLI previews the gates, the supervisor decides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config import load_config
from engine.study.synthetic import EDGE, FEE_NOISE, write_planted
from engine.supervisor.lock import holder, lock_path
from store.db import Store


@pytest.fixture
def supervised(supervised_config: Callable[[str], Path]) -> Path:
    """A fast config; the CLI starts its detached supervisor, killed afterwards."""
    return supervised_config('[study]\nname = "s1"\n[supervisor]\npoll_s = 0.05\n'
                             "heartbeat_s = 0.2\nstop_grace_s = 1\nstale_heartbeats = 25\n"
                             "services = []\n")


def add_trial(cfg, store: Store, trial: int, state: str, objective: float | None) -> None:
    model = Path(cfg.paths.models) / f"s1-t{trial}"
    if objective is not None:  # its out-of-sample evidence: a real edge if it scored well
        write_planted(Path(cfg.paths.models), "s1", trial, EDGE if objective > 0 else FEE_NOISE)
    with store.write():
        store.conn.execute(
            "INSERT INTO attempts (study, trial, attempt, state, objective, started_at) "
            "VALUES ('s1', ?, 0, ?, ?, 0)", (trial, state, objective))
        if state == "COMPLETE":
            store.conn.execute(
                "INSERT INTO models (path, study, trial, objective, sharpe, created_at) "
                "VALUES (?, 's1', ?, ?, 1.2, 0)", (str(model), trial, objective))


def test_cli_exit_codes_with_the_supervisor_deciding(supervised: Path, capsys) -> None:
    cfg = load_config(supervised, environ={})
    with Store(cfg.store.path) as store:
        add_trial(cfg, store, 1, "FAILED", None)
        add_trial(cfg, store, 2, "COMPLETE", 0.5)
        add_trial(cfg, store, 3, "COMPLETE", -0.2)
    base = ["--config", str(supervised), "promote", "--wait", "0"]
    assert main([*base, "--to", "paper", "--trial", "1"]) == 1
    err = capsys.readouterr()
    assert "trial completed: FAILED (needs COMPLETE) FAILED" in err.out
    # One plain line: no exception class name, no "refused: refused".
    assert err.err.startswith("cappuccino: the supervisor refused: to paper refused for s1/trial "
                              "1: trial completed FAILED"), err.err
    assert main([*base, "--to", "paper", "--trial", "1", "--force"]) == 2
    # A failed trial has no model: even --force cannot trade it (bad usage, exit 2).
    assert main([*base, "--to", "paper", "--trial", "1", "--force", "--reason", "demo"]) == 2
    assert main([*base, "--to", "paper", "--trial", "3", "--force", "--reason", "demo"]) == 0
    assert "[FORCED]" in capsys.readouterr().out
    assert main([*base, "--to", "paper", "--trial", "2", "--name", "demo2", "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["trader"] == "demo2" and doc["passed"] and not doc["forced"]
    assert main([*base, "--capital", "10"]) == 2
    with Store(cfg.store.path) as store:
        import time

        deadline = time.monotonic() + 60  # the last trader starts after `--wait 0` returned
        while time.monotonic() < deadline and store.query(
                "SELECT 1 FROM commands WHERE state IN ('pending', 'running')"):
            time.sleep(0.2)
        rows = store.query("SELECT action, source, state, result FROM commands ORDER BY id")
        promos = store.query("SELECT kind, passed, forced FROM promotions ORDER BY id")
        trades = store.query("SELECT target, state FROM commands WHERE action = 'trade'")
    # Every promotion went through the supervisor, which recorded it and started the traders.
    assert [r["action"] for r in rows if r["action"] != "trade"] == ["promote"] * 3
    assert [tuple(p) for p in promos] == [("paper", 0, 0), ("paper", 0, 1), ("paper", 1, 0)]
    assert {t["target"]: t["state"] for t in trades} == {"trader-s1-t3-paper": "done",
                                                        "trader-demo2": "done"}


def test_live_promotion_refused_up_front_while_not_armed(supervised: Path, capsys) -> None:
    base = ["--config", str(supervised), "promote", "--to", "live", "--trader", "p"]
    assert main([*base, "--force", "--reason", "yolo"]) == 2
    err = capsys.readouterr().err
    assert "not armed" in err and "Traceback" not in err
    assert main(base) == 2
    cfg = load_config(supervised, environ={})
    assert holder(lock_path(cfg.store.path)) is None  # refused before asking anybody


def test_capital_steps_through_the_supervisor(supervised: Path, capsys) -> None:
    cfg = load_config(supervised, environ={})
    with Store(cfg.store.path) as s, s.write():
        s.conn.execute("INSERT INTO traders (name, broker, mode, model, tickers, timeframe, "
                       "capital, started_at, updated_at) VALUES ('lv', 'coinbase', 'live', "
                       "'m', '[\"BTC-USD\"]', '5m', '1000', 0, 0)")
    base = ["--config", str(supervised), "promote", "--trader", "lv"]
    assert main([*base, "--capital", "2000"]) == 1  # no profitable live week yet
    assert "profitable live weeks" in capsys.readouterr().err
    assert main([*base, "--capital", "3000", "--force", "--reason", "skip"]) == 1
    assert "never skipped" in capsys.readouterr().err
    assert main([*base, "--capital", "2000", "--force", "--reason", "trust me"]) == 0
    assert "[FORCED]" in capsys.readouterr().out
    with Store(cfg.store.path) as s:
        assert s.one("SELECT capital FROM traders WHERE name = 'lv'")["capital"] == "2000.00"
        rows = s.query("SELECT action, state FROM commands ORDER BY id")
    assert [tuple(r) for r in rows] == [("capital", "failed")] * 2 + [("capital", "done")]


def test_trial_zero_reaches_the_supervisor(supervised: Path, capsys) -> None:
    """Every study's first trial is number 0: the CLI dropped it from the supervisor's
    command (0 == False) and the supervisor refused "needs --trial N"."""
    cfg = load_config(supervised, environ={})
    with Store(cfg.store.path) as store:
        add_trial(cfg, store, 0, "COMPLETE", 0.5)
        add_trial(cfg, store, 1, "COMPLETE", -0.2)
        add_trial(cfg, store, 2, "FAILED", None)
    assert main(["--config", str(supervised), "promote", "--wait", "0", "--to", "paper",
                 "--trial", "0"]) == 0, capsys.readouterr().err
    assert "promoted s1/trial 0 to paper trader s1-t0-paper" in capsys.readouterr().out
    with Store(cfg.store.path) as store:
        row = store.one("SELECT subject, passed FROM promotions")
    assert (row["subject"], row["passed"]) == ("s1/trial 0", 1)


def test_a_paper_traders_capital_is_not_changed_even_forced(supervised: Path, capsys) -> None:
    """`promote --capital` is for live traders. Forced on a paper trader it printed
    "1000.00 -> 100.00 [FORCED]" and the trader's next start put its --capital back."""
    cfg = load_config(supervised, environ={})
    with Store(cfg.store.path) as s, s.write():
        s.conn.execute("INSERT INTO traders (name, broker, mode, model, tickers, timeframe, "
                       "capital, started_at, updated_at) VALUES ('pp', 'sim', 'paper', "
                       "'m', '[\"BTC-USD\"]', '5m', '1000', 0, 0)")
    base = ["--config", str(supervised), "promote", "--trader", "pp", "--capital", "100"]
    assert main([*base, "--force", "--reason", "smaller"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("cappuccino: the supervisor refused: capital: pp is a paper trader"), err
    with Store(cfg.store.path) as s:
        assert s.one("SELECT capital FROM traders WHERE name = 'pp'")["capital"] == "1000"


def test_a_second_paper_promotion_to_a_running_trader_is_refused_unrecorded(
        supervised: Path, capsys) -> None:
    """A second `promote --to paper` aimed at a running trader recorded a promotion, then its
    trade command failed "already running": a promotion that never took effect, counted by
    the gates and shown to the operator. It is refused before anything is recorded."""
    import time

    cfg = load_config(supervised, environ={})
    with Store(cfg.store.path) as store:
        add_trial(cfg, store, 2, "COMPLETE", 0.5)
    base = ["--config", str(supervised), "promote", "--wait", "0", "--to", "paper",
            "--trial", "2", "--name", "pt", "--force", "--reason", "demo"]
    assert main(base) == 0, capsys.readouterr().err
    capsys.readouterr()
    with Store(cfg.store.path) as store:
        deadline = time.monotonic() + 90  # torch import on a loaded machine
        state = ""
        while time.monotonic() < deadline and state != "RUNNING":
            row = store.one("SELECT state FROM processes WHERE name = 'trader-pt'")
            state = row["state"] if row else ""
            time.sleep(0.2)
        assert state == "RUNNING"
        before = len(store.query("SELECT id FROM promotions"))
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "trader pt is running (RUNNING, pid " in err and "cappuccino stop trader-pt" in err, err
    assert "--name" in err, err
    # The console's path: the command straight to the supervisor, which refuses it too.
    from engine.supervisor.client import send_command

    row = send_command(cfg, "promote", "s1", {"to": "paper", "trial": 2, "name": "pt",
                                              "force": True, "reason": "demo"}, "console",
                       wait_s=60)
    assert row.state == "failed" and "trader pt is running" in str(row.result), row
    with Store(cfg.store.path) as store:
        assert len(store.query("SELECT id FROM promotions")) == before
        trades = store.query("SELECT state FROM commands WHERE action = 'trade'")
        proc = store.query("SELECT state FROM processes WHERE name = 'trader-pt'")
    assert [t["state"] for t in trades] == ["done"]  # no second, failing trade command
    assert [p["state"] for p in proc] == ["RUNNING"]  # the running trader was left alone
    # What the refusal says to do works: stopped, the trader takes the new promotion.
    stop = send_command(cfg, "stop", "trader-pt", None, "cli", wait_s=60)
    assert stop.state == "done", stop
    assert main(base) == 0, capsys.readouterr().err
    with Store(cfg.store.path) as store:
        assert len(store.query("SELECT id FROM promotions")) == before + 1
