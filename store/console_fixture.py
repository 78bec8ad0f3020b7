"""The console's fixture stores: the small deterministic one its tests and snapshots run
against (populate), the bulk one its bench times (populate_big), and what a running system
writes between two refreshes (live_writes).

Fixture writers, not production ones: each builds dozens of tables' rows in one transaction
with executemany over plain tuples, in the schema's exact shape (explicit column lists:
later migrations add columns), far faster than one production writer call per row, which a
1M-row bench store cannot afford. The store owns their statements like every other; only
console.bench and the tests call them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from store.db import Store

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC: the frozen clock of tests and snapshots
HOUR = 3600.0
DAY = 86400.0
# Explicit column lists: later migrations add columns to these tables.
FILLS = ("INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, fee, "
         "liquidity, realized_pnl, at) ")
GPU = ("INSERT INTO gpu_samples (at, gpu, name, mem_used_mb, mem_total_mb, util_pct, temp_c, "
       "resolution) ")
SYSTEM = ("INSERT INTO system_samples (at, cpu_pct, ram_used_mb, ram_total_mb, disk_used_mb, "
          "disk_total_mb, gpu_status, resolution) ")
STUDIES = ("INSERT INTO studies (name, storage, timeframe, n_trials, best_value, best_trial, pbo, "
           "created_at, updated_at) ")
TRADERS = ("INSERT INTO traders (name, broker, mode, model, study, trial, tickers, timeframe, "
           "capital, trading_state, state_reason, halt_requested, backtest_sharpe, fee_tier, "
           "equity, cash, last_bar_at, started_at, updated_at) ")


LOCAL_HOST = "gpu-a"
# name, kind, state, pid, restarts; the caller writes their log files (the store writes rows)
PROCESSES: tuple[tuple[str, str, str, int | None, int], ...] = (
    ("supervisor", "supervisor", "RUNNING", 4101, 0), ("trial-0", "trial", "RUNNING", 4102, 1),
    ("trial-1", "trial", "RUNNING", 4103, 0), ("trader-paper-1", "trader", "RUNNING", 4104, 0),
    ("trader-paper-2", "trader", "BACKOFF", None, 3), ("monitor", "monitor", "RUNNING", 4105, 0),
    ("sampler", "sampler", "RUNNING", 4106, 0), ("notifier", "notifier", "FATAL", None, 6))  # the fixture's own host; gpu-b and gpu-c share its study


def populate(store: Store, now: float = T0, *, log_dir: Path | None = None,
             rng_seed: int = 3) -> None:
    """A small, realistic, deterministic store: one study, processes, two traders, samples.

    The study is shared by three hosts: trials 0-13 ran here, 14-19 are other hosts' trials
    mirrored from the shared study storage (see _mirror_other_hosts).
    """
    rng = random.Random(rng_seed)
    with store.write():
        c = store.conn
        c.execute(STUDIES + "VALUES ('btc-5m', 'journal', '5m', 40, 0.412, 7, 0.18, "
                  "?, ?)", (now - 6 * HOUR, now - 60))
        errors = {3: ("CudaOOM", "CUDA out of memory (retried with batch 512)"),
                  11: ("ValueError", "NaN in actor loss")}
        for trial in range(14):
            attempts = 2 if trial in errors else 1
            for a in range(attempts):
                last = a == attempts - 1
                if trial >= 12:
                    state, obj, prog = "RUNNING", None, 0.35 + 0.2 * (trial - 12)
                elif not last:
                    state, obj, prog = "FAILED", None, 0.4
                elif trial == 11:
                    state, obj, prog = "FAILED", None, 0.6
                elif trial in (5, 9):
                    state, obj, prog = "PRUNED", None, 0.3
                else:
                    state, obj, prog = "COMPLETE", round(rng.uniform(-0.2, 0.4), 4), 1.0
                if trial == 7:
                    obj = 0.412
                if trial == 2:
                    obj = -0.0831
                err = errors.get(trial) if (not last or trial == 11) else None
                c.execute(
                    "INSERT INTO attempts (study, trial, attempt, state, error_class, "
                    "error_message, objective, device, peak_mem_mb, batch_size, progress, "
                    "model_path, process, host, started_at, heartbeat_at, ended_at) "
                    "VALUES ('btc-5m', ?, ?, ?, ?, ?, ?, ?, ?, 1024, ?, ?, ?, ?, ?, ?, ?)",
                    (trial, a, state, err[0] if err else None, err[1] if err else None, obj,
                     "cuda:0" if trial % 2 == 0 else "cpu", 900.0 + 37 * trial, prog,
                     f"models/btc-5m/{trial}" if state == "COMPLETE" else None,
                     f"trial-{trial % 2}", LOCAL_HOST, now - 6 * HOUR + trial * 1200 + a * 300,
                     now - 30, None if state == "RUNNING" else now - 5 * HOUR + trial * 1200))
        # Each saved model's held-out Sharpe next to its equal-weight and HODL benchmarks
        # (some models beat both, some lose to HODL).
        c.execute("INSERT INTO models (path, study, trial, objective, sharpe, ew_sharpe, "
                  "hodl_sharpe, created_at) "
                  "SELECT model_path, study, trial, objective, objective * 3, "
                  "0.35 + 0.05 * (trial % 4), 0.6 - 0.1 * (trial % 3), ended_at "
                  "FROM attempts WHERE state = 'COMPLETE'")
        for i, (name, kind, state, pid, restarts) in enumerate(PROCESSES):
            log = None if log_dir is None else str(log_dir / f"{name}.log")
            c.execute("INSERT INTO processes (name, kind, argv, desired, state, pid, "
                      "create_time, restarts, started_at, log_path, heartbeat_at, created_at, "
                      "updated_at) VALUES (?, ?, '[]', 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (name, kind, state, pid, now - 7 * HOUR, restarts,
                       now - (7 - i * 0.5) * HOUR, log, now - 2, now - 7 * HOUR, now - 2))
        tier = json.dumps({"pricing_tier": "Intro 1", "maker_fee_rate": "0.006",
                           "taker_fee_rate": "0.012"})
        c.execute(TRADERS + "VALUES ('paper-1', 'sim', 'paper', 'models/btc-5m/7', "
                  "'btc-5m', 7, '[\"BTC-USD\",\"ETH-USD\"]', '5m', '1000', 'ACTIVE', NULL, 0, "
                  "1.21, ?, '1042.17', '512.40', ?, ?, ?)",
                  (tier, now - 300, now - 72 * HOUR, now - 60))
        c.execute(TRADERS + "VALUES ('paper-2', 'sim', 'paper', 'ensemble:3', "
                  "'btc-5m', NULL, '[\"BTC-USD\"]', '5m', '1000', 'HALTED', 'daily loss 2.1%', "
                  "0, 0.95, NULL, '978.30', '978.30', ?, ?, ?)",
                  (now - 300, now - 10 * HOUR, now - 60))
        c.executemany("INSERT INTO positions (trader, ticker, qty, avg_price, last_price, "
                      "realized_pnl, unrealized_pnl, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [
            ("paper-1", "BTC-USD", "0.0051", "94120.50", "95010.00", "3.10", "4.54", now - 60),
            ("paper-1", "ETH-USD", "0.0800", "3350.00", "3321.75", "0", "-2.26", now - 60)])
        eq = []
        bt_rng = random.Random(rng_seed + 1)  # its own stream: the other rows stay as they were
        for trader, hours, drift in (("paper-1", 72, 0.0006), ("paper-2", 10, -0.0004)):
            e = b = bt = 1000.0
            for k in range(int(hours * 12)):
                at = now - hours * HOUR + k * 300
                e *= 1 + drift / 12 + rng.gauss(0, 0.002)
                b *= 1 + rng.gauss(0, 0.0025)
                # The model's own backtest on the same bars: the same drift without the
                # filter, fees and slippage, so a little ahead of the trader.
                bt *= 1 + 1.5 * drift / 12 + bt_rng.gauss(0, 0.002)
                eq.append((trader, at, f"{e:.2f}", "500", e, b, bt))
        c.executemany("INSERT INTO equity (trader, at, equity, cash, equity_f, benchmark_f, "
                      "backtest_f) VALUES (?, ?, ?, ?, ?, ?, ?)", eq)
        # Fills: each its own order, about 4 trades a day for paper-1 (inside the 2-5 gate).
        fills, decisions = [], []
        for k in range(12):
            fills.append((f"p1-{k}", "paper-1", f"o1-{k}", "BTC-USD" if k % 3 else "ETH-USD",
                          "BUY" if k % 2 else "SELL", "0.0010", "95000", f"{0.34 + k % 4 / 10:.2f}",
                          "TAKER" if k % 4 == 3 else "MAKER", None, now - 71 * HOUR + k * 6 * HOUR))
        for k in range(6):
            fills.append((f"p2-{k}", "paper-2", f"o2-{k}", "BTC-USD", "BUY" if k % 2 else "SELL",
                          "0.0020", "94800", "1.14", "MAKER" if k % 2 else "TAKER", None,
                          now - 9 * HOUR + k * 1.5 * HOUR))
        for k in range(120):
            trader = "paper-1" if k % 3 else "paper-2"
            at = now - 70 * HOUR + k * 2100
            f = [round(rng.random(), 2) for _ in range(5)]
            score = round(0.3 * f[0] + 0.2 * f[1] + 0.2 * f[2] + 0.15 * f[3] + 0.15 * f[4], 3)
            passed = int(score >= 0.6)
            decisions.append((trader, at, "BTC-USD", round(rng.uniform(-1, 1), 2),
                              "BUY" if k % 2 else "SELL", score, *f, passed,
                              None if passed else f"score {score:.2f} < 0.60", at))
        c.executemany(FILLS + "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", fills)
        c.executemany("INSERT INTO decisions (trader, bar_at, ticker, action, side, score, "
                      "f_size, f_momentum, f_agreement, f_volatility, f_context, passed, reason, "
                      "at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", decisions)
        c.executemany("INSERT INTO alerts (trader, level, live_sharpe, backtest_sharpe, message, "
                      "at) VALUES (?, ?, ?, ?, ?, ?)", [
                          ("paper-1", "OK", 0.93, 1.21, "live Sharpe 0.93 vs backtest 1.21",
                           now - 3 * HOUR),
                          ("paper-2", "WARNING", 0.31, 0.95, "live Sharpe 0.31 < 0.95 - 0.5",
                           now - 5 * HOUR),
                          ("paper-2", "CRITICAL", -0.22, 0.95, "live Sharpe -0.22 < 0.95 - 1.0",
                           now - 2 * HOUR)])
        gates = json.dumps([{"name": "trial completed", "value": "COMPLETE",
                             "threshold": "COMPLETE", "passed": True},
                            {"name": "CPCV objective", "value": 0.412, "threshold": "> 0",
                             "passed": True}])
        c.execute("INSERT INTO promotions (at, kind, subject, trader, gates, passed) "
                  "VALUES (?, 'paper', 'btc-5m/7', 'paper-1', ?, 1)", (now - 72 * HOUR, gates))
        gpu, sysrows, gproc = [], [], []
        for k in range(90):
            at = now - (90 - k) * 5
            gpu.append((at, 0, "NVIDIA H100 80GB HBM3", 20_000 + 150 * k + rng.uniform(0, 900),
                        81_559.0, 60 + k % 30, 61 + k % 7, 5))
            sysrows.append((at, 35 + k % 20, 9_800 + k, 31_900, 120_000, 480_000, "ok", 5))
        gproc += [(now - 5, 0, 4102, "trial-0", 14_200.0), (now - 5, 0, 4103, "trial-1", 11_900.0),
                  (now - 5, 0, 9999, None, 700.0)]
        c.executemany(GPU + "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", gpu)
        c.executemany(SYSTEM + "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", sysrows)
        c.executemany("INSERT INTO gpu_process_samples (at, gpu, pid, process, mem_used_mb) "
                      "VALUES (?, ?, ?, ?, ?)", gproc)
    _mirror_other_hosts(store, now)


def _mirror_other_hosts(store: Store, now: float) -> None:
    """Other hosts' trials as the study driver's mirror writes them (store.registry).

    No random draws here: the rows above stay what they were. Trial 14's model is readable
    on this host, so the mirror also registered it (a `models` row: Sharpe, EW, HODL, and it
    can be promoted); trial 17's model sits on gpu-c only, so it has no `models` row.
    """
    from store.registry import RemoteTrial, upsert_remote_trials

    t0 = now - 6 * HOUR + 14 * 1200

    def trial(n: int, host: str, state: str, objective: float | None, progress: float,
              device: str, model_path: str | None = None, error_class: str | None = None,
              error_message: str | None = None) -> RemoteTrial:
        start = t0 + (n - 14) * 600
        return RemoteTrial(study="btc-5m", trial=n, state=state, host=host, params={},
                           objective=objective, progress=progress, started_at=start,
                           ended_at=None if state == "RUNNING" else start + HOUR,
                           device=device, model_path=model_path,
                           error_class=error_class, error_message=error_message)

    upsert_remote_trials(store, [
        trial(14, "gpu-b", "COMPLETE", 0.2871, 1.0, "cuda:1", model_path="models/btc-5m/14"),
        trial(15, "gpu-c", "FAILED", None, 0.45, "cuda:0", error_class="ValueError",
              error_message="NaN in critic loss"),
        trial(16, "gpu-b", "PRUNED", -0.0412, 0.3, "cuda:0",
              error_message="pruned on gpu-b after split 2"),
        trial(17, "gpu-c", "COMPLETE", 0.1893, 1.0, "cuda:1", model_path="models/btc-5m/17"),
        trial(18, "gpu-b", "RUNNING", None, 0.8, "cuda:1"),
        trial(19, "gpu-c", "RUNNING", None, 0.15, "cuda:0")])
    with store.write():
        store.conn.execute(
            "INSERT INTO models (path, study, trial, objective, sharpe, ew_sharpe, hodl_sharpe, "
            "created_at) VALUES ('models/btc-5m/14', 'btc-5m', 14, 0.2871, 0.86, 0.4, 0.55, ?) "
            "ON CONFLICT(path) DO NOTHING", (t0 + HOUR,))


def populate_big(store: Store, now: float, *, fills: int, equity: int, trials: int,
                 gpu_samples: int, traders: int = 10) -> None:
    """The bench store: bulk rows in the schema's shape (spread over `traders` traders)."""
    rng = random.Random(1)
    names = [f"trader-{i}" for i in range(traders)]
    c = store.conn
    with store.write():
        c.execute(STUDIES + "VALUES ('big', 'journal', '5m', ?, 0.4, 1, 0.2, ?, ?)",
                  (trials, now - DAY, now))
        # Three hosts share the study: two thirds of the trials are mirrored from the others.
        c.executemany(
            "INSERT INTO attempts (study, trial, attempt, state, objective, device, progress, "
            "model_path, started_at, host, mirrored) "
            "VALUES ('big', ?, 0, ?, ?, 'cuda:0', 1.0, ?, ?, ?, ?)",
            ((t, ("COMPLETE", "PRUNED", "FAILED", "RUNNING")[t % 4], rng.random(),
              f"models/big/{t}" if t % 4 == 0 else None, now - t, f"gpu-{t % 3}",
              int(t % 3 != 0)) for t in range(trials)))
        # The Trials pane joins each attempt to its saved model (Sharpe, EW, HODL).
        c.execute("INSERT INTO models (path, study, trial, objective, sharpe, ew_sharpe, "
                  "hodl_sharpe, created_at) SELECT model_path, study, trial, objective, "
                  "objective * 2, 0.4, 0.7, started_at FROM attempts WHERE model_path IS NOT NULL")
        for name in names:
            c.execute("INSERT INTO traders (name, broker, mode, model, tickers, timeframe, "
                      "capital, fee_tier, equity, cash, started_at, updated_at) VALUES "
                      "(?, 'sim', 'paper', 'm', '[\"BTC-USD\"]', '5m', '1000', "
                      "'{\"pricing_tier\": \"Intro 1\"}', '1000', '1000', ?, ?)",
                      (name, now - 365 * DAY, now))
    # Fills over a year: the console's 30-day window holds about 1/12 of them.
    per_batch = 100_000
    for start in range(0, fills, per_batch):
        with store.write():
            c.executemany(FILLS + "VALUES (?, ?, NULL, 'BTC-USD', 'BUY', '0.001', "
                          "'95000', '0.57', ?, NULL, ?)",
                          ((f"f{i}", names[i % traders], "MAKER" if i % 10 < 7 else "TAKER",
                            now - 365 * DAY * (1 - i / fills)) for i in
                           range(start, min(fills, start + per_batch))))
    for start in range(0, equity, per_batch):
        with store.write():
            c.executemany("INSERT INTO equity (trader, at, equity, cash, equity_f, benchmark_f) "
                          "VALUES (?, ?, '1000', '1000', ?, ?)",
                          ((names[i % traders], now - (equity - i) * 30.0, 1000 + i * 1e-3,
                            1000.0) for i in range(start, min(equity, start + per_batch))))
    for start in range(0, gpu_samples, per_batch):
        with store.write():
            c.executemany(GPU + "VALUES (?, ?, 'GPU', ?, 81559, 50, 60, 5)",
                          ((now - (gpu_samples - i) * 2.5, i % 2, 1000.0 + i % 5000)
                           for i in range(start, min(gpu_samples, start + per_batch))))
    with store.write():
        c.executemany("INSERT INTO decisions (trader, bar_at, ticker, action, side, score, "
                      "f_size, f_momentum, f_agreement, f_volatility, f_context, passed, at) "
                      "VALUES (?, ?, 'BTC-USD', 0.5, 'BUY', 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, ?, ?)",
                      ((names[i % traders], now - i * 60.0, i % 3 == 0, now - i * 60.0)
                       for i in range(50_000)))
        c.executemany(SYSTEM + "VALUES (?, 30, 1000, 32000, 1, 2, 'ok', 5)",
                      ((now - i * 5.0,) for i in range(10_000)))


