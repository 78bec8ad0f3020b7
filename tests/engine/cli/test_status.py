"""`cappuccino status --json`: one JSON object with the documented shape, from real store rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config import load_config
from store.db import Store, now
from store.processes import update_process, upsert_process


def seed(path: Path) -> None:
    t = now()
    with Store(path) as s:
        upsert_process(s, "trader-btc", "trader", ["trade", "--name", "btc"])
        update_process(s, "trader-btc", state="RUNNING", pid=4300, started_at=t - 100,
                       heartbeat_at=t - 2, restarts=1)
        upsert_process(s, "study-old", "study", ["train"])
        update_process(s, "study-old", state="FATAL", last_error="exited with code 1: boom",
                       restarts=5)
        with s.write() as db:
            db["studies"].insert_all([
                {"name": "old", "storage": "j", "timeframe": "5m", "n_trials": 5,
                 "best_value": 0.1, "best_trial": 1, "pbo": None, "created_at": t - 900,
                 "updated_at": t - 900},
                {"name": "new", "storage": "j", "timeframe": "5m", "n_trials": 9,
                 "best_value": 0.42, "best_trial": 3, "pbo": 0.18, "created_at": t - 50,
                 "updated_at": t - 10}])
            attempts = [(0, 0, "COMPLETE"), (1, 0, "FAILED"), (1, 1, "COMPLETE"),
                        (2, 0, "PRUNED"), (3, 0, "FAILED"), (4, 0, "RUNNING"),
                        (5, 0, "FAILED"), (5, 1, "RETRYING")]
            db["attempts"].insert_all(
                {"study": "new", "trial": tr, "attempt": at, "state": st, "started_at": t}
                for tr, at, st in attempts)
            db["attempts"].insert({"study": "old", "trial": 0, "attempt": 0,
                                   "state": "COMPLETE", "started_at": t})
            db["traders"].insert({"name": "btc", "broker": "sim", "mode": "paper",
                                  "model": "m", "tickers": '["BTC-USD"]', "timeframe": "5m",
                                  "capital": "1000", "equity": "1012.50",
                                  "trading_state": "ACTIVE", "started_at": t, "updated_at": t,
                                  "unattributed": '["BTC 0.5 held beyond the traders\' books"]'})
            db["positions"].insert({"trader": "btc", "ticker": "BTC-USD", "qty": "0.01",
                                    "avg_price": "64000.00", "unrealized_pnl": "12.50",
                                    "updated_at": t})
            db["alerts"].insert_all({"trader": "btc", "level": "WARNING",
                                     "message": f"alert {i}", "at": t - 100 + i}
                                    for i in range(25))


def test_status_json_shape(config_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = load_config(config_path, environ={})
    seed(Path(cfg.store.path))
    assert main(["--config", str(config_path), "status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"supervisor", "processes", "study", "traders", "alerts"}
    assert doc["supervisor"] == {"alive": False, "pid": None}
    procs = {p["name"]: p for p in doc["processes"]}
    trader = procs["trader-btc"]
    assert set(trader) == {"name", "kind", "pid", "state", "restarts", "uptime_s",
                           "heartbeat_age_s", "last_error"}
    assert (trader["pid"], trader["state"], trader["restarts"]) == (4300, "RUNNING", 1)
    assert 99 <= trader["uptime_s"] < 200 and 1 <= trader["heartbeat_age_s"] < 100
    assert procs["study-old"]["pid"] is None and procs["study-old"]["uptime_s"] is None
    assert procs["study-old"]["last_error"] == "exited with code 1: boom"
    assert doc["study"] == {"name": "new", "best_value": 0.42, "best_trial": 3, "pbo": 0.18,
                            "trials": {"RUNNING": 2, "COMPLETE": 2, "FAILED": 1, "PRUNED": 1,
                                       "RETRIED": 2},
                            # no evidence computed yet: the fields are there, empty
                            "trials_attempted": 6, "pbo_blocks": None, "best": None,
                            "gate": None, "dsr_trials": None, "dsr_pool": None}
    assert doc["traders"] == [{"name": "btc", "broker": "sim", "mode": "paper",
                               "equity": "1012.50", "trading_state": "ACTIVE",
                               "positions": [{"ticker": "BTC-USD", "qty": "0.01",
                                              "qty_increment": None,  # none recorded
                                              "avg_price": "64000.00",
                                              "unrealized_pnl": "12.50"}],
                               # the trader's book (issue 13): its capital, cash, why it is
                               # not ACTIVE, and what on its account no trader placed
                               "capital": "1000.00", "cash": None, "state_reason": None,
                               "unattributed": ["BTC 0.5 held beyond the traders' books"]}]
    assert len(doc["alerts"]) == 20
    assert doc["alerts"][0]["message"] == "alert 24"
    assert set(doc["alerts"][0]) == {"level", "trader", "message", "at"}


def test_status_text_and_empty_store(config_path: Path, capsys) -> None:
    cfg = load_config(config_path, environ={})
    Store(cfg.store.path).close()
    assert main(["--config", str(config_path), "status"]) == 0
    out = capsys.readouterr().out
    assert "supervisor: NOT running" in out and "no processes" in out
    assert main(["--config", str(config_path), "status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["study"] is None and doc["processes"] == [] and doc["traders"] == []


def test_status_on_missing_store_says_nothing_runs(config_path: Path, capsys) -> None:
    """A fresh install: the same schema, nothing alive, exit 0, and no store created."""
    cfg = load_config(config_path, environ={})
    assert main(["--config", str(config_path), "status", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc == {"supervisor": {"alive": False, "pid": None}, "processes": [],
                   "study": None, "traders": [], "alerts": []}
    for command in ("status", "ps"):
        assert main(["--config", str(config_path), command]) == 0
        out = capsys.readouterr().out
        assert "supervisor: NOT running" in out and "nothing runs" in out
    assert not Path(cfg.store.path).exists()


def test_status_on_unreadable_store_is_one_clear_line(config_path: Path, capsys) -> None:
    cfg = load_config(config_path, environ={})
    Path(cfg.store.path).parent.mkdir(parents=True)
    Path(cfg.store.path).write_text("not a database, " * 100)
    assert main(["--config", str(config_path), "status", "--json"]) == 1
    err = capsys.readouterr().err
    assert "not a SQLite database" in err and len(err.strip().splitlines()) == 1


def test_status_json_carries_the_study_evidence(config_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from store import registry
    from store.db import Store

    cfg = load_config(config_path, environ={})
    seed(Path(cfg.store.path))
    summary = {"study": "new", "trials_attempted": 7, "pbo": 0.5, "pbo_blocks": 16,
               "best": {"trial": 3, "objective": 0.42, "dsr": 0.12,
                        "holdout_active_sharpe": -0.4, "holdout_ci": [-6.0, 5.1],
                        "baselines": {"cash": 1.0, "hodl": 0.1, "equal_weight": 0.0,
                                      "static_tilt": 0.3}},
               "gate": {"paper": {"passed": False, "reasons": ["PBO: 0.5 (needs <= 0.2)"]}}}
    with Store(cfg.store.path) as st:
        registry.put_study_evidence(st, "new", json.dumps(summary))
    assert main(["--config", str(config_path), "status", "--json"]) == 0
    study = json.loads(capsys.readouterr().out)["study"]
    assert study["trials_attempted"] == 7 and study["pbo_blocks"] == 16
    assert study["best"] == summary["best"] and study["gate"] == summary["gate"]
    assert study["pbo"] == 0.18  # the study row's own field is kept as it was


def test_status_json_money_is_rounded_decimal_text(config_path: Path, capsys) -> None:
    cfg = load_config(config_path, environ={})
    t = now()
    with Store(cfg.store.path) as s, s.write() as db:
        db["traders"].insert({"name": "sim", "broker": "sim", "mode": "paper", "model": "m",
                              "tickers": '["DOGE-USD"]', "timeframe": "5m", "capital": "1000",
                              "equity": "983.1577401522001", "trading_state": "ACTIVE",
                              "started_at": t, "updated_at": t})
        db["positions"].insert({"trader": "sim", "ticker": "DOGE-USD",
                                "qty": "1520.000000004999", "avg_price": "0.123456789",
                                "unrealized_pnl": "-0.0049", "updated_at": t})
    assert main(["--config", str(config_path), "status", "--json"]) == 0
    (trader,) = json.loads(capsys.readouterr().out)["traders"]
    assert trader["equity"] == "983.16"
    assert trader["positions"] == [{"ticker": "DOGE-USD", "qty": "1520", "qty_increment": None,
                                    "avg_price": "0.123457", "unrealized_pnl": "0.00"}]
    assert main(["--config", str(config_path), "status"]) == 0
    assert "equity 983.16 " in capsys.readouterr().out


def test_status_json_quantities_sit_on_the_recorded_increment(config_path: Path, capsys) -> None:
    """Each trader's own recorded increment, rounded down (never more than is held); a ticker
    without a record falls back to 8 decimals and says so with a null `qty_increment`."""
    from store.increments import ProductIncrement, record_increments

    cfg = load_config(config_path, environ={})
    t = now()
    with Store(cfg.store.path) as s:
        with s.write() as db:
            for name in ("a", "b"):
                db["traders"].insert({"name": name, "broker": "alpaca", "mode": "paper",
                                      "model": "m", "tickers": '["ETH-USD","SOL-USD"]',
                                      "timeframe": "5m", "capital": "1000",
                                      "trading_state": "ACTIVE", "started_at": t,
                                      "updated_at": t})
                for ticker in ("ETH-USD", "SOL-USD"):
                    db["positions"].insert({"trader": name, "ticker": ticker,
                                            "qty": "0.123456789999", "avg_price": "3000",
                                            "unrealized_pnl": "0", "updated_at": t})
        record_increments(s, [
            ProductIncrement("a", "ETH-USD", "alpaca", "0.0001", "0.01", "0.001", "1", t),
            ProductIncrement("a", "SOL-USD", "alpaca", "0.05", "0.01", None, None, t),
            # another trader's record does not leak to trader b
            ProductIncrement("x", "ETH-USD", "coinbase", "0.1", "0.01", None, None, t)])
    assert main(["--config", str(config_path), "status", "--json"]) == 0
    doc = {tr["name"]: tr["positions"] for tr in json.loads(capsys.readouterr().out)["traders"]}
    assert [(p["qty"], p["qty_increment"]) for p in doc["a"]] == [("0.1234", "0.0001"),
                                                                   ("0.1", "0.05")]
    assert [(p["qty"], p["qty_increment"]) for p in doc["b"]] == [("0.12345678", None)] * 2


def test_status_lists_only_positions_held(config_path: Path, capsys) -> None:
    """The positions table keeps a row (with its last price) for every ticker a trader has
    traded; a flat one is no position: a flat trader showed 'positions 7', all qty 0."""
    cfg = load_config(config_path, environ={})
    t = now()
    with Store(cfg.store.path) as st, st.write() as db:
        db["traders"].insert({"name": "btc", "broker": "sim", "mode": "paper", "model": "m",
                              "tickers": '["BTC-USD", "ETH-USD"]', "timeframe": "5m",
                              "capital": "1000", "equity": "1000", "trading_state": "ACTIVE",
                              "started_at": t, "updated_at": t})
        db["positions"].insert_all(
            {"trader": "btc", "ticker": ticker, "qty": qty, "avg_price": "0",
             "unrealized_pnl": "0", "updated_at": t}
            for ticker, qty in (("BTC-USD", "0.01"), ("ETH-USD", "0E-8")))
    assert main(["--config", str(config_path), "status", "--json"]) == 0
    [trader] = json.loads(capsys.readouterr().out)["traders"]
    assert [p["ticker"] for p in trader["positions"]] == ["BTC-USD"]
    assert main(["--config", str(config_path), "status"]) == 0
    assert "positions 1" in capsys.readouterr().out
