"""SIGKILL a real trader process at random points and restart it, many times: no order is
ever placed twice, every bar is decided once, and the store's positions and cash equal the
sim exchange's balances. The model's own backtest curve (backtest_f), whose state lives in
kv, comes out exactly as one uninterrupted run would compute it."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import FAST, build_model  # noqa: E402

from engine.config import load_config  # noqa: E402
from store.db import Store  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
TICKERS = ("BTC-USD", "ETH-USD")
KILLS = 8
CONFIG = FAST.replace("[conviction]\n", "[conviction]\nmin_score = 0.3\n") + """
[risk]
max_order_notional = 150
max_position_pct = 60
daily_loss_pct = 50
[trader]
replay_speed = 1000
poll_s = 0.01
notify_fills = false
"""


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return int(c.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def _start(cfg_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    log = (cfg_path.parent / "trader.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "trade",
         "--name", "t", "--model", str(cfg_path.parent / "model"), "--broker", "sim",
         "--tickers", ",".join(TICKERS)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _tail(tmp_path: Path) -> str:
    text = (tmp_path / "trader.log").read_text(errors="replace")
    return "\n".join(line for line in text.splitlines() if "WARNING" not in line)[-3000:]


@pytest.mark.slow
def test_sigkill_restart_never_duplicates_orders(tmp_path: Path) -> None:
    cfg_path = tmp_path / "cappuccino.toml"
    cfg_path.write_text(CONFIG)
    cfg = load_config(cfg_path, environ={})
    build_model(tmp_path / "model", cfg, TICKERS, scale=100)
    store_db = Path(cfg.store.path)
    Store(store_db).close()  # created up front: the polling below must not race its creation
    sim_db = Path(cfg.paths.run) / "traders" / "t" / "sim-exchange.db"
    rng = random.Random(1234)
    kills = 0
    for _ in range(KILLS):
        before = _count(store_db, "SELECT COUNT(*) FROM decisions")
        p = _start(cfg_path)
        deadline = time.monotonic() + 60
        while (_count(store_db, "SELECT COUNT(*) FROM decisions") <= before
               and p.poll() is None and time.monotonic() < deadline):
            time.sleep(0.02)
        assert p.poll() is None, _tail(tmp_path)
        time.sleep(rng.uniform(0.0, 0.6))
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        kills += 1
    # A last clean run: SIGTERM cancels open orders, books fills and exits 0.
    p = _start(cfg_path)
    before = _count(store_db, "SELECT COUNT(*) FROM decisions")
    deadline = time.monotonic() + 60
    while _count(store_db, "SELECT COUNT(*) FROM decisions") <= before + 10 and \
            time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    p.wait(60)
    assert p.returncode == 0, _tail(tmp_path)
    assert kills == KILLS

    s = sqlite3.connect(store_db)
    x = sqlite3.connect(sim_db)
    store_orders = {r[0]: r for r in s.execute(
        "SELECT client_order_id, bar_at, ticker, attempt, status FROM orders WHERE trader='t'")}
    sim_ids = [r[0] for r in x.execute("SELECT client_order_id FROM orders")]
    assert sim_ids, "the trader placed no orders; the test proves nothing"
    assert len(sim_ids) == len(set(sim_ids))
    assert set(sim_ids) <= set(store_orders)  # every exchange order has its intent row
    per_slot = Counter((bar, t, a) for _, bar, t, a, _ in store_orders.values())
    assert max(per_slot.values()) == 1
    decided = Counter(s.execute("SELECT bar_at, ticker FROM decisions WHERE trader='t'"))
    assert max(decided.values()) == 1  # each bar decided once, across every kill
    assert not [o for o in store_orders.values() if o[4] in ("NEW", "OPEN", "PARTIAL")]
    assert not list(x.execute("SELECT 1 FROM orders WHERE status = 'OPEN'"))
    # Fills and balances: the store follows the exchange exactly.
    assert {r[0] for r in s.execute("SELECT fill_id FROM fills")} == \
        {r[0] for r in x.execute("SELECT fill_id FROM fills")}
    bal = {c: Decimal(a) + Decimal(h) for c, a, h in x.execute("SELECT * FROM balances")}
    pos = {t: Decimal(q) for t, q in s.execute("SELECT ticker, qty FROM positions")}
    for t in TICKERS:
        assert pos.get(t, Decimal(0)) == bal.get(t.split("-")[0], Decimal(0)), t
    (cash,) = s.execute("SELECT cash FROM traders WHERE name='t'").fetchone()
    assert Decimal(cash) == bal["USD"]
    _assert_backtest_curve_is_uninterrupted(cfg, tmp_path / "model", s)


def _assert_backtest_curve_is_uninterrupted(cfg, model: Path,  # noqa: ANN001
                                            s: sqlite3.Connection) -> None:
    """Recompute the backtest over the bars the trader recorded, in one go."""
    import numpy as np

    from engine.brokers.factory import sim_candles
    from engine.env.step import step_params
    from engine.features import FeatureSpec, compute_features, observation
    from engine.trading.policy import load_policy
    from engine.trading.shadow import ShadowBook

    rows = s.execute("SELECT at, equity_f, backtest_f, ew_f FROM equity WHERE trader='t' "
                     "ORDER BY at").fetchall()
    assert len(rows) > 20 and all(np.diff([r[0] for r in rows]) == 300)  # no bar skipped
    c = sim_candles(cfg.model_copy(update={"trader": cfg.trader.model_copy(
        update={"tickers": list(TICKERS)})}))
    policy = load_policy([model], tickers=TICKERS, timeframe="5m", features=None, env=None)
    fs, env = FeatureSpec.from_dict(policy.spec.features), policy.spec.env
    prm = step_params(env)   # the model's own mapping and costs, as the trader
    book = None
    for at, equity, backtest, ew in rows:
        i = int(np.searchsorted(c.times, at - 300))
        p = c.close[i]
        book = book or ShadowBook.start(equity, p)
        want_ew, want = book.mark(p)
        assert (backtest, ew) == (want, want_ew), at
        window = compute_features(c.slice(i + 1 - fs.history, i + 1), fs)[-fs.lookback:]
        obs = observation(window, book.cash, book.holdings, p, cfg.trader.capital)
        book.trade(prm, p, policy.act(obs).actions)