def live_writes(path: Path, now: float, i: int) -> None:
    """What a running system writes between two console refreshes (the bench is the writer)."""
    with Store(path, check=False) as st, st.write():
        c = st.conn
        c.execute("INSERT INTO attempts (study, trial, attempt, state, objective, device, "
                  "progress, started_at) VALUES ('big', ?, 0, 'RUNNING', NULL, 'cuda:0', 0.1, ?)",
                  (1_000_000 + i, now))
        c.execute("UPDATE attempts SET progress = ? WHERE study = 'big' AND state = 'RUNNING' "
                  "AND trial = (SELECT max(trial) FROM attempts WHERE study = 'big' "
                  "AND trial < 1000000)", (min(1.0, 0.1 * i),))
        for g in (0, 1):
            c.execute(GPU + "VALUES (?, ?, 'GPU', ?, 81559, 50, 60, 5)", (now, g, 2000.0 + i))
        for t in range(10):
            c.execute("INSERT OR IGNORE INTO equity (trader, at, equity, cash, equity_f, "
                      "benchmark_f) VALUES (?, ?, '1000', '1000', ?, 1000)",
                      (f"trader-{t}", now, 1000.0 + i))
            c.execute(FILLS + "VALUES (?, ?, NULL, 'BTC-USD', 'BUY', '0.001', '95000', '0.57', "
                      "'MAKER', NULL, ?)", (f"live-{i}-{t}", f"trader-{t}", now))
        c.execute("INSERT INTO alerts (trader, level, live_sharpe, backtest_sharpe, message, at) "
                  "VALUES ('trader-1', 'WARNING', 0.1, 0.9, 'bench', ?)", (now,))
        c.execute("INSERT INTO decisions (trader, bar_at, ticker, action, side, score, f_size, "
                  "f_momentum, f_agreement, f_volatility, f_context, passed, at) VALUES "
                  "('trader-1', ?, 'BTC-USD', 0.5, 'SELL', 0.3, 0.5, 0.5, 0.5, 0.5, 0.5, 0, ?)",
                  (now, now))


def live_updates(path: Path, i: int) -> None:
    """What changes between two refreshes of a system in its steady state: new values in the
    same rows (trial progress, the newest equity point, the last hour's fills, the newest GPU
    sample, the traders' equity), nothing added, so what the console shows keeps its size
    (the console's memory bench: what grows there is the console's own)."""
    with Store(path, check=False) as st, st.write():
        c = st.conn
        c.execute("UPDATE attempts SET progress = ? WHERE state = 'RUNNING'", ((i % 100) / 100,))
        c.execute("UPDATE equity SET equity_f = ? WHERE at = (SELECT max(at) FROM equity)",
                  (1000.0 + i,))
        c.execute("UPDATE fills SET price = ? WHERE at >= (SELECT max(at) - 3600 FROM fills)",
                  (str(95_000 + i),))
        c.execute("UPDATE gpu_samples SET mem_used_mb = ? WHERE at = "
                  "(SELECT max(at) FROM gpu_samples)", (2000.0 + i,))
        c.execute("UPDATE traders SET equity = ?", (str(1000 + i),))
