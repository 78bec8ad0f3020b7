"""Report metrics checked against values computed by hand on a small series."""

from __future__ import annotations

import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from engine.names import UnknownName
from engine.reports.report import ReportError, build_reports
from store.db import Store

T0 = 1_764_028_800.0  # 2025-11-25 00:00 UTC
EQUITY = [100.0, 110.0, 99.0, 121.0]


def _seed(path: Path) -> None:
    store = Store(path)
    with store.write():
        c = store.conn
        c.execute("INSERT INTO traders (name, broker, mode, model, tickers, timeframe, capital, "
                  "backtest_sharpe, fee_tier, started_at, updated_at) VALUES ('t1','sim','paper',"
                  "'m','[\"BTC-USD\"]','5m','100',1.5,'{\"pricing_tier\": \"Intro\"}',?,?)",
                  (T0, T0))
        c.executemany("INSERT INTO equity (trader, at, equity, cash, equity_f, benchmark_f, ew_f) "
                      "VALUES ('t1', ?, ?, '0', ?, ?, ?)",
                      [(T0 + 300 * i, str(e), e, 100.0 + i, 100.0 - i) for i, e in enumerate(EQUITY)])
        c.executemany("INSERT INTO fills (fill_id, trader, ticker, side, qty, price, fee, liquidity, "
                      "at) VALUES (?, 't1', 'BTC-USD', 'BUY', '2', '50', ?, ?, ?)",
                      [("a", "0.25", "MAKER", T0 + 10), ("b", "0.50", "MAKER", T0 + 20),
                       ("c", "1.00", "TAKER", T0 + 30)])
        c.executemany("INSERT INTO decisions (trader, bar_at, ticker, action, side, score, f_size, "
                      "f_momentum, f_agreement, f_volatility, f_context, passed, at) VALUES "
                      "('t1', ?, 'BTC-USD', 0.5, ?, ?, 0, 0, 0, 0, 0, ?, ?)",
                      [(T0, "BUY", 0.8, 1, T0 + 1), (T0, "SELL", 0.4, 0, T0 + 2),
                       (T0, "HOLD", 0.0, 0, T0 + 3), (T0, "BUY", 0.6, 1, T0 + 4)])
        c.execute("INSERT INTO alerts (trader, level, message, at) VALUES ('t1','WARNING','x',?)",
                  (T0 + 5,))
    store.close()


def test_metrics_match_hand_computation(tmp_path: Path) -> None:
    _seed(tmp_path / "s.db")
    store = Store(tmp_path / "s.db")
    (rep,) = build_reports(store, "day", "t1", end=T0 + 86_400)
    r = [EQUITY[i + 1] / EQUITY[i] - 1 for i in range(3)]
    ann = math.sqrt(365 * 24 * 3600 / 300)
    assert rep.total_return == pytest.approx(0.21)
    assert rep.sharpe == pytest.approx(statistics.mean(r) / statistics.stdev(r) * ann)
    downside = math.sqrt(sum(min(x, 0) ** 2 for x in r) / 3)
    assert rep.sortino == pytest.approx(statistics.mean(r) / downside * ann)
    assert rep.max_drawdown == pytest.approx(0.1)  # 110 -> 99
    # Per day over the time it ran: 4 equity points 5 minutes apart = 20 minutes, not the
    # whole day of the period.
    assert rep.running_days == pytest.approx(1200 / 86_400)
    assert rep.trades == 3 and rep.trades_per_day == pytest.approx(3 / (1200 / 86_400))
    # Lo (2002): sqrt((1 + SR^2/2) / n) per bar, annualised like the Sharpe.
    sr_bar = statistics.mean(r) / statistics.stdev(r)
    assert rep.sharpe_se == pytest.approx(math.sqrt((1 + sr_bar ** 2 / 2) / 3) * ann)
    assert rep.daily_pnl == [(T0, pytest.approx(21.0))]  # one day: its bar, not an empty chart
    assert rep.maker_ratio == pytest.approx(2 / 3)
    assert rep.fees_paid == pytest.approx(1.75)
    assert rep.tier.volume_30d == pytest.approx(300.0)
    assert rep.pass_rate == pytest.approx(2 / 3)  # HOLD is not a decision to trade
    assert rep.avg_score == pytest.approx((0.8 + 0.4 + 0.6) / 3)
    assert rep.alerts == {"WARNING": 1}
    assert rep.alert_clocks == (("trader", "WARNING", 1),)  # a replay (2025): its own clock
    assert rep.backtest_sharpe == 1.5 and rep.fee_tier == "Intro"


def test_replay_alerts_count_on_both_clocks_and_say_which(tmp_path: Path) -> None:
    _seed(tmp_path / "s.db")
    store = Store(tmp_path / "s.db")
    wall = T0 + 400 * 86_400  # the monitor writes on the wall clock, long after the replay
    with store.write():
        store.conn.executemany("INSERT INTO alerts (trader, level, message, at) VALUES "
                               "('t1', 'CRITICAL', 'monitor', ?)", [(wall - 60 * i,) for i in
                                                                    range(10)])
    from engine.reports.report import build_report, rows_of

    trader = dict(store.one("SELECT * FROM traders WHERE name = 't1'"))
    rep = build_report(store, trader, T0, T0 + 86_400, wall=wall)
    assert rep.alerts == {"WARNING": 1, "CRITICAL": 10}
    assert rep.alert_clocks == (("trader", "WARNING", 1), ("wall", "CRITICAL", 10))
    rows = dict(rows_of(rep))
    assert rows["alerts"] == ("WARNING 1 (on the trader's clock); "
                              "CRITICAL 10 (on the wall clock)")
    assert "± " in rows["Sharpe (live)"] and "(1 s.e.)" in rows["Sharpe (live)"]
    assert "/day over 0.3 h running" in rows["trades"]


def test_unknown_trader_and_empty_period(tmp_path: Path) -> None:
    _seed(tmp_path / "s.db")
    store = Store(tmp_path / "s.db")
    with pytest.raises(UnknownName, match=r"no trader named 'ghost' \(traders: t1"):
        build_reports(store, "day", "ghost", end=T0 + 86_400)
    with pytest.raises(ReportError, match="no trades between"):
        build_reports(store, "day", "t1", end=T0 + 10 * 86_400)


def test_html_is_self_contained_with_four_charts(config_path: Path, tmp_path: Path) -> None:
    _seed(config_path.parent / "var" / "cappuccino.db")
    out_file = tmp_path / "report.html"
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config_path),
                          "report", "--period", "week", "--end", str(T0 + 86_400),
                          "--html", str(out_file)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "max drawdown" in out.stdout and "10.0%" in out.stdout
    text = out_file.read_text()
    for title in ("Equity vs HODL and equal weight", "Drawdown", "Daily PnL",
                  "Conviction pass rate"):
        assert title in text
    assert text.count('class="plotly-graph-div"') == 4
    # Self-contained: no script, stylesheet or image is loaded from the network.
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=[\"']?https?:", text)
    assert not re.search(r"<link[^>]*\shref=[\"']?https?:", text)


def test_unwritable_html_path(config_path: Path) -> None:
    _seed(config_path.parent / "var" / "cappuccino.db")
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(config_path),
                          "report", "--html", "/nonexistent/r.html"], capture_output=True, text=True)
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr
