"""A live trader (a real `cappuccino trade` process, the real coinbase-advanced-py SDK against
the fake) whose machine clock steps 30 s forward while it runs: Coinbase refuses every signed
call (the JWT is not valid yet). It halts, naming the clock - not "credentials refused", which
sends the operator to rotate good keys - and resumes by itself once the clock is back."""

from __future__ import annotations

import subprocess
from contextlib import ExitStack
from pathlib import Path

import pytest

from engine.config import load_config
from engine.soak.venues import CONFIG
from engine.soak.workdir import TICKERS, tiny_model
from tests.fakes.shifted_clock import clock_shift
from tests.fakes.trade_proc import (
    clean_env,
    live_coinbase,
    start_trader,
    store_rows,
    trade_argv,
    wait_while_alive,
)


def _wait(db: Path, state: str, p: subprocess.Popen[bytes], log: Path,
          timeout: float) -> str:
    """The trader's reason once it is in `state`."""
    def trader() -> list[tuple[str, str]]:
        return store_rows(db, "SELECT trading_state, COALESCE(state_reason, '') FROM traders "
                          "WHERE name = 't'")

    row = wait_while_alive(p, lambda: [r for r in trader() if r[0] == state], timeout, 0.2)
    if not row:
        raise AssertionError(f"trader not {state} (is {trader()}); log:\n"
                             + log.read_text(errors="replace")[-2000:])
    return str(row[0][1])


@pytest.mark.slow
def test_a_clock_step_halts_naming_the_clock_and_resumes(tmp_path: Path) -> None:
    env = clean_env()
    with ExitStack() as stack:
        cfg_path = tmp_path / "cappuccino.toml"
        live_coinbase(stack, env, cfg_path, CONFIG)
        cfg = load_config(cfg_path, environ={})
        tiny_model(tmp_path / "model", cfg)
        # (not accelerated: the fake's server time must be the clock it checks tokens on)
        shift, shifted = clock_shift(tmp_path)
        env.update(shifted)
        log = tmp_path / "trader.log"
        db = Path(cfg.store.path)
        p = start_trader(stack, trade_argv(cfg_path, tmp_path / "model", "coinbase", TICKERS,
                                           live=True), env, log)
        _wait(db, "ACTIVE", p, log, 120)   # torch import on a loaded machine
        shift.write_text("30")             # the machine's clock 30 s ahead
        reason = _wait(db, "HALTED", p, log, 60)
        assert "the machine's clock is 30 s ahead of Coinbase's" in reason, reason
        assert "fix NTP; the keys work at Coinbase's time" in reason, reason
        assert "credentials refused" not in reason, reason
        shift.write_text("0")              # NTP puts it back
        _wait(db, "ACTIVE", p, log, 90)    # the auth probe backs off up to 60 s
