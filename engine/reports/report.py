"""Per-trader period reports: the numbers of the seed's daily/weekly/monthly routines."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import cast

import numpy as np

from engine.metrics import (
    DAY_S,
    MAKER_TARGET,
    bar_seconds_of,
    daily_pnl,
    fee_total,
    maker_ratio,
    max_drawdown,
    returns,
    sharpe,
    sharpe_se,
    sortino,
    trades_per_day,
)
from engine.names import unknown
from engine.reports.fees import TierProgress, tier_progress
from store import period
from store.db import Store
from store.trading import get_trader, list_traders

PERIODS = {"day": 86_400.0, "week": 7 * 86_400.0, "month": 30 * 86_400.0}
DAY = 86_400.0
# A trader whose own clock is this far behind the wall clock replays the past (the demo):
# its records are on its clock, the monitor's alerts on the wall clock.
REPLAY_LAG_S = DAY


class ReportError(Exception):
    """A report request that cannot be answered, phrased for the operator."""


@dataclass(frozen=True)
class Series:
    at: np.ndarray
    equity: np.ndarray
    hodl: np.ndarray        # NaN where the trader did not record it
    equal_weight: np.ndarray


@dataclass(frozen=True)
class TraderReport:
    trader: str
    mode: str
    broker: str
    start: float
    end: float
    total_return: float
    sharpe: float
    sharpe_se: float        # standard error (Lo 2002); NaN under 2 returns
    sortino: float
    max_drawdown: float
    trades: int
    trades_per_day: float   # over running_days, the time the trader ran in the period
    running_days: float
    maker_ratio: float | None
    fees_paid: float
    volume: float
    fee_tier: str
    tier: TierProgress
    decisions: int
    pass_rate: float | None
    avg_score: float | None
    alerts: dict[str, int]
    # (clock, level, count): "trader" for alerts on the trader's own clock, "wall" for
    # the monitor's (wall clock) when the trader replays the past; both count in `alerts`.
    alert_clocks: tuple[tuple[str, str, int], ...]
    backtest_sharpe: float | None
    series: Series
    daily_pass_rate: list[tuple[str, float]]
    daily_pnl: list[tuple[float, float]]  # (UTC day start, PnL)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _traders(store: Store, name: str | None) -> list[dict[str, object]]:
    if name is not None:
        row = get_trader(store, name)
        if row is None:
            raise unknown("trader", name, [t.name for t in list_traders(store)])
        return [asdict(row)]
    rows = [asdict(t) for t in list_traders(store)]
    if not rows:
        raise ReportError("no traders in the store yet")
    return rows


def _series(store: Store, trader: str, start: float, end: float) -> Series:
    rows = period.equity_in(store, trader, start, end)
    arr = np.array([[r[0], r[1], np.nan if r[2] is None else r[2],
                     np.nan if r[3] is None else r[3]] for r in rows], dtype=float)
    arr = arr.reshape(-1, 4)
    return Series(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])


def running_days(at: np.ndarray, bar_s: float, start: float, end: float) -> float:
    """Days the trader ran within [start, end): from its first equity point in the period
    to its last plus one bar (a trader started mid-week did not trade the whole week)."""
    if at.size == 0:
        return (end - start) / DAY
    return max(0.0, min(end, float(at[-1]) + bar_s) - max(start, float(at[0]))) / DAY


def _alerts(store: Store, name: str, start: float, end: float,
            wall: float) -> tuple[tuple[str, str, int], ...]:
    """Alert counts by clock: the trader's clock over [start, end); for a replaying trader,
    also the wall clock over the same length of period up to now (the monitor's)."""
    def count(a: float, b: float) -> list[tuple[str, int]]:
        return period.alert_counts(store, a, b, trader=name)

    replay = end < wall - REPLAY_LAG_S
    out = [("trader" if replay else "wall", lv, n) for lv, n in count(start, end)]
    if replay:
        out += [("wall", lv, n) for lv, n in count(wall - (end - start), wall + 1.0)]
    return tuple(out)


def build_report(store: Store, trader: dict[str, object], start: float, end: float,
                 wall: float | None = None) -> TraderReport:
    name = str(trader["name"])
    series = _series(store, name, start, end)
    fills = period.fills_in(store, name, start, end)
    if series.at.size == 0 and not fills:
        raise ReportError(f"trader {name}: no trades between {iso(start)} and {iso(end)}")
    bar_s = bar_seconds_of(series.at)
    r = returns(series.equity)
    days = running_days(series.at, bar_s, start, end)
    makers = sum(1 for f in fills if f.liquidity == "MAKER")
    vol30 = period.fill_volume(store, name, end - 30 * 86_400, end)
    dec = period.decision_totals(store, name, start, end)
    clocks = _alerts(store, name, start, end,
                     datetime.now(UTC).timestamp() if wall is None else wall)
    alerts: dict[str, int] = {}
    for _, level, n in clocks:
        alerts[level] = alerts.get(level, 0) + n
    tier_json = trader.get("fee_tier")
    tier_name = json.loads(str(tier_json)).get("pricing_tier", "?") if tier_json else "unknown"
    bt = cast(float | None, trader.get("backtest_sharpe"))  # traders.backtest_sharpe: REAL or NULL
    return TraderReport(
        trader=name, mode=str(trader["mode"]), broker=str(trader["broker"]), start=start, end=end,
        total_return=float(series.equity[-1] / series.equity[0] - 1) if series.equity.size else 0.0,
        sharpe=sharpe(r, bar_s), sharpe_se=sharpe_se(r, bar_s), sortino=sortino(r, bar_s),
        max_drawdown=max_drawdown(series.equity),
        trades=len(fills), trades_per_day=trades_per_day(len(fills), days * DAY_S),
        running_days=days,
        maker_ratio=maker_ratio(makers, len(fills)),
        fees_paid=float(fee_total(f.fee for f in fills)),
        volume=sum(float(f.qty) * float(f.price) for f in fills),
        fee_tier=tier_name, tier=tier_progress(float(vol30)),
        decisions=dec.decisions,
        pass_rate=(dec.passed / dec.decisions) if dec.decisions else None,
        avg_score=dec.avg_score, alerts=alerts,
        alert_clocks=clocks, daily_pnl=daily_pnl(series.at, series.equity),
        backtest_sharpe=float(bt) if bt is not None else None, series=series,
        daily_pass_rate=period.daily_pass_rate(store, name, start, end))


def build_reports(store: Store, period: str, trader: str | None = None,
                  end: float | None = None) -> list[TraderReport]:
    if period not in PERIODS:
        raise ReportError(f"--period {period!r}: expected one of {', '.join(PERIODS)}")
    out = []
    errors = []
    for t in _traders(store, trader):
        # Without --end, a period ends at the trader's own clock: now for a live trader,
        # the replay time for a simulated one (its records are on the replay clock).
        t_end = end if end is not None else _trader_now(store, str(t["name"]))
        start = t_end - PERIODS[period]
        try:
            out.append(build_report(store, t, start, t_end))
        except ReportError as e:
            errors.append(str(e))
    if not out:
        raise ReportError(errors[0] if len(errors) == 1 else
                          "; ".join(errors))
    return out


def _trader_now(store: Store, trader: str) -> float:
    wall = datetime.now(UTC).timestamp()
    last = period.last_equity_at(store, trader)
    # A replayed trader lives in the past; a live one is at most a bar behind the wall clock.
    return wall if last is None or last > wall - 86_400 else float(last) + 1.0


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.1f}%"


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "—" if x is None else format(x, fmt)


