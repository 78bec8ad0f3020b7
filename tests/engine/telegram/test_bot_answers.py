"""What an allowed chat's message becomes: answers from a real store, command rows checked
by the supervisor's own schemas, and Bot API errors that never carry the token."""

from __future__ import annotations

import socket
from collections.abc import Callable
from decimal import Decimal

import pytest

from engine.config import Config
from engine.supervisor.commands import parse
from engine.telegram.api import ApiError, BotApi
from engine.telegram.bot import allowed_chats, answer
from store.commands import recent_commands
from store.db import Store
from store.trading import insert_equity, set_trader_fields, upsert_trader
from tests.fakes.fake_telegram import FakeTelegram

TOKEN = "987654:ZZ-secret-token-for-api-tests"
DAY = 86_400.0


@pytest.fixture
def store_cfg(make_config: Callable[..., Config]) -> tuple[Store, Config]:
    cfg = make_config()
    store = Store(cfg.store.path)
    with store.write():
        upsert_trader(store, "eth", broker="sim", mode="paper", model="m", study=None,
                      trial=None, tickers=["ETH-USD"], timeframe="1h",
                      capital=Decimal(2000), at=0.0)
        set_trader_fields(store, "eth", trading_state="ACTIVE", equity="1950.126",
                          cash="1950.126")
    return store, cfg


def test_commands_become_rows_the_supervisor_accepts(store_cfg: tuple[Store, Config]) -> None:
    store, cfg = store_cfg
    for text in ("/halt", "/halt eth", "/resume all", "/exit eth", "/exit eth btc-usd",
                 "/resume@CappuccinoBot eth"):
        ans = answer(cfg, store, text)
        assert ans.command_id is not None, (text, ans.text)
    rows = recent_commands(store, 50)
    got = sorted((r.action, r.target or "", r.source) for r in rows)
    assert got == sorted([("halt_all", "", "telegram"), ("halt_all", "eth", "telegram"),
                          ("resume", "", "telegram"), ("exit", "eth", "telegram"),
                          ("exit", "eth", "telegram"), ("resume", "eth", "telegram")])
    for r in rows:  # the supervisor's own parse at execution accepts every one
        parse(cfg, r.id, r.action, r.target, r.args)
    assert any('"ticker": "BTC-USD"' in r.args for r in rows)


@pytest.mark.parametrize("text", ["/exit", "/exit eth NOT_A_TICKER", "/exit --all",
                                  "/halt a b", "/halt ../x", "/exit eth BTC-USD extra"])
def test_bad_commands_are_refused_and_write_nothing(store_cfg: tuple[Store, Config],
                                                    text: str) -> None:
    store, cfg = store_cfg
    ans = answer(cfg, store, text)
    assert ans.command_id is None
    assert ans.text.startswith(("refused", "usage"))
    assert recent_commands(store, 10) == []


def test_read_only_answers(store_cfg: tuple[Store, Config]) -> None:
    store, cfg = store_cfg
    assert "eth [paper]: PnL -49.87 (-2.49%) on capital 2000.00, equity 1950.13" in answer(
        cfg, store, "/profit").text
    assert "eth [paper]: equity 1950.13, cash 1950.13" in answer(cfg, store, "/balance").text
    # Two days of equity: the report's daily PnL, day by day, in cents.
    t0 = 1_700_000_000.0 - 1_700_000_000.0 % DAY
    with store.write():
        for i, eq in enumerate(["2000", "2010.004", "2010.004", "1990.5"]):
            insert_equity(store, "eth", t0 + i * DAY / 2, Decimal(eq), Decimal(eq), None)
    daily = answer(cfg, store, "/daily").text
    # Day 1: 2000 -> 2010.004; day 2: 2010.004 -> 1990.5 (hand-checked), to the cent.
    assert daily.splitlines() == ["eth [paper], last 2 day(s):", "  2023-11-14  10.00",
                                  "  2023-11-15  -19.50"], daily
    help_text = answer(cfg, store, "hello").text
    assert "/status" in help_text and "/exit TRADER" in help_text
    assert recent_commands(store, 10) == []


def test_allowed_chats_ignore_junk() -> None:
    assert allowed_chats("12, -100200 ,abc 3.5 ;7") == frozenset({12, -100200})
    assert allowed_chats("") == frozenset()


def test_api_errors_never_carry_the_token() -> None:
    with FakeTelegram("another-token") as fake:
        api = BotApi(fake.base_url, TOKEN, timeout_s=2)
        with pytest.raises(ApiError) as e:  # 401: wrong token
            api.get_updates(0, 0)
        assert "401" in str(e.value) and TOKEN not in str(e.value)
        fake.malformed_next(path="sendMessage")
        with pytest.raises(ApiError) as e:
            api.send_message(1, "x")
        assert TOKEN not in str(e.value)
        fake.reset_next()
        with pytest.raises(ApiError) as e:
            api.get_updates(0, 0)
        assert TOKEN not in str(e.value)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ApiError) as e:
        BotApi(f"http://127.0.0.1:{port}", TOKEN, timeout_s=2).get_updates(0, 0)
    assert TOKEN not in str(e.value)


def test_the_service_needs_the_bot_enabled(make_config: Callable[..., Config]) -> None:
    from engine.config import ConfigError

    with pytest.raises(ConfigError, match="telegram"):
        make_config('[supervisor]\nservices = ["telegram"]\n')
    cfg = make_config('[supervisor]\nservices = ["telegram"]\n[telegram]\nenabled = true\n')
    assert cfg.supervisor.services == ["telegram"]
    assert make_config().telegram.enabled is False  # off by default
