"""Export store tables as CSV or Parquet, in the shape pandas and spreadsheets expect.

Times become ISO-8601 UTC timestamps. Decimal text stays exact in CSV (it parses as a
number), except quantities, which go down to the product increment the trader recorded at its
start (8 decimals where none is recorded; on-increment fills are unchanged); Parquet gets
float64 columns for the same fields, since Parquet readers expect typed numbers.
"""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engine.files import write_atomic
from engine.money import increment_of, quantity
from engine.names import unknown
from store.db import Store
from store.export import table_rows
from store.increments import base_increments
from store.trading import get_trader, list_traders

if TYPE_CHECKING:
    import pandas as pd


class ExportError(Exception):
    """An export problem phrased for the operator."""


@dataclass(frozen=True)
class Table:
    sql_table: str
    time_column: str
    trader_column: str | None
    decimal_columns: tuple[str, ...]
    time_columns: tuple[str, ...]
    order: str


TABLES: dict[str, Table] = {
    "fills": Table("fills", "at", "trader", ("qty", "price", "fee", "realized_pnl"), ("at",),
                   "at, fill_id"),
    "orders": Table("orders", "created_at", "trader",
                    ("qty", "limit_price", "filled_qty", "avg_price", "fees"),
                    ("bar_at", "created_at", "updated_at"), "created_at, client_order_id"),
    "equity": Table("equity", "at", "trader", ("equity", "cash"), ("at",), "trader, at"),
    "decisions": Table("decisions", "at", "trader", (), ("bar_at", "at"), "id"),
    "alerts": Table("alerts", "at", "trader", (), ("at",), "id"),
    "attempts": Table("attempts", "started_at", None, (),
                      ("started_at", "heartbeat_at", "ended_at"), "id"),
    # Round trips paired from fills (engine.reports.trades); --since keeps those that exited
    # since then (every fill is read for the pairing).
    "trades": Table("fills", "exit_at", "trader",
                    ("qty", "entry_price", "exit_price", "fees", "pnl"),
                    ("entry_at", "exit_at"), "exit_at"),
}
QTY_COLUMNS = ("qty", "filled_qty")
TRADE_COLUMNS = ("trader", "ticker", "entry_at", "exit_at", "duration_s", "qty", "entry_price",
                 "exit_price", "fees", "pnl", "entry_liquidity", "exit_liquidity")


def parse_since(text: str) -> float:
    """YYYY-MM-DD or a full ISO timestamp (UTC when no zone is given)."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ExportError(f"--since {text!r}: expected a date like 2026-11-01 or "
                          "2026-11-01T12:00") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def load_frame(store: Store, what: str, since: float | None = None,
               trader: str | None = None) -> pd.DataFrame:
    import pandas as pd

    if what not in TABLES:
        raise ExportError(f"unknown table {what!r}; expected one of {', '.join(TABLES)}")
    t = TABLES[what]
    if trader is not None:
        if t.trader_column is None:
            raise ExportError(f"{what} has no trader column; drop --trader")
        if get_trader(store, trader) is None:
            raise unknown("trader", trader, [t.name for t in list_traders(store)])
    if what == "trades":
        frame = _trades(store, trader, since)
    else:
        columns, rows = table_rows(store, t.sql_table, t.order, trader_column=t.trader_column,
                                   trader=trader, time_column=t.time_column, since=since)
        frame = pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)
    if frame.empty:
        span = f" since {_iso(since)}" if since is not None else ""
        who = f" for trader {trader}" if trader else ""
        raise ExportError(f"no {what}{who}{span}")
    for col in t.time_columns:
        if col in frame:
            frame[col] = pd.to_datetime(frame[col], unit="s", utc=True)
    _on_increments(frame, base_increments(store, trader))
    return frame


def _on_increments(frame: pd.DataFrame, incs: dict[tuple[str, str], str]) -> None:
    """Quantity columns down to each row's (trader, ticker) increment, in place."""
    if not {"trader", "ticker"} <= set(frame.columns):
        return
    for col in QTY_COLUMNS:
        if col in frame:
            frame[col] = [
                v if v is None or v != v  # NULL (NaN in pandas) stays empty
                else quantity(v, increment_of(incs, tr, tk))
                for v, tr, tk in zip(frame[col], frame["trader"], frame["ticker"], strict=True)]


def _trades(store: Store, trader: str | None, since: float | None) -> pd.DataFrame:
    """Round trips of every fill (of one trader), those that exited since `since`."""
    import pandas as pd

    from engine.reports.trades import round_trips
    from store.views import fills_oldest_first

    trips = [t for t in round_trips(fills_oldest_first(store, trader)).trips
             if since is None or t.exit_at >= since]
    return pd.DataFrame(
        [(t.trader, t.ticker, t.entry_at, t.exit_at, t.duration_s, str(t.qty),
          str(t.entry_price), str(t.exit_price), str(t.fees), str(t.pnl), t.entry_liquidity,
          t.exit_liquidity) for t in trips], columns=list(TRADE_COLUMNS))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _no_formulas(frame: pd.DataFrame, decimals: tuple[str, ...]) -> pd.DataFrame:
    """Text cells a spreadsheet would run as a formula (`=HYPERLINK(...)` in an alert that
    quotes an exchange, another host's error) get a leading quote; numbers stay as they are."""
    from pandas.api.types import is_string_dtype

    out = frame.copy()
    for col in out.columns:
        if col in decimals or not (out[col].dtype == object or is_string_dtype(out[col].dtype)):
            continue
        out[col] = [("'" + v) if isinstance(v, str) and v.startswith(FORMULA_START)
                    and not _number(v) else v for v in out[col]]
    return out


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_frame(frame: pd.DataFrame, what: str, fmt: str, output: str) -> None:
    if fmt not in ("csv", "parquet"):
        raise ExportError(f"--format {fmt!r}: expected csv or parquet")
    if fmt == "parquet":
        frame = frame.copy()
        for col in TABLES[what].decimal_columns:
            if col in frame:
                frame[col] = frame[col].astype("float64")
    buf = io.BytesIO()
    if fmt == "csv":
        frame = _no_formulas(frame, TABLES[what].decimal_columns)
        frame.to_csv(buf, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")
    else:
        frame.to_parquet(buf, index=False)
    data = buf.getvalue()
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = Path(output)
    if not path.parent.exists():
        raise ExportError(f"{path}: folder {path.parent} does not exist")
    try:
        write_atomic(path, data)  # a failed export never leaves a half-written file
    except OSError as e:
        raise ExportError(f"{path}: cannot write ({e.strerror})") from None
