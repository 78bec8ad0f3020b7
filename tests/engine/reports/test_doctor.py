"""`cappuccino doctor` reports each problem on its own line and exits 1 on a failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


def _doctor(cfg: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                           "doctor", *args], capture_output=True, text=True, env=full_env)


def test_group_readable_key_file_fails(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('alpaca_api_key = "AKFAKE1234"\n')
    keys.chmod(0o644)
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text(f'[secrets]\nkey_file = "{keys}"\n')
    out = _doctor(cfg)
    assert out.returncode == 1
    line = next(x for x in out.stdout.splitlines() if "key file" in x)
    assert line.startswith("FAIL") and "chmod 600" in line
    assert "AKFAKE1234" not in out.stdout + out.stderr


def test_corrupt_store_fails_and_is_not_recreated(tmp_path: Path) -> None:
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text("")
    db = tmp_path / "var" / "cappuccino.db"
    db.parent.mkdir()
    db.write_bytes(b"this is not sqlite" * 100)
    out = _doctor(cfg)
    assert out.returncode == 1
    assert any(x.startswith("FAIL") and "corrupt" in x for x in out.stdout.splitlines())
    assert db.read_bytes().startswith(b"this is not sqlite")


def test_notify_sends_a_test_message_to_a_local_receiver(tmp_path: Path) -> None:
    received: list[dict[str, object]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = tmp_path / "cappuccino.toml"
        cfg.write_text("")
        url = f"json://127.0.0.1:{server.server_address[1]}/hook"
        out = _doctor(cfg, "--notify", env={"CAPPUCCINO_APPRISE_URLS": url})
    finally:
        server.shutdown()
    line = next(x for x in out.stdout.splitlines() if x.split()[1] == "notify")
    assert line.startswith("OK"), out.stdout
    assert received and received[0]["title"] == "Cappuccino doctor"
    assert url not in out.stdout


HOLDER = r"""
import sys, time
from store.db import Store
s = Store(sys.argv[1])
with s.write():
    s.conn.execute("INSERT INTO kv VALUES ('held', '1', 0)")
print("ready", flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc")
def test_doctor_detects_a_split_store(tmp_path: Path) -> None:
    """A real process keeps writing to a -wal that was deleted under it: doctor says so."""
    root = Path(__file__).resolve().parents[3]
    cfg_path = tmp_path / "cappuccino.toml"
    cfg_path.write_text("")
    store = tmp_path / "var" / "cappuccino.db"
    env = {**os.environ, "PYTHONPATH": str(root)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], cwd=root, env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        doctor = [sys.executable, "-m", "engine.cli.main", "--config", str(cfg_path), "doctor"]
        before = subprocess.run(doctor, cwd=root, env=env, capture_output=True, text=True,
                                timeout=120)
        assert "OK    split store" in before.stdout, before.stdout
        Path(f"{store}-wal").unlink()  # what a process that lost its locks did (issue 10)
        after = subprocess.run(doctor, cwd=root, env=env, capture_output=True, text=True,
                               timeout=120)
        line = next(ln for ln in after.stdout.splitlines() if "split store" in ln)
        assert line.startswith("FAIL") and f"pid {holder.pid}" in line, after.stdout
        assert "cappuccino.db-wal" in line and after.returncode == 1
    finally:
        holder.kill()
        holder.wait()


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def test_doctor_waits_for_a_locked_store_as_long_as_busy_timeout_s(tmp_path: Path) -> None:
    """[store] busy_timeout_s is how long a write waits for another process's lock; the
    doctor's open migrates an old store (a write), so it waits that long too, not 10 s."""
    import shutil
    import time

    old = Path(__file__).resolve().parents[2] / "store" / "data" / "v0001.db"
    db = tmp_path / "cappuccino.db"
    shutil.copy(old, db)  # schema 1: opening it migrates
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text('[store]\npath = "cappuccino.db"\nbusy_timeout_s = 90.0\n')
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(db), "12"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        t0 = time.monotonic()
        out = _doctor(cfg)
        waited = time.monotonic() - t0
    finally:
        holder.wait(timeout=120)
    line = next(x for x in out.stdout.splitlines() if x.split()[1:2] == ["store"])
    assert line.startswith("OK") and "integrity ok" in line, out.stdout
    assert waited > 10.5  # it outlasted the old fixed 10 s and then migrated


def test_notify_warns_when_the_running_supervisor_cannot_see_the_targets(
        tmp_path: Path) -> None:
    """CAPPUCCINO_APPRISE_URLS exported after the supervisor started never reaches its
    notifier (children inherit the supervisor's environment): doctor says so instead of
    OK, and never prints the URL. A key file is read at every start: no warning then."""
    import contextlib
    import signal
    import time

    from engine.config import load_config
    from engine.supervisor.lock import holder, lock_path

    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text("[supervisor]\nservices = []\npoll_s = 0.1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    sup = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                            "supervise"], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    store = load_config(cfg, environ={}).store.path
    url = "json://127.0.0.1:9/hook"
    try:
        deadline = time.monotonic() + 60
        while holder(lock_path(store)) != sup.pid and time.monotonic() < deadline:
            time.sleep(0.2)
        assert holder(lock_path(store)) == sup.pid, "the supervisor did not start"
        out = _doctor(cfg, env={"CAPPUCCINO_APPRISE_URLS": url})
        line = next(x for x in out.stdout.splitlines() if x.split()[1] == "notify")
        assert line.startswith("WARN") and f"supervisor (pid {sup.pid})" in line, line
        assert url not in out.stdout + out.stderr
        keys = tmp_path / "keys.toml"
        keys.write_text(f'apprise_urls = "{url}"\n')
        keys.chmod(0o600)
        cfg.write_text(cfg.read_text() + f'[secrets]\nkey_file = "{keys}"\n')
        out = _doctor(cfg)
        line = next(x for x in out.stdout.splitlines() if x.split()[1] == "notify")
        assert line.startswith("OK"), line
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sup.pid, signal.SIGTERM)
        sup.wait(30)
