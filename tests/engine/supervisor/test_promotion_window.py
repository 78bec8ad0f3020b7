"""A trader's effective promotion is found however many refused attempts followed it.

check_spawn looked for a trader's latest effective promotion (passed, or forced with a
reason) among its 200 most recent promotion rows only. engine.promote records every refused
attempt under the trader's name too (a script retrying `promote --to paper --name X` each
night while the gates fail, or a run of refused capital steps), so after 200 of them the
running trader's next start (a crash restart, `restart`, a supervisor restart) went FATAL
"no recorded paper promotion", although its promotion is in the store. Real production
supervisor; the rows are the ones engine.promote writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from store.promotions import insert_promotion

sys.path.insert(0, str(Path(__file__).parent))
from test_forged_paper_row import promote_record, trade  # noqa: E402
from test_forged_trader_row import forge  # noqa: E402


def test_a_promoted_trader_starts_after_many_refused_attempts(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness()
    h.supervise(production=True)
    t = trade(h, "steady", model="steady-model")
    promote_record(h, t)
    with h.store() as s:  # what engine.promote records for each refused attempt
        for _ in range(250):
            insert_promotion(s, "paper", "s1/trial 7", [], False, trader=t.name,
                             capital=str(t.capital))
    forge(h, t.process_name, t.argv())  # its row, as the promotion's start declared it
    h.wait_for(lambda: h.process("trader-steady").started_at is not None
               or h.process("trader-steady").state == "FATAL", timeout=60, what="spawned")
    row = h.process("trader-steady")
    assert row.started_at is not None and "refused" not in (row.last_error or ""), \
        row.last_error
