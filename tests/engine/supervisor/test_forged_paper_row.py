"""A paper or sim trader row written straight into `processes` starts only as promoted.

Before, check_spawn refused only unpromoted live Coinbase rows: a forged or stale row for an
Alpaca paper or sim trader started whatever model, tickers and capital it named. Now every
trader row needs the exact argv the supervisor builds and the trader's latest recorded
promotion of its kind, which records (v0007) what it started: a forged row with no
promotion, and a stale row whose model, tickers, timeframe or capital differ from the
promotion's, go FATAL with the reason and an alert, and no process with their argv exists.
A legitimately promoted paper trader starts, and starts again with `start NAME` after a stop.
A trader started by hand (`cappuccino trade`) is no row: not concerned (tests/engine/trading).
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from pathlib import Path

from engine.supervisor.commands import Trade
from store.promotions import insert_promotion

sys.path.insert(0, str(Path(__file__).parent))
from test_forged_trader_row import forge  # noqa: E402
from test_refusals import MARK, marked_processes  # noqa: E402


def trade(h, name: str, broker: str = "sim", model: str = MARK,  # type: ignore[no-untyped-def]
          capital: str = "1000.00", tickers: tuple[str, ...] = ("BTC-USD",)) -> Trade:
    path = Path(h.cfg.paths.models) / model
    path.mkdir(parents=True, exist_ok=True)
    return Trade(name=name, model=str(path), broker=broker,  # type: ignore[arg-type]
                 tickers=list(tickers), timeframe="5m", capital=Decimal(capital))


def promote_record(h, t: Trade) -> int:  # type: ignore[no-untyped-def]
    """The promotion row engine.promote records with a trader's start (v0007)."""
    with h.store() as s:
        return insert_promotion(s, "paper", "s1/trial 2", [], True, trader=t.name,
                                capital=str(t.capital),
                                trade_args=t.model_dump(mode="json", exclude_none=True))


def refused(h, name: str, why: str) -> None:  # type: ignore[no-untyped-def]
    h.wait_for(lambda: h.process(name).state == "FATAL"
               or h.process(name).started_at is not None, timeout=60, what=f"{name} settled")
    row = h.process(name)
    assert row.started_at is None and row.pid is None, f"{name} was started"
    assert row.state == "FATAL" and why in (row.last_error or ""), row.last_error


def test_forged_and_stale_paper_rows_are_refused(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness()
    sup = h.supervise(production=True)
    # never promoted: a sim row and an Alpaca paper row
    forge(h, "trader-ghost", trade(h, "ghost").argv())
    forge(h, "trader-ghost2", trade(h, "ghost2", broker="alpaca", capital="99999").argv())
    # promoted, but not this: another model, more tickers, another capital
    legit = trade(h, "paper1")
    promo = promote_record(h, legit)
    stale = {"trader-stale1": trade(h, "stale1", model=MARK + "-other"),
             "trader-stale2": trade(h, "stale2", tickers=("BTC-USD", "ETH-USD")),
             "trader-stale3": trade(h, "stale3", capital="5000.00")}
    for t in stale.values():
        promote_record(h, trade(h, t.name))
    # the promoted trader, its row edited after the promotion: another model
    forge(h, "trader-paper1", trade(h, "paper1", model=MARK + "-swapped").argv())
    for name, t in stale.items():
        forge(h, name, t.argv())
    # a paper row not built as the supervisor builds it (argparse abbreviation)
    forge(h, "trader-abbrev", ["trade", "--name", "abbrev", "--mod", legit.model, "--broker",
                               "sim"])
    refused(h, "trader-ghost", "no recorded paper promotion of trader ghost")
    refused(h, "trader-ghost2", "no recorded paper promotion of trader ghost2")
    refused(h, "trader-paper1", f"model differ from what promotion #{promo} promoted")
    refused(h, "trader-stale1", "model differ from what promotion")
    refused(h, "trader-stale2", "tickers differ from what promotion")
    refused(h, "trader-stale3", "capital differ from what promotion")
    refused(h, "trader-abbrev", "not ones the supervisor builds")
    assert marked_processes() == []
    with h.store() as s:
        alerts = [r["message"] for r in s.query("SELECT message FROM alerts")]
    assert any("trader-ghost2 not started: refused" in m for m in alerts), alerts
    # `start` of a refused row is refused the same way
    again = h.command("start", "trader-ghost")
    assert again.state == "failed" and "no recorded paper promotion" in str(again.result)
    time.sleep(1)  # a few more ticks: still nothing started
    assert marked_processes() == [] and sup.poll() is None


def test_a_promoted_paper_row_starts_and_starts_again(harness) -> None:  # type: ignore[no-untyped-def]
    """The row that matches its promotion is spawned (it then fails on its own: the model
    is an empty folder), by the supervisor's reconcile and by `start NAME` after a stop."""
    h = harness()
    h.supervise(production=True)
    t = trade(h, "good", model="good-model")
    promote_record(h, t)
    forge(h, t.process_name, t.argv())
    h.wait_for(lambda: h.process("trader-good").started_at is not None
               or h.process("trader-good").state == "FATAL", timeout=60, what="spawned")
    first = h.process("trader-good")
    assert first.started_at is not None and "refused" not in (first.last_error or "")
    assert h.command("stop", "trader-good", timeout=60).state == "done"
    again = h.command("start", "trader-good", timeout=60)
    assert again.state == "done" and "started trader-good" in str(again.result), again.result


def test_a_promotion_from_before_v0007_still_starts_its_trader(harness) -> None:  # type: ignore[no-untyped-def]
    """A store upgraded with a running paper trader: its promotion recorded no arguments, so
    its name and capital are what is checked (its next restart must not be refused)."""
    h = harness()
    h.supervise(production=True)
    old, wrong = trade(h, "old", model="old-model"), trade(h, "old2", capital="5000.00")
    with h.store() as s:
        for t in (old, trade(h, "old2")):
            insert_promotion(s, "paper", "s1/trial 1", [], True, trader=t.name,
                             capital="1000.00")
    forge(h, old.process_name, old.argv())
    forge(h, wrong.process_name, wrong.argv())
    refused(h, "trader-old2", "capital 5000.00 is not the recorded 1000.00")
    h.wait_for(lambda: h.process("trader-old").started_at is not None
               or h.process("trader-old").state == "FATAL", timeout=60, what="spawned")
    assert h.process("trader-old").started_at is not None, h.process("trader-old").last_error
