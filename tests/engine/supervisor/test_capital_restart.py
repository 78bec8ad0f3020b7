"""A live trader whose capital was stepped up still restarts, with the new capital.

check_spawn holds a live trader's row to the last recorded capital step, but a capital
change only updated the traders table: the row kept the promotion's `--capital`, so the
next start of the trader (a restart by policy after a crash, `restart`, `start`) was
refused FATAL "capital 1000.00 is not the recorded 2000.00" - a live trader that cannot
come back. The capital change now writes the new capital into the trader's row as well.
Real production supervisor; the capital command goes through its handler and gates.
"""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal
from pathlib import Path

from engine.supervisor.commands import Trade
from store.db import now
from store.promotions import insert_promotion
from tests.engine.paper_record import add_paper_trader

sys.path.insert(0, str(Path(__file__).parent))
from test_forged_trader_row import forge  # noqa: E402


def test_a_stepped_up_live_trader_restarts_with_its_new_capital(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness('[coinbase]\nlive_armed = true\nbase_url = "127.0.0.1:9"\n')
    env = dict(os.environ, COINBASE_API_KEY="organizations/x/apiKeys/y",
               COINBASE_API_SECRET="not-a-real-pem")
    model = Path(h.cfg.paths.models) / "lv-model"
    model.mkdir(parents=True)
    h.supervise(env=env, production=True)
    t = Trade(name="lv", model=str(model), broker="coinbase", tickers=["BTC-USD"],
              timeframe="5m", capital=Decimal("1000.00"), live=True)
    with h.store() as s:
        add_paper_trader(s, "lv", end=now(), model=str(model), mode="live", hours=24 * 8,
                         drift=3e-4)
        insert_promotion(s, "live", "lv-paper", [], True, trader="lv", capital="1000.00",
                         trade_args=t.model_dump(mode="json", exclude_none=True),
                         at=now() - 8 * 86_400)
    forge(h, t.process_name, t.argv())  # as cmd_trade declares it
    h.wait_for(lambda: h.process("trader-lv").started_at is not None
               or h.process("trader-lv").state == "FATAL", timeout=60, what="spawned")
    assert h.process("trader-lv").started_at is not None, h.process("trader-lv").last_error
    step = h.command("capital", "lv", {"capital": "2000", "force": True,
                                       "reason": "a profitable week"}, timeout=60)
    assert step.state == "done", step.result
    row = h.process("trader-lv")
    assert json.loads(row.argv)[-3:] == ["--capital", "2000.00", "--live"], row.argv
    again = h.command("restart", "trader-lv", timeout=60)
    assert again.state == "done" and "restarted trader-lv" in str(again.result), again.result
    row = h.process("trader-lv")
    assert row.state != "FATAL" and "refused" not in (row.last_error or ""), row.last_error
