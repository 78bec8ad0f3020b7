"""SIGKILL a real `cappuccino trade` process on the Coinbase and the Alpaca fakes (the real SDK
clients over HTTP) at random points, many times, and restart it: no order is placed twice,
each bar is decided once, the book's positions equal what the exchange holds for it, and no
HALT appears that the market did not call for (engine.soak.venues, which also runs as
`cappuccino soak --trading-kill-rounds R`).

Rounds per venue here: ROUNDS, to keep CI within its 90 s budget; the issue's 20+ rounds:
`cappuccino soak --minutes 0 --kill-rounds 0 --trading-kill-rounds 20`."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.soak.venues import run_venue_kills

ROUNDS = 8


@pytest.mark.slow
@pytest.mark.parametrize("venue", ["coinbase", "alpaca"])
def test_sigkill_loop_on_a_venue(tmp_path: Path, venue: str) -> None:
    run = run_venue_kills(tmp_path, venue, ROUNDS)
    assert not run.findings, "\n".join(run.findings)
    assert run.rounds == ROUNDS and run.orders >= 3 and run.fills and run.decisions
    print(f"{venue}: {ROUNDS} SIGKILLs, {run.orders} orders, {run.fills} fills, "
          f"{run.decisions} decisions, 0 duplicates")  # shown with pytest -s
