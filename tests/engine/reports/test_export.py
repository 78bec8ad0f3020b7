"""`cappuccino export` round-trips through pandas with the same rows."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from store.db import Store


def _seed(store_path: Path) -> None:
    store = Store(store_path)
    with store.write():
        store.conn.execute(
            "INSERT INTO traders (name, broker, mode, model, tickers, timeframe, capital, "
            "started_at, updated_at) VALUES ('t1','sim','paper','m','[\"BTC-USD\"]','5m','1000',0,0)")
        store.conn.executemany(
            "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, fee, "
            "liquidity, at) VALUES (?, 't1', ?, 'BTC-USD', ?, ?, ?, ?, ?, ?)",
            [(f"f{i}", f"c{i}", "BUY" if i % 2 else "SELL", f"0.00{i + 1}", f"4000{i}.25",
              "0.10", "MAKER" if i % 3 else "TAKER", 1_764_000_000 + 300 * i) for i in range(7)])
    store.close()


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                           "export", *args], capture_output=True)


def test_csv_to_stdout_round_trips(config_path: Path) -> None:
    _seed(config_path.parent / "var" / "cappuccino.db")
    out = _cli(config_path, "fills", "--format", "csv", "-o", "-")
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(io.BytesIO(out.stdout))
    assert list(frame["fill_id"]) == [f"f{i}" for i in range(7)]
    assert frame["price"].iloc[3] == pytest.approx(40003.25)
    assert pd.to_datetime(frame["at"]).iloc[0].tz is not None


def test_parquet_file_with_trader_and_since(config_path: Path, tmp_path: Path) -> None:
    _seed(config_path.parent / "var" / "cappuccino.db")
    target = tmp_path / "fills.parquet"
    since = pd.Timestamp(1_764_000_000 + 300 * 4, unit="s", tz="UTC").isoformat()
    out = _cli(config_path, "fills", "--format", "parquet", "--trader", "t1", "--since", since,
               "-o", str(target))
    assert out.returncode == 0, out.stderr
    frame = pd.read_parquet(target)
    assert list(frame["fill_id"]) == ["f4", "f5", "f6"]
    assert frame["qty"].dtype == "float64"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["fills", "--trader", "ghost"], 2, "no trader named 'ghost' (traders: t1"),
    (["fills", "--since", "2099-01-01"], 1, "no fills since 2099-01-01"),
    (["fills", "-o", "/nonexistent-dir/x.csv"], 2, "does not exist"),
    (["attempts", "--trader", "t1"], 2, "no trader column"),
])
def test_bad_requests_get_one_clear_line(config_path: Path, args: list[str], code: int,
                                         message: str) -> None:
    _seed(config_path.parent / "var" / "cappuccino.db")
    out = _cli(config_path, *args)
    assert out.returncode == code
    err = out.stderr.decode().strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_quantities_go_down_to_each_traders_recorded_increment(config_path: Path) -> None:
    """t1 recorded a 0.0001 BTC step at its start; t2 recorded nothing (8 decimals). Prices
    and fees stay exact."""
    from store.increments import ProductIncrement, record_increments

    db = config_path.parent / "var" / "cappuccino.db"
    store = Store(db)
    with store.write():
        for name in ("t1", "t2"):
            store.conn.execute(
                "INSERT INTO traders (name, broker, mode, model, tickers, timeframe, capital, "
                "started_at, updated_at) VALUES (?,'sim','paper','m','[\"BTC-USD\"]','5m',"
                "'1000',0,0)", (name,))
            store.conn.executemany(
                "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, "
                "fee, liquidity, at) VALUES (?, ?, ?, 'BTC-USD', ?, ?, '40000.123456', "
                "'0.1234567', 'MAKER', ?)",
                [(f"{name}-b", name, f"{name}-cb", "BUY", "0.012345678912", 1_764_000_000),
                 (f"{name}-s", name, f"{name}-cs", "SELL", "0.012345678912", 1_764_000_300)])
    record_increments(store, [ProductIncrement("t1", "BTC-USD", "sim", "0.0001", "0.01",
                                               "0.0001", "1", 1_764_000_000)])
    store.close()
    out = _cli(config_path, "fills", "--format", "csv", "-o", "-")
    assert out.returncode == 0, out.stderr
    fills = pd.read_csv(io.BytesIO(out.stdout), dtype=str)
    assert dict(zip(fills["fill_id"], fills["qty"], strict=True)) == {
        "t1-b": "0.0123", "t1-s": "0.0123", "t2-b": "0.01234567", "t2-s": "0.01234567"}
    assert set(fills["price"]) == {"40000.123456"} and set(fills["fee"]) == {"0.1234567"}
    out = _cli(config_path, "trades", "--format", "csv", "-o", "-")
    assert out.returncode == 0, out.stderr
    trips = pd.read_csv(io.BytesIO(out.stdout), dtype=str)
    assert dict(zip(trips["trader"], trips["qty"], strict=True)) == {"t1": "0.0123",
                                                                     "t2": "0.01234567"}
