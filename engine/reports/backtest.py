"""`cappuccino backtest`: the trader's own decision path over history, per ticker.

The path is the conviction replay's filtered portfolio (engine.reports.walk): features and
observation as the trader computes them, then the trader's own decision function
(engine.trading.decide.decide_bar: the model's action mapping, the five conviction factors
through a ConvictionFilter, and with a [risk] section (the CLI passes the config's) the
trader's RiskEngine), and the env step's execution delay, fees and half spread per side.
The risk engine's update() runs each bar (daily loss halt, loss-streak pause from
record_trade on each sell's realized PnL) and check() sees every order that passed the
filter (max position, cash left by the bar's earlier buys, max order notional; no product
increments: the history has none); a refused order is dropped and a clamped one scaled
down (decide_bar's keep mask). Not replayed: maker-first execution; orders fill at the
bar's close (the next bar's with the model's delay).

Per ticker, from the executed holdings changes of each step:
  fees     = sum of |shares traded| x fill price x fee;
  pnl      = sells x (1 - fee) - buys x (1 + fee) + the shares held at the end x the last
             close (net of fees, marked to market);
  trades   = executed orders (buys and sells);
  win rate = winning round trips over all round trips: the fills paired first-in first-out
             into round trips by engine.reports.trades.round_trips (the Trades pane's and
             `export trades`' pairing), each winning when its PnL net of both fills' fees
             is above zero; a position still open at the end is no round trip.
The per-ticker PnL sums to final equity - initial cash. Benchmarks over the same bars:
HODL (equal split at the first bar, held) and equal weight (rebalanced every bar), both
without fees (engine.env.backtest's definitions).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from engine.config.schema import ConvictionSection, RiskSection
from engine.data.candles import Candles
from engine.metrics import maker_ratio, max_drawdown, returns, sharpe, sharpe_se
from engine.reports.fills import MakerFirst
from engine.reports.replay import _section
from engine.reports.trades import round_trips
from engine.reports.walk import iso as _iso
from engine.reports.walk import prepare, walk
from engine.trading.policy import Policy
from engine.trading.risk import RiskEngine


@dataclass(frozen=True)
class Fill:
    bar: int          # index into the result's times (the bar the fill is marked at)
    side: str         # BUY or SELL
    shares: float
    price: float
    fee: float = 0.0
    maker: bool = False   # filled as maker (--fills maker only)


@dataclass(frozen=True)
class _Paired:
    """A backtest fill as engine.reports.trades.round_trips reads one (its FillLike)."""
    trader: str
    ticker: str
    side: str
    qty: str
    price: str
    fee: str
    liquidity: str
    at: float


def round_trip_wins(ticker: str, fills: tuple[Fill, ...]) -> tuple[int, int]:
    """(round trips, winning ones) of one ticker's fills, paired FIFO as the Trades pane
    pairs a trader's fills."""
    m = round_trips(_Paired("backtest", ticker, f.side, repr(f.shares), repr(f.price),
                            repr(f.fee), "MAKER" if f.maker else "TAKER", float(f.bar))
                    for f in fills)
    return len(m.trips), sum(1 for t in m.trips if t.pnl > 0)


@dataclass(frozen=True)
class TickerResult:
    ticker: str
    trades: int
    buys: int
    sells: int
    round_trips: int  # fills paired first-in first-out (engine.reports.trades)
    wins: int         # round trips with a PnL net of fees above zero
    pnl: float
    fees: float
    fills: tuple[Fill, ...]

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.round_trips if self.round_trips else None


@dataclass(frozen=True)
class BacktestResult:
    model: str
    tickers: tuple[str, ...]
    timeframe: str
    bar_seconds: int
    initial_cash: float
    fee_rate: float
    min_score: float
    times: np.ndarray         # (n+1,) the first acting bar .. the last bar
    closes: np.ndarray        # (n+1, A)
    equity: np.ndarray        # (n+1,)
    hodl: np.ndarray
    equal_weight: np.ndarray
    per_ticker: tuple[TickerResult, ...]
    execution: MakerFirst | None = None   # None: every order filled at the close

    @property
    def fills_note(self) -> str:
        """How the orders were filled (every report says it: it is a model)."""
        if self.execution is None:
            return (f"fills: every order at the bar's close, fee + half spread "
                    f"{self.fee_rate * 100:.3f}%/side (no book: not the trader's maker-first "
                    "execution; --fills maker models it)")
        x = self.execution
        return (f"fills: {x.name}: a limit at the bar's close -/+ half the spread "
                f"({x.half_spread * 1e4:.1f} bps), filled on the next bar when its range "
                f"crosses the limit (maker {x.maker_fee * 100:.3f}%)"
                + (f", else at its close as taker ({x.taker_fee * 100:.3f}%)"
                   if x.taker_at_deadline else ", else not filled"))

    @property
    def days(self) -> float:
        return (float(self.times[-1]) - float(self.times[0])) / 86400.0

    def stats(self, curve: np.ndarray) -> dict[str, float]:
        r = returns(curve)
        return {"final": float(curve[-1]), "return": float(curve[-1] / curve[0] - 1.0),
                "sharpe": sharpe(r, self.bar_seconds),
                "sharpe_se": sharpe_se(r, self.bar_seconds),
                "max_drawdown": max_drawdown(curve)}


