"""A store deleted (`rm -rf` of its folder) or replaced by another file under a running
supervisor: a real `cappuccino supervise`, a real sim trader, the sampler and the notifier
(to a local HTTP receiver). The supervisor says so in one line, stops every child (SIGTERM,
SIGKILL after grace), the notifier last once it has sent the alert, and exits 1; nothing
keeps running."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.soak.mixed import declare_trader
from engine.soak.workdir import cli, make_workdir, stop, wait_for
from engine.supervisor.lost import EXIT_STORE_LOST
from engine.supervisor.spawn import group_alive, same_process
from store.db import Store
from store.processes import get_process

EXTRA = """
[store]
path = "state/cappuccino.db"
[paths]
run = "state/run"
[supervisor]
poll_s = 0.2
heartbeat_s = 0.5
stop_grace_s = 3
services = ["sampler", "notifier"]
[notify]
poll_s = 0.3
[sampler]
interval_s = 0.3
flush_s = 0.3
"""


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, object]]]]:
    got: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()


def running(store: Store, name: str) -> int | None:
    row = get_process(store, name)
    if (row is None or row.state != "RUNNING" or not row.pid
            or not same_process(row.pid, row.create_time)):
        return None
    return row.pid


def decisions(store: Store) -> int:
    row = store.one("SELECT COUNT(*) FROM decisions WHERE trader = 't'")
    return int(row[0]) if row is not None else 0


@pytest.mark.slow
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_store_lost_stops_children_and_exits(
        tmp_path: Path, how: str, receiver: tuple[str, list[dict[str, object]]]) -> None:
    sup: subprocess.Popen[bytes] | None = None
    pids: dict[str, int] = {}
    url, got = receiver
    keys = tmp_path / "keys.toml"
    keys.write_text(f'apprise_urls = "{url}"\n')
    keys.chmod(0o600)
    try:
        cfg = make_workdir(tmp_path, EXTRA + f'[secrets]\nkey_file = "{keys}"\n')
        db = Path(cfg.store.path)
        sup_log = Path(cfg.paths.logs) / "supervisor.log"
        sup_log.parent.mkdir(parents=True, exist_ok=True)
        sup = cli(tmp_path / "cappuccino.toml", "supervise", log=sup_log)
        assert wait_for(lambda: db.exists() and db.stat().st_size >= 100, 60)
        store = Store(db)
        try:
            declare_trader(store, cfg, tmp_path / "model", "t")
            assert wait_for(lambda: bool(running(store, "trader-t") and running(store, "sampler")
                                         and running(store, "notifier")
                                         and decisions(store) > 2), 120), sup_log.read_text()
            for name in ("trader-t", "sampler", "notifier"):
                pid = running(store, name)
                assert pid
                pids[name] = pid
        finally:
            store.close()
        if how == "deleted":
            shutil.rmtree(db.parent)
        else:
            other = tmp_path / "other.db"
            Store(other).close()  # a valid store, but another file
            os.replace(other, db)
        assert sup.wait(60) == EXIT_STORE_LOST, sup_log.read_text()[-3000:]
        text = sup_log.read_text()
        assert f"was {how}" in text and "stopping 3 child(ren)" in text, text[-3000:]
        assert "Traceback" not in text, text[-3000:]
        alerts = [m for m in got if m.get("title") == "supervisor stopped: store gone"]
        assert len(alerts) == 1 and how in str(alerts[0].get("message")), got
        for name, leader in pids.items():  # each child led its own group: all of it is gone
            assert wait_for(lambda: not group_alive(leader), 10), f"{name} runs"  # noqa: B023
    finally:
        for pid in pids.values():
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        if sup is not None:
            stop(sup)
