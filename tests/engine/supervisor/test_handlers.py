"""Non-process commands: a lazily imported table; a missing module fails clearly."""

from __future__ import annotations

import json

import pytest

from engine.supervisor import handlers
from store.commands import claim_pending, insert_command
from store.db import Store


def test_missing_module_is_not_available(monkeypatch, tmp_path) -> None:
    monkeypatch.setitem(handlers.HANDLERS, "promote", "engine.no_such_module:execute_command")
    with pytest.raises(handlers.NotAvailable, match="promote: not available in this build"):
        handlers.resolve("promote")
    monkeypatch.setitem(handlers.HANDLERS, "promote", "json:no_such_function")
    with pytest.raises(handlers.NotAvailable, match="not available in this build"):
        handlers.resolve("promote")


def test_handler_gets_cfg_store_and_command(monkeypatch, make_config, tmp_path) -> None:
    cfg = make_config()
    monkeypatch.setitem(handlers.HANDLERS, "capital", "json:dumps")  # any callable will do
    with Store(tmp_path / "s.db") as store:
        insert_command(store, "capital", "t1", {"capital": "2000"})
        (cmd,) = claim_pending(store)
        seen = []

        def fake(cfg_, store_, command):
            seen.append((cfg_, store_, command))
            return f"capital {command.arguments['capital']}"

        monkeypatch.setattr(json, "dumps", fake)
        assert handlers.run_handler(cfg, store, cmd) == "capital 2000"
        assert seen == [(cfg, store, cmd)]


def test_exit_is_typed_and_writes_the_request(make_config, tmp_path) -> None:
    from engine.supervisor.commands import Refused, parse
    from store import trading as st

    cfg = make_config()
    assert parse(cfg, 1, "exit", "t1", {"ticker": "BTC-USD"}).args.ticker == "BTC-USD"
    for target, args in (("t1", {"ticker": "btc; rm -rf"}), (None, {}),
                         ("t1", {"argv": ["sh"]})):
        with pytest.raises(Refused):
            parse(cfg, 1, "exit", target, args)
    with Store(tmp_path / "s.db") as store:
        with store.write() as db:
            db["traders"].insert({"name": "t1", "broker": "sim", "mode": "paper", "model": "m",
                                  "tickers": "[]", "timeframe": "5m", "capital": "100",
                                  "trading_state": "ACTIVE", "started_at": 0.0,
                                  "updated_at": 0.0})
        insert_command(store, "exit", "t1", {})
        (cmd,) = claim_pending(store)
        assert "every position" in handlers.run_handler(cfg, store, cmd)
        assert st.exit_request(store, "t1").tickers is None
        insert_command(store, "exit", "ghost", {})
        (cmd,) = claim_pending(store)
        with pytest.raises(ValueError, match="no trader named 'ghost'"):
            handlers.run_handler(cfg, store, cmd)
