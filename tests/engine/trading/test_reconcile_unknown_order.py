"""Start-up reconciliation when the store holds an open order the exchange does not know: a
real `cappuccino trade` process on the Coinbase fake (the real SDK over HTTP) rests an order,
is SIGKILLed, and the exchange then answers 404 for that order id (a store copied from
another account or environment). The restarted trader must close the row as unknown at the
broker and go on deciding bars, not fail every bar on the 404.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from conftest import build_model  # noqa: E402
from venues import TICKERS  # noqa: E402

from engine.config import load_config  # noqa: E402
from engine.soak.venues import CONFIG, SPEED  # noqa: E402
from tests.fakes.trade_proc import (  # noqa: E402
    clean_env,
    live_coinbase,
    replay_start,
    store_rows,
    trade_argv,
    wait_while_alive,
)

ROOT = Path(__file__).resolve().parents[3]


def test_restart_with_an_order_the_exchange_does_not_know(tmp_path: Path) -> None:
    env = clean_env()
    with ExitStack() as stack:
        cfg_path = tmp_path / "cappuccino.toml"
        fake = live_coinbase(stack, env, cfg_path, CONFIG)
        cfg = load_config(cfg_path, environ={})
        build_model(tmp_path / "model", cfg, TICKERS, scale=100)
        db = Path(cfg.store.path)
        fake.accelerate(*replay_start(SPEED))
        argv = trade_argv(cfg_path, tmp_path / "model", "coinbase", TICKERS, live=True)
        log = tmp_path / "trader.log"
        procs: list[subprocess.Popen[bytes]] = []

        def start() -> subprocess.Popen[bytes]:
            p = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                 stderr=log.open("ab"))
            procs.append(p)
            return p

        wait_for = wait_while_alive

        def stop_all() -> None:
            for x in procs:
                if x.poll() is None:
                    x.send_signal(signal.SIGTERM)
                    x.wait(60)

        stack.callback(stop_all)
        p = start()
        # Nothing fills here: the trader's first post-only orders rest on the book.
        resting = wait_for(p, lambda: store_rows(db, "SELECT client_order_id FROM orders WHERE "
                                                "status = 'OPEN' AND broker_order_id IS NOT NULL"),
                           90)
        assert resting, log.read_text(errors="replace")[-3000:]
        p.send_signal(signal.SIGKILL)
        p.wait(30)
        cid = resting[0][0]
        with fake.lock:  # the exchange no longer knows it: 404 by id, absent from lists
            fake.orders = [o for o in fake.orders if o["client_order_id"] != cid]
        decided = store_rows(db, "SELECT COUNT(*) FROM decisions")[0][0]
        p = start()
        more = wait_for(p, lambda: store_rows(db, "SELECT COUNT(*) FROM decisions")[0][0]
                        >= decided + 2, 60)
        assert more, ("the restarted trader decides no bar: "
                      + log.read_text(errors="replace")[-2000:])
        (row,) = store_rows(db, f"SELECT status, reason FROM orders WHERE client_order_id = '{cid}'")
        assert row == ("EXPIRED", "unknown at the broker"), row
        assert p.poll() is None, log.read_text(errors="replace")[-3000:]