def backtest(policy: Policy, candles: Candles, conviction: ConvictionSection,
             max_position_pct: float, lo: int = 0, hi: int | None = None, model: str = "",
             cost: float | None = None, risk: RiskSection | None = None,
             execution: MakerFirst | None = None) -> BacktestResult:
    """The trader's path over bars [lo, hi) (raised to the first bar with full history);
    risk: the trader's risk engine too (see the module docstring); execution: fills at the
    close (None) or maker first (engine.reports.fills)."""
    b = prepare(policy, candles, conviction, max_position_pct, lo, hi, cost)
    section = _section(conviction)
    close, tickers = candles.close, candles.tickers
    n = candles.n_assets
    fee = b.prm.fee
    hold = np.zeros(n)
    equity = [b.initial]
    flow, fees, cost_basis = np.zeros(n), np.zeros(n), np.zeros(n)
    sells, buys = np.zeros(n, int), np.zeros(n, int)
    fills: list[list[Fill]] = [[] for _ in range(n)]
    period = float(candles.bar_seconds)
    taker = fee if execution is None else execution.taker_fee   # the risk's cash check
    engine = None if risk is None else RiskEngine(risk, period, fee_rate=Decimal(str(taker)))
    for s in walk(b, section, engine, execution):
        t, hold = s.t, s.holdings0
        at = s.filled_at - b.first
        cost_before = cost_basis.copy()
        for f in s.fills:
            j, val = f.column, f.shares * f.price
            fees[j] += f.fee
            if f.side == "BUY":
                buys[j] += 1
                flow[j] -= val + f.fee
                cost_basis[j] += val + f.fee
            else:
                sells[j] += 1
                avg = cost_before[j] / hold[j] if hold[j] > 0 else 0.0
                proceeds = val - f.fee
                if engine is not None:
                    engine.record_trade(proceeds - avg * f.shares,
                                        float(candles.times[t]) + period)
                cost_basis[j] -= avg * f.shares
                flow[j] += proceeds
            fills[j].append(Fill(at, f.side, f.shares, f.price, f.fee, f.maker))
        hold = np.asarray(s.result.holdings, dtype=float)
        equity.append(float(s.result.value1))
    last = close[b.hi - 1]
    per = tuple(TickerResult(tickers[j], int(buys[j] + sells[j]), int(buys[j]), int(sells[j]),
                             *round_trip_wins(tickers[j], tuple(fills[j])),
                             float(flow[j] + hold[j] * last[j]), float(fees[j]),
                             tuple(fills[j])) for j in range(n))
    c = close[b.first:b.hi]
    hodl = (b.initial / n / c[0] * c).sum(axis=1)
    ew = b.initial * np.concatenate([[1.0], np.cumprod((c[1:] / c[:-1]).mean(axis=1))])
    return BacktestResult(
        model=model or policy.describe(), tickers=tickers, timeframe=candles.timeframe,
        bar_seconds=candles.bar_seconds, initial_cash=b.initial, fee_rate=fee,
        min_score=section.min_score, times=candles.times[b.first:b.hi].astype(float),
        closes=c, equity=np.asarray(equity), hodl=hodl, equal_weight=ew, per_ticker=per,
        execution=execution)


def overlap_warning(spec: Any, candles: Candles, start: float, end: float) -> str | None:
    """One line when [start, end] overlaps the data the model was trained on: its spec's
    data fingerprint is this data's (any window of it may be training bars), or its extra
    records a train range (train_start/train_end, UTC seconds) that overlaps."""
    extra = getattr(spec, "extra", {}) or {}
    a, z = extra.get("train_start"), extra.get("train_end")
    if a is not None and z is not None and float(a) <= end and start <= float(z):
        return (f"warning: the period overlaps the model's training data ({_iso(float(a))} .. "
                f"{_iso(float(z))}); the result is in-sample")
    if spec.data_fingerprint and spec.data_fingerprint == candles.fingerprint():
        return ("warning: this is the data the model was trained on (same fingerprint); "
                "the period may be in-sample")
    return None


