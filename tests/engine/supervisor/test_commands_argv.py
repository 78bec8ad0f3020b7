"""train/trade commands become the right `cappuccino` argv (no process is spawned here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.supervisor import supervisor as sup_mod
from engine.supervisor.supervisor import Child, Supervisor
from store.commands import claim_pending, get_command, insert_command
from store.db import Store
from store.processes import get_process


@pytest.fixture
def sup(make_config, monkeypatch, tmp_path: Path):
    cfg = make_config('[study]\nname = "base"\nn_trials = 7\n[data]\ntimeframe = "1h"\n')
    store = Store(cfg.store.path)
    s = Supervisor(cfg, store)
    started: list[tuple[str, list[str]]] = []

    def fake_start(self, name, row):
        started.append((name, row.args))
        child = Child(4242, 1.0, 0.0, None, None)
        self.children[name] = child
        return child

    monkeypatch.setattr(sup_mod.Supervisor, "start_child", fake_start)
    s.started = started
    yield s
    store.close()


def run(sup: Supervisor, action: str, target: str | None, args: dict) -> tuple[str, str]:
    cid = insert_command(sup.store, action, target, args)
    sup.run_commands()
    row = get_command(sup.store, cid)
    assert row is not None and claim_pending(sup.store) == []
    return row.state, row.result or ""


def test_train_builds_study_process(sup) -> None:
    assert run(sup, "train", None, {"study": "s1", "timeframe": "5m", "n_trials": 3,
                                    "gpu": 0}) == ("done", "started study-s1 (pid 4242)")
    assert sup.started[-1] == ("study-s1", ["train", "--study", "s1", "--timeframe", "5m",
                                            "--n-trials", "3", "--device", "cuda:0"])
    assert get_process(sup.store, "study-s1").kind == "study"
    # Defaults come from the config; a running study is not started twice.
    state, result = run(sup, "train", None, {"study": "s1"})
    assert (state, result) == ("failed", "study-s1 is already running (pid 4242)")
    run(sup, "train", None, {})
    assert sup.started[-1] == ("study-base", ["train", "--study", "base", "--timeframe", "1h",
                                              "--n-trials", "7"])


def seed_trial(sup: Supervisor, trial: int, objective: float, edge: bool = True) -> str:
    """A completed trial with a saved model inside [paths] models, as a study leaves it."""
    from engine.study.synthetic import EDGE, FEE_NOISE, write_planted

    model = Path(sup.cfg.paths.models) / f"s1-t{trial}"
    model.mkdir(parents=True, exist_ok=True)
    write_planted(Path(sup.cfg.paths.models), "s1", trial, EDGE if edge else FEE_NOISE)
    with sup.store.write():
        sup.store.conn.execute(
            "INSERT INTO attempts (study, trial, attempt, state, objective, started_at) "
            "VALUES ('s1', ?, 0, 'COMPLETE', ?, 0)", (trial, objective))
        sup.store.conn.execute(
            "INSERT INTO models (path, study, trial, objective, sharpe, created_at) "
            "VALUES (?, 's1', ?, ?, 1.2, 0)", (str(model), trial, objective))
    return str(model)


def test_train_refuses_what_the_cli_refuses(sup) -> None:
    for args, why in (({"study": "s2", "gpu": "auto!"}, "gpu:"),
                      ({"study": "s2", "device": "gpu0"}, "device:"),
                      ({"study": "bad name"}, "study:"),
                      ({"study": "s2", "timeframe": "7m"}, "timeframe:"),
                      ({"study": "s2", "n_trials": -1}, "n_trials:")):
        state, result = run(sup, "train", None, args)
        assert state == "failed" and result.startswith(f"refused: train: {why}"), (args, result)
    assert run(sup, "train", None, {"study": "s3", "device": "cpu"})[0] == "done"
    assert sup.started[-1][1][-2:] == ["--device", "cpu"]


def test_trade_builds_trader_process(sup) -> None:
    from engine.promote import Request, promote

    seed_trial(sup, 2, -0.1, edge=False)  # a second trial, so the study has a PBO
    model = seed_trial(sup, 3, 0.4)
    out = promote(sup.cfg, sup.store, Request(to="paper", study="s1", trial=3, name="btc-paper",
                                              capital=1000.0))
    sup.run_commands()
    row = get_command(sup.store, out.command_id or 0)
    assert row is not None and row.state == "done", row.result
    assert sup.started[-1] == ("trader-btc-paper", [
        "trade", "--name", "btc-paper", "--model", model, "--broker", "sim",
        "--tickers", ",".join(sup.cfg.trader.tickers), "--timeframe", sup.cfg.trader.timeframe,
        "--capital", "1000.00", "--study", "s1"])
    assert get_process(sup.store, "trader-btc-paper").kind == "trader"
    state, result = run(sup, "trade", None, {"model": model})
    assert state == "failed" and result.startswith("refused: trade: name: Field required")
    assert "capital: Field required" in result  # nothing falls back to the config
    assert run(sup, "trade", None, {"name": "../x", "model": model})[0] == "failed"
    assert run(sup, "trade", None, {"name": "-live", "model": model})[0] == "failed"
