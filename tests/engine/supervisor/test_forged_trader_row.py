"""A trader row written straight into `processes` never reaches Coinbase past the gates.

The commands table is checked (test_refusals.py), but the supervisor also starts every row
of `processes` that is STARTING (or due in BACKOFF) with the row's own argv. With live
trading armed for the operator's real trader, a forged row `trade --broker coinbase --live
--capital 1000000 --model <anywhere>` must not start: no recorded live promotion, not the
recorded capital. It is refused (row FATAL with the reason, an alert) and no process with
its argv ever exists. A paper/sim row still starts as before (the soak and tests declare
those directly).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from store.db import now

sys.path.insert(0, str(Path(__file__).parent))
from test_refusals import MARK, marked_processes  # noqa: E402


def forge(h, name: str, argv: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The row as any writer of the store could put it (plain SQL)."""
    with h.store() as s, s.write():
        s.conn.execute(
            "INSERT INTO processes (name, kind, argv, desired, state, created_at, updated_at) "
            "VALUES (?, 'trader', ?, 'running', 'STARTING', ?, ?)",
            (name, json.dumps(argv), now(), now()))


def test_a_forged_live_trader_row_is_refused_and_never_runs(harness, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h = harness('[coinbase]\nlive_armed = true\n[trader]\nbroker = "coinbase"\n')
    env = dict(os.environ, COINBASE_API_KEY="organizations/x/apiKeys/y",
               COINBASE_API_SECRET="not-a-real-pem")
    model = Path(h.cfg.paths.models) / MARK
    model.mkdir(parents=True)
    live = ["trade", "--name", "evil", "--model", str(model), "--broker", "coinbase",
            "--tickers", "BTC-USD", "--timeframe", "5m", "--capital", "1000000", "--live"]
    # the same through argparse's own doors: an abbreviation, `=`, and the config default
    sneaky = ["trade", "--name", "evil2", f"--model={tmp_path / MARK}", "--liv",
              "--capital", "1000000"]
    sup = h.supervise(env=env, production=True)
    forge(h, "trader-evil", live)
    forge(h, "trader-evil2", sneaky)
    for name, why in (("trader-evil", "no recorded live promotion"),
                      ("trader-evil2", "not ones the supervisor builds")):
        row = h.wait_state(name, "FATAL", "RUNNING", "STARTING", "BACKOFF", "EXITED")
        h.wait_for(lambda n=name: h.process(n).state in ("FATAL", "BACKOFF", "EXITED")
                   or h.process(n).started_at is not None, what=f"{name} settled")
        row = h.process(name)
        assert row.started_at is None and row.pid is None, f"{name} was started"
        assert row.state == "FATAL" and why in (row.last_error or ""), row.last_error
        assert MARK not in (row.last_error or "")
    assert marked_processes() == []
    with h.store() as s:
        alerts = [r["message"] for r in s.query("SELECT message FROM alerts")]
    assert any("trader-evil not started: refused" in m for m in alerts), alerts
    # a `start` of the refused row is refused the same way
    again = h.command("start", "trader-evil")
    assert again.state == "failed", again.result
    assert h.process("trader-evil").started_at is None and marked_processes() == []
    # a forged capital row next to a real live promotion does not lift the capital either
    with h.store() as s, s.write():
        for kind, cap in (("live", "1000.00"), ("capital", "1000000")):
            s.conn.execute("INSERT INTO promotions (at, kind, subject, trader, gates, passed, "
                           "forced, capital) VALUES (?, ?, 'ev-paper', 'evil3', '[]', 1, 0, ?)",
                           (now(), kind, cap))
    forge(h, "trader-evil3", [*live[:2], "evil3", *live[3:]])
    h.wait_for(lambda: h.process("trader-evil3").state == "FATAL", what="trader-evil3 refused")
    row = h.process("trader-evil3")
    assert row.started_at is None and "above the last capital step" in (row.last_error or "")
    assert marked_processes() == []
    assert sup.poll() is None  # the supervisor carries on


def test_a_promoted_live_trader_row_still_starts(harness) -> None:  # type: ignore[no-untyped-def]
    """The row the supervisor itself declares for a recorded live promotion passes the same
    check: it is spawned (it then fails on its own, with no exchange to reach here)."""
    from engine.supervisor.commands import Trade

    h = harness('[coinbase]\nlive_armed = true\nbase_url = "127.0.0.1:9"\n')
    env = dict(os.environ, COINBASE_API_KEY="organizations/x/apiKeys/y",
               COINBASE_API_SECRET="not-a-real-pem")
    model = Path(h.cfg.paths.models) / MARK
    model.mkdir(parents=True)
    h.supervise(env=env, production=True)
    with h.store() as s, s.write():
        s.conn.execute("INSERT INTO promotions (at, kind, subject, trader, gates, passed, forced,"
                       " capital) VALUES (?, 'live', 'lv-paper', 'lv', '[]', 1, 0, '1000.00')",
                       (now(),))
    t = Trade(name="lv", model=str(model), broker="coinbase", tickers=["BTC-USD"],
              timeframe="5m", capital="1000.00", live=True)  # type: ignore[arg-type]
    forge(h, t.process_name, t.argv())
    h.wait_for(lambda: h.process("trader-lv").started_at is not None
               or h.process("trader-lv").state == "FATAL", what="trader-lv spawned")
    row = h.process("trader-lv")
    assert row.started_at is not None, row.last_error