def to_dict(r: BacktestResult) -> dict[str, Any]:
    def nan_none(x: float) -> float | None:
        return None if not np.isfinite(x) else x

    def stats(curve: np.ndarray) -> dict[str, Any]:
        return {k: nan_none(v) for k, v in r.stats(curve).items()}

    return {
        "model": r.model, "tickers": list(r.tickers), "timeframe": r.timeframe,
        "start": _iso(r.times[0]), "end": _iso(r.times[-1]), "bars": int(r.times.size - 1),
        "days": r.days, "initial_cash": r.initial_cash, "fee_rate": r.fee_rate,
        "min_score": r.min_score, "fills": "close" if r.execution is None else "maker",
        "fills_note": r.fills_note,
        "equity": stats(r.equity), "hodl": stats(r.hodl), "equal_weight": stats(r.equal_weight),
        "trades": sum(t.trades for t in r.per_ticker),
        "trades_per_day": sum(t.trades for t in r.per_ticker) / r.days if r.days > 0 else 0.0,
        "fees": sum(t.fees for t in r.per_ticker),
        "maker_ratio": maker_ratio(sum(f.maker for t in r.per_ticker for f in t.fills),
                                   sum(len(t.fills) for t in r.per_ticker)),
        "per_ticker": [{"ticker": t.ticker, "trades": t.trades, "buys": t.buys,
                        "sells": t.sells, "round_trips": t.round_trips,
                        "win_rate": t.win_rate, "pnl": t.pnl,
                        "fees": t.fees} for t in r.per_ticker],
    }


def render_text(r: BacktestResult) -> str:
    d = to_dict(r)
    out = [f"backtest {r.model}: {d['start']} .. {d['end']} UTC, {d['bars']} bars "
           f"({r.days:.1f} days), min_score {r.min_score:g}", r.fills_note, "",
           f"{'ticker':<12}{'trades':>8}{'round trips':>13}{'win rate':>10}{'PnL':>14}"
           f"{'fees':>12}"]
    for t in d["per_ticker"]:
        wr = "-" if t["win_rate"] is None else f"{t['win_rate'] * 100:.0f}%"
        out.append(f"{t['ticker']:<12}{t['trades']:>8}{t['round_trips']:>13}{wr:>10}"
                   f"{t['pnl']:>14.2f}{t['fees']:>12.2f}")
    out += ["", f"{'':<14}{'final':>12}{'return':>10}{'Sharpe':>16}{'max DD':>9}"]
    for name, key in (("strategy", "equity"), ("HODL", "hodl"),
                      ("equal weight", "equal_weight")):
        s = d[key]
        se = "" if s["sharpe_se"] is None else f" ± {s['sharpe_se']:.2f}"
        out.append(f"{name:<14}{s['final']:>12.2f}{s['return'] * 100:>9.2f}%"
                   f"{s['sharpe']:>8.2f}{se:<8}{s['max_drawdown'] * 100:>8.2f}%")
    maker = "" if d["maker_ratio"] is None or r.execution is None else (
        f", maker ratio {d['maker_ratio'] * 100:.0f}%")
    out.append(f"\ntrades {d['trades']} ({d['trades_per_day']:.1f}/day), fees "
               f"{d['fees']:.2f}{maker}")
    return "\n".join(out) + "\n"


def write_html(r: BacktestResult, path: Any) -> Any:
    """One self-contained file: the equity chart and a price chart per ticker with the
    entry (BUY) and exit (SELL) markers; plotly.js inlined once."""
    import html
    from pathlib import Path

    import pandas as pd
    import plotly.graph_objects as go

    from engine.files import write_atomic

    when = pd.to_datetime(r.times, unit="s", utc=True)
    figs = []
    eq = go.Figure(layout={"title": f"Equity vs HODL and equal weight — {r.model}"})
    eq.add_scatter(x=when, y=r.equity, name="strategy")
    eq.add_scatter(x=when, y=r.hodl, name="HODL")
    eq.add_scatter(x=when, y=r.equal_weight, name="equal weight")
    figs.append(eq)
    for j, t in enumerate(r.per_ticker):
        f = go.Figure(layout={"title": f"{t.ticker}: price, entries and exits"})
        f.add_scatter(x=when, y=r.closes[:, j], name="close")
        for side, sym, color in (("BUY", "triangle-up", "green"),
                                 ("SELL", "triangle-down", "red")):
            fl = [x for x in t.fills if x.side == side]
            if fl:
                f.add_scatter(x=when[[x.bar for x in fl]], y=[x.price for x in fl],
                              mode="markers", name=side.lower(),
                              marker={"symbol": sym, "color": color, "size": 9})
        figs.append(f)
    parts = ["<!doctype html><html><head><meta charset='utf-8'>",
             f"<title>Cappuccino backtest {html.escape(r.model)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}</style></head><body>",
             f"<h1>Backtest {html.escape(r.model)}</h1>",
             f"<pre>{html.escape(render_text(r))}</pre>"]
    for i, fig in enumerate(figs):
        parts.append(fig.to_html(full_html=False, include_plotlyjs=i == 0))
    parts.append("</body></html>")
    out = Path(path)
    write_atomic(out, "\n".join(parts).encode())
    return out


def terminal_chart(r: BacktestResult, width: int = 100, height: int = 20) -> str:
    """Equity against HODL and equal weight as a plotext chart (text; the CLI prints it
    when stdout is a terminal)."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    x = list(range(r.equity.size))
    plt.plot(x, r.equity.tolist(), label="strategy")
    plt.plot(x, r.hodl.tolist(), label="HODL")
    plt.plot(x, r.equal_weight.tolist(), label="equal weight")
    plt.title("equity (bars since the start)")
    out = str(plt.build())
    plt.clear_figure()
    return out + "\n"