def _sharpe(value: float, se: float) -> str:
    if se != se:  # NaN: too few returns for an error bar
        return f"{value:.2f} (too few returns for a standard error)"
    return f"{value:.2f} ± {se:.2f} (1 s.e.)"


def _running(days: float) -> str:
    return f"{days * 24:.1f} h" if days < 2 else f"{days:.1f} days"


def _alert_text(rep: TraderReport) -> str:
    if not rep.alert_clocks:
        return "none"
    names = {"trader": "on the trader's clock", "wall": "on the wall clock"}
    by_clock: dict[str, list[str]] = {}
    for clock, level, n in rep.alert_clocks:
        by_clock.setdefault(clock, []).append(f"{level} {n}")
    return "; ".join(f"{', '.join(v)} ({names[k]})" for k, v in by_clock.items())


def rows_of(rep: TraderReport) -> list[tuple[str, str]]:
    """(label, value) rows; the terminal table, the console screen and the HTML share them."""
    nxt = rep.tier.next
    tier = (f"{rep.fee_tier}; 30d volume ${rep.tier.volume_30d:,.0f}, "
            + (f"${rep.tier.remaining:,.0f} to the {nxt.maker * 100:.2f}% maker tier"
               if nxt else "top tier"))
    return [
        ("period", f"{iso(rep.start)} → {iso(rep.end)}"),
        ("trader", f"{rep.trader} ({rep.mode}, {rep.broker})"),
        ("return", _pct(rep.total_return)),
        ("Sharpe (live)", _sharpe(rep.sharpe, rep.sharpe_se)),
        ("Sharpe (backtest)", "—" if rep.backtest_sharpe is None else
         f"{rep.backtest_sharpe:.2f} (its standard error is not recorded)"),
        ("Sortino", _num(rep.sortino)),
        ("max drawdown", _pct(rep.max_drawdown)),
        ("trades", f"{rep.trades} ({rep.trades_per_day:.2f}/day over "
                   f"{_running(rep.running_days)} running)"),
        ("maker ratio", f"{_pct(rep.maker_ratio)} (target {MAKER_TARGET:.0%})"),
        ("fees paid", f"${rep.fees_paid:,.2f}"),
        ("fee tier", tier),
        ("conviction", f"pass rate {_pct(rep.pass_rate)}, avg score {_num(rep.avg_score)}, "
                       f"{rep.decisions} decisions"),
        ("alerts", _alert_text(rep)),
    ]


def render_text(reports: list[TraderReport]) -> str:
    blocks = []
    for rep in reports:
        rows = rows_of(rep)
        width = max(len(k) for k, _ in rows)
        blocks.append("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    return "\n\n".join(blocks) + "\n"
