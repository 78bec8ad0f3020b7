"""Rebuild v0001.db: a store as schema version 1 left it, with a few realistic rows.

Run once from the repository root: `.venv/bin/python tests/store/data/make_v0001.py`.
The .db file is committed so the migration test upgrades a real old file; this script
only documents how it was made. It uses v0001_initial.sql alone (never later migrations).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OUT = Path(__file__).with_name("v0001.db")
T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC


def build(out: Path = OUT) -> None:
    out.unlink(missing_ok=True)
    sql = (ROOT / "store" / "migrations" / "v0001_initial.sql").read_text(encoding="utf-8")
    conn = sqlite3.connect(out, isolation_level=None)
    conn.execute("PRAGMA page_size = 1024")  # keeps the committed file small
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    for stmt in _statements(sql):
        conn.execute(stmt)
    conn.execute(
        "INSERT INTO processes (name, kind, argv, desired, state, pid, create_time, restarts,"
        " started_at, log_path, created_at, updated_at) VALUES"
        " ('trader-sim', 'trader', '[\"cappuccino\", \"trade\", \"--name\", \"sim\"]',"
        " 'running', 'RUNNING', 4242, ?, 1, ?, 'var/logs/trader-sim.log', ?, ?)",
        (T0, T0, T0, T0 + 60))
    conn.execute(
        "INSERT INTO commands (at, source, action, target, args, state, result, done_at)"
        " VALUES (?, 'console', 'restart', 'trader-sim', '{}', 'done', 'restarted', ?)",
        (T0 + 30, T0 + 31))
    conn.execute(
        "INSERT INTO studies (name, storage, timeframe, n_trials, best_value, best_trial,"
        " created_at, updated_at) VALUES ('default', 'journal', '5m', 20, 1.25, 3, ?, ?)",
        (T0, T0 + 3600))
    for trial, state, obj in ((0, "COMPLETE", 0.8), (1, "FAILED", None), (2, "PRUNED", None),
                              (3, "COMPLETE", 1.25), (4, "RUNNING", None)):
        conn.execute(
            "INSERT INTO attempts (study, trial, attempt, state, params, objective, device,"
            " started_at, ended_at) VALUES ('default', ?, 0, ?, '{\"lr\": 0.0003}', ?, 'cpu',"
            " ?, ?)", (trial, state, obj, T0 + trial * 600, None if state == "RUNNING"
                       else T0 + trial * 600 + 500))
    conn.execute(
        "INSERT INTO models (path, study, trial, objective, sharpe, ew_sharpe, hodl_sharpe,"
        " created_at) VALUES ('var/models/default/3', 'default', 3, 1.25, 1.4, 0.6, 0.4, ?)",
        (T0 + 2400,))
    conn.execute(
        "INSERT INTO traders (name, broker, mode, model, study, trial, tickers, timeframe,"
        " capital, equity, cash, started_at, updated_at) VALUES ('sim', 'sim', 'paper',"
        " 'var/models/default/3', 'default', 3, '[\"BTC-USD\", \"ETH-USD\"]', '5m',"
        " '1000.00', '1012.34', '512.34', ?, ?)", (T0, T0 + 7200))
    conn.execute(
        "INSERT INTO orders (client_order_id, trader, ticker, side, order_type, post_only,"
        " qty, limit_price, status, filled_qty, avg_price, fees, bar_at, created_at,"
        " updated_at) VALUES ('sim-1767225900-BTC-USD-0', 'sim', 'BTC-USD', 'BUY', 'limit',"
        " 1, '0.005', '95000.00', 'FILLED', '0.005', '95000.00', '0.95', ?, ?, ?)",
        (T0 + 300, T0 + 300, T0 + 310))
    for i in range(3):
        conn.execute(
            "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price,"
            " fee, liquidity, at) VALUES (?, 'sim', 'sim-1767225900-BTC-USD-0', 'BTC-USD',"
            " 'BUY', ?, '95000.00', '0.3166', 'MAKER', ?)",
            (f"fill-{i}", "0.001666" if i < 2 else "0.001668", T0 + 305 + i))
    conn.execute(
        "INSERT INTO positions (trader, ticker, qty, avg_price, last_price, updated_at)"
        " VALUES ('sim', 'BTC-USD', '0.005', '95000.00', '95100.00', ?)", (T0 + 600,))
    for i in range(12):
        eq = 1000 + i * 1.03
        conn.execute(
            "INSERT INTO equity (trader, at, equity, cash, equity_f, benchmark_f)"
            " VALUES ('sim', ?, ?, '525.00', ?, ?)",
            (T0 + i * 300, f"{eq:.2f}", eq, 1000 + i * 0.8))
    conn.execute(
        "INSERT INTO decisions (trader, bar_at, ticker, action, side, score, f_size,"
        " f_momentum, f_agreement, f_volatility, f_context, passed, reason, at) VALUES"
        " ('sim', ?, 'BTC-USD', 0.42, 'BUY', 0.71, 0.8, 0.6, 0.9, 0.5, 0.6, 1, NULL, ?)",
        (T0 + 300, T0 + 301))
    conn.execute(
        "INSERT INTO alerts (trader, level, live_sharpe, backtest_sharpe, message, at)"
        " VALUES ('sim', 'WARNING', 0.7, 1.4, 'live Sharpe 0.5 below backtest', ?)",
        (T0 + 3600,))
    conn.execute(
        "INSERT INTO outbox (event, level, title, body, created_at, next_try_at, sent_at)"
        " VALUES ('fill', 'info', 'Filled BTC-USD', 'BUY 0.005 @ 95000.00', ?, ?, ?)",
        (T0 + 310, T0 + 310, T0 + 311))
    conn.execute(
        "INSERT INTO outbox (event, level, title, body, created_at, next_try_at)"
        " VALUES ('alert', 'warning', 'Sharpe warning', 'sim: 0.7 vs 1.4', ?, ?)",
        (T0 + 3600, T0 + 3600))
    conn.execute("INSERT INTO kv (key, value, updated_at) VALUES ('halt_all', '0', ?)", (T0,))
    conn.execute("PRAGMA user_version = 1")
    conn.execute("COMMIT")
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _statements(sql: str) -> list[str]:
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out


if __name__ == "__main__":
    build()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
