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


def test_train_refuses_what_the_cli_refuses(sup) -> None:
    for args, why in (({"study": "s2", "gpu": "auto!"}, "gpu:"),
                      ({"study": "s2", "device": "gpu0"}, "device:"),
                      ({"study": "bad name"}, "study:"),
                      ({"study": "s2", "timeframe": "7m"}, "timeframe:"),
                      ({"study": "s2", "n_trials": -1}, "n_trials:")):
        state, result = run(sup, "train", None, args)
        assert state == "failed" and result.startswith(f"train: {why}"), (args, result)
    assert run(sup, "train", None, {"study": "s3", "device": "cpu"})[0] == "done"
    assert sup.started[-1][1][-2:] == ["--device", "cpu"]


def test_trade_builds_trader_process(sup) -> None:
    args = {"name": "btc-paper", "model": "/m/t3", "broker": "sim",
            "tickers": ["BTC-USD", "ETH-USD"], "timeframe": "5m", "capital": "1000.00",
            "live": False, "study": "s1", "trial": 3}
    assert run(sup, "trade", "trader-btc-paper", args)[0] == "done"
    assert sup.started[-1] == ("trader-btc-paper", [
        "trade", "--name", "btc-paper", "--model", "/m/t3", "--broker", "sim",
        "--tickers", "BTC-USD,ETH-USD", "--timeframe", "5m",
        "--capital", "1000.00", "--study", "s1"])
    assert get_process(sup.store, "trader-btc-paper").kind == "trader"
    run(sup, "trade", None, {"name": "cb", "model": "/m", "live": True})
    assert sup.started[-1] == ("trader-cb", ["trade", "--name", "cb", "--model", "/m",
                                             "--live"])
    assert run(sup, "trade", None, {"model": "/m"}) == ("failed",
                                                       "trade needs args name and model")
    assert run(sup, "trade", None, {"name": "../x", "model": "/m"})[0] == "failed"
