"""A real `cappuccino trade` process on the Alpaca fake (the real alpaca-py client over HTTP)
while the market moves onto some of its limit orders as they arrive: Alpaca has no post-only
flag, so those fill at once as takers and Alpaca takes the taker fee (a buy's in the coin).
The trader must book each fill as the venue charged it: its positions equal what the account
gained, and the maker ratio the operator sees (store, `cappuccino report`) counts those fills
as taker."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from engine.config import load_config
from engine.metrics import maker_ratio_of
from engine.soak.venues import CONFIG, SPEED, Market
from engine.soak.workdir import ROOT, TICKERS, tiny_model
from store import trading as st
from store.db import Store
from tests.fakes import FakeAlpaca
from tests.fakes.trade_proc import (
    RETRIES,
    clean_env,
    replay_start,
    start_trader,
    trade_argv,
    wait_while_alive,
)


def _held(fake: FakeAlpaca) -> dict[str, Decimal]:
    with fake.lock:
        return {t: fake.positions.get(t.replace("-", "/"), Decimal(0)) for t in TICKERS}


@pytest.mark.slow
def test_fills_that_cross_on_arrival_are_booked_taker(tmp_path: Path) -> None:
    env = clean_env()
    env.update(APCA_API_KEY_ID="PKTEST", APCA_API_SECRET_KEY="s3cret")
    with ExitStack() as stack:
        fake = FakeAlpaca()
        stack.enter_context(fake)
        cfg_path = tmp_path / "cappuccino.toml"
        cfg_path.write_text(CONFIG + f'[alpaca]\nurl_override = "{fake.base_url}"\n'
                            f'data_url_override = "{fake.base_url}"\n' + RETRIES)
        cfg = load_config(cfg_path, environ={})
        tiny_model(tmp_path / "model", cfg)
        fake.accelerate(*replay_start(SPEED))
        start = _held(fake)
        # Every other limit order meets a market that moved: through its price or onto it.
        fake.arrival_cross = ["better", None, "at", None] * 100
        market = Market(fake, seed=3, coinbase=False)  # quotes follow candles; rests fill
        market.start()
        stack.callback(market.join, 5)
        stack.callback(market.halt.set)
        log = tmp_path / "trader.log"
        p = start_trader(stack, trade_argv(cfg_path, tmp_path / "model", "alpaca", TICKERS,
                                           live=False), env, log)

        def enough() -> bool:
            with fake.lock:
                taker = len(fake.taker_fills)
                maker = len(fake.activities) - taker
            return taker >= 4 and maker >= 2

        assert wait_while_alive(p, enough, 80), log.read_text(errors="replace")[-3000:]
        market.halt.set()
        p.send_signal(signal.SIGTERM)   # a clean stop cancels what rests and books all fills
        assert p.wait(60) == 0, log.read_text(errors="replace")[-3000:]

        with fake.lock:
            venue_taker = set(fake.taker_fills)
            venue_fills = {a["id"] for a in fake.activities}
        now = _held(fake)
        with Store(Path(cfg.store.path), create=False) as s:
            fills = st.list_fills(s, "t")
            pos = {r[0]: Decimal(r[1]) for r in s.query(
                "SELECT ticker, qty FROM positions WHERE trader = 't'")}
            ratio = maker_ratio_of(st.liquidity_counts(s, "t"))
        assert {f.fill_id for f in fills} == venue_fills
        # Each fill booked as the venue charged it, taker ones among them.
        assert {f.fill_id for f in fills if f.liquidity == "TAKER"} == venue_taker
        for t in TICKERS:
            assert pos.get(t, Decimal(0)) == now[t] - start[t], (t, pos, now, start)
        makers = len(venue_fills) - len(venue_taker)
        assert ratio == pytest.approx(makers / len(venue_fills))
        # The fake's clock is the trader's (an accelerated past): the report ends there.
        out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path),
                              "report", "--period", "month", "--trader", "t",
                              "--end", str(fake.now() + 1)], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        shown = re.search(r"maker ratio\s+([\d.]+)%", out.stdout)
        assert shown is not None, out.stdout
        assert float(shown.group(1)) == pytest.approx(100 * makers / len(venue_fills), abs=0.06)
