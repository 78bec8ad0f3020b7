"""Round trips paired from fills, checked by hand; and `cappuccino export trades`."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from engine.reports.trades import PlainFill, round_trips
from store.db import Store

ROOT = Path(__file__).resolve().parents[3]
F = PlainFill


def test_fifo_pairs_with_fees_pro_rata() -> None:
    fills = [F("a", "BTC", "BUY", "1", "100", "0.10", "MAKER", 0),
             F("b", "BTC", "BUY", "5", "1", "0", "MAKER", 1),  # another trader: apart
             F("a", "BTC", "BUY", "1", "110", "0.20", "TAKER", 60),
             F("a", "ETH", "SELL", "2", "10", "0.01", "MAKER", 90),  # bought before: orphan
             F("a", "BTC", "SELL", "1.5", "120", "0.30", "MAKER", 3600)]
    m = round_trips(fills)
    assert m.unmatched_exits == 1
    first, second = m.trips
    # Lot 1 (1 @ 100, fee 0.10) closed by 1 of the sell (fee 0.20 a unit): 20 - 0.30.
    assert (first.qty, first.entry_price, first.exit_price) == (1, 100, 120)
    assert (first.fees, first.pnl) == (Decimal("0.30"), Decimal("19.70"))
    assert (first.entry_liquidity, first.exit_liquidity, first.duration_s) == (
        "MAKER", "MAKER", 3600)
    # Lot 2 (1 @ 110, fee 0.20): half of it closed; 0.5 x 10 - (0.10 + 0.10).
    assert (second.qty, second.fees, second.pnl) == (Decimal("0.5"), Decimal("0.2"),
                                                     Decimal("4.8"))
    assert second.entry_liquidity == "TAKER" and second.duration_s == 3540
    # The open half lot waits for the next sell.
    more = round_trips([*fills, F("a", "BTC", "SELL", "0.5", "100", "0", "TAKER", 7200)])
    assert more.trips[-1].pnl == Decimal("-5.1") and more.trips[-1].qty == Decimal("0.5")


def test_export_trades_csv(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with Store(db) as st, st.write() as d:
        d["traders"].insert({"name": "t1", "broker": "sim", "mode": "paper", "model": "m",
                             "tickers": "[]", "timeframe": "5m", "capital": "100",
                             "trading_state": "ACTIVE", "started_at": 0.0, "updated_at": 0.0})
        d["fills"].insert_all([
            {"fill_id": "1", "trader": "t1", "ticker": "BTC-USD", "side": "BUY", "qty": "2",
             "price": "50", "fee": "0.2", "liquidity": "MAKER", "at": 1_764_028_800.0},
            {"fill_id": "2", "trader": "t1", "ticker": "BTC-USD", "side": "SELL", "qty": "2",
             "price": "60", "fee": "0.4", "liquidity": "TAKER", "at": 1_764_032_400.0}])
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[store]\npath = "{db}"\n')
    r = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg), "export",
                        "trades", "--format", "csv", "-o", "-"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    (row,) = list(csv.DictReader(io.StringIO(r.stdout)))
    assert (row["trader"], row["qty"], row["pnl"], row["fees"]) == ("t1", "2", "19.4", "0.6")
    assert row["entry_at"].startswith("2025-11-25T00:00:00") and row["duration_s"] == "3600.0"
    assert (row["entry_liquidity"], row["exit_liquidity"]) == ("MAKER", "TAKER")
