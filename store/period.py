"""A period of a trader's record in plain rows: what reports and summaries read."""

from __future__ import annotations

from dataclasses import dataclass

from store.db import Store
from store.rows import to_rows


@dataclass(frozen=True)
class PeriodFill:
    qty: str
    price: str
    fee: str
    liquidity: str | None


@dataclass(frozen=True)
class DecisionTotals:
    decisions: int
    passed: int
    avg_score: float | None


def equity_in(store: Store, trader: str, start: float,
              end: float) -> list[tuple[float, float, float | None, float | None]]:
    """(at, equity, HODL benchmark, equal weight) in [start, end), oldest first."""
    return [(r[0], r[1], r[2], r[3]) for r in store.query(
        "SELECT at, equity_f, benchmark_f, ew_f FROM equity WHERE trader = ? "
        "AND at >= ? AND at < ? ORDER BY at", (trader, start, end))]


def last_equity_at(store: Store, trader: str, until: float | None = None) -> float | None:
    """The time of the trader's newest equity point (at or before `until` when given)."""
    if until is None:
        row = store.one("SELECT MAX(at) FROM equity WHERE trader = ?", (trader,))
    else:
        row = store.one("SELECT MAX(at) FROM equity WHERE trader = ? AND at <= ?",
                        (trader, until))
    return None if row is None or row[0] is None else float(row[0])


def equity_window(store: Store, trader: str, since: float,
                  until: float) -> list[tuple[float, float]]:
    """(at, equity) in [since, until], both ends included, oldest first (a range scan of
    the primary key; plain tuples, as the monitor reads long windows every cycle)."""
    cur = store.conn.cursor()
    cur.row_factory = None
    rows: list[tuple[float, float]] = cur.execute(
        "SELECT at, equity_f FROM equity WHERE trader = ? AND at >= ? AND at <= ? ORDER BY at",
        (trader, since, until)).fetchall()
    return rows


def fills_in(store: Store, trader: str, start: float, end: float) -> list[PeriodFill]:
    return to_rows(PeriodFill, store.query(
        "SELECT qty, price, fee, liquidity FROM fills WHERE trader = ? AND at >= ? AND at < ?",
        (trader, start, end)))


def fill_count(store: Store, trader: str, start: float, end: float) -> int:
    row = store.one("SELECT COUNT(*) FROM fills WHERE trader = ? AND at >= ? AND at < ?",
                    (trader, start, end))
    return int(row[0]) if row else 0


def fill_volume(store: Store, trader: str, start: float, end: float) -> float:
    """Traded notional (qty × price) in [start, end)."""
    row = store.one("SELECT COALESCE(SUM(CAST(qty AS REAL) * CAST(price AS REAL)), 0) FROM fills "
                    "WHERE trader = ? AND at >= ? AND at < ?", (trader, start, end))
    return float(row[0]) if row else 0.0


def decision_totals(store: Store, trader: str, start: float, end: float,
                    trades_only: bool = True) -> DecisionTotals:
    """Decisions in [start, end) and how many passed; `trades_only` leaves out HOLDs."""
    hold = " AND side != 'HOLD'" if trades_only else ""
    row = store.one("SELECT COUNT(*), SUM(passed), AVG(score) FROM decisions WHERE trader = ? "
                    f"AND at >= ? AND at < ?{hold}", (trader, start, end))
    if row is None:
        return DecisionTotals(0, 0, None)
    return DecisionTotals(int(row[0] or 0), int(row[1] or 0),
                          None if row[2] is None else float(row[2]))


def daily_pass_rate(store: Store, trader: str, start: float,
                    end: float) -> list[tuple[str, float]]:
    """(UTC date, share of decisions to trade that passed) per day in [start, end)."""
    return [(r[0], float(r[1])) for r in store.query(
        "SELECT date(at, 'unixepoch') AS day, AVG(passed) FROM decisions WHERE trader = ? AND "
        "at >= ? AND at < ? AND side != 'HOLD' GROUP BY day ORDER BY day", (trader, start, end))]


def alert_counts(store: Store, start: float, end: float,
                 trader: str | None = None) -> list[tuple[str, int]]:
    """(level, count) of alerts in [start, end), of one trader or all."""
    who = "" if trader is None else " AND trader = ?"
    args = (start, end) if trader is None else (start, end, trader)
    return [(r[0], int(r[1])) for r in store.query(
        f"SELECT level, COUNT(*) FROM alerts WHERE at >= ? AND at < ?{who} "
        "GROUP BY level ORDER BY level", args)]


def attempts_ended(store: Store, start: float, end: float) -> list[tuple[str, int]]:
    """(state, count) of trial attempts that ended in [start, end)."""
    return [(r[0], int(r[1])) for r in store.query(
        "SELECT state, COUNT(*) FROM attempts WHERE ended_at >= ? AND ended_at < ? "
        "GROUP BY state ORDER BY state", (start, end))]


# -- per-day buckets (the console keeps settled days and re-reads only today) --------------
@dataclass(frozen=True)
class DecisionBucket:
    """One UTC day of a trader's decisions to trade: counts, score sum, first decision time."""
    day: int
    decisions: int
    passed: int
    score_sum: float
    first_at: float


def decision_buckets(store: Store, trader: str, since: float,
                     until: float) -> list[DecisionBucket]:
    """Per-day decision counts in [since, until) (decisions_trader_at index)."""
    rows = store.query(
        "SELECT CAST(at / 86400 AS INTEGER) AS day, count(*) AS n, sum(passed) AS p, "
        "total(score) AS s, min(at) AS t0 FROM decisions WHERE trader = ? AND at >= ? "
        "AND at < ? AND side != 'HOLD' GROUP BY day ORDER BY day", (trader, since, until))
    return [DecisionBucket(int(r["day"]), int(r["n"]), int(r["p"] or 0), float(r["s"]),
                           float(r["t0"])) for r in rows]


@dataclass(frozen=True)
class FillBucket:
    """One UTC day of a trader's fills: counts and fees (Decimal text)."""
    day: int                     # unix seconds // 86400
    fills: int
    maker_fills: int
    fees: str


def fill_buckets(store: Store, trader: str, since: float, until: float) -> list[FillBucket]:
    """Per-day fill counts and fees in [since, until) (fills_trader_at index).

    Past days never change, so a caller can keep them and re-read only the current day.
    """
    from decimal import Decimal, InvalidOperation

    rows = store.query(
        "SELECT CAST(at / 86400 AS INTEGER) AS day, count(*) AS n, "
        "sum(liquidity = 'MAKER') AS maker, group_concat(fee, ' ') AS fees FROM fills "
        "WHERE trader = ? AND at >= ? AND at < ? GROUP BY day ORDER BY day",
        (trader, since, until))
    out = []
    for r in rows:
        total = Decimal(0)
        for f in (r["fees"] or "").split():
            try:
                total += Decimal(f)
            except InvalidOperation:
                continue
        out.append(FillBucket(day=int(r["day"]), fills=int(r["n"]),
                              maker_fills=int(r["maker"] or 0), fees=str(total)))
    return out
