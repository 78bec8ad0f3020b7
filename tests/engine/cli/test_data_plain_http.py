"""`data fetch --source alpaca --base-url http://<not this machine>` is refused, as its help
says and as the trader's own override is: candles over plain http from another host could be
rewritten on the way and train every model that follows. Exit 2 with one line, and nothing
reaches a listener on this machine's network address."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.telegram.test_plain_http import outward_address

ROOT = Path(__file__).resolve().parents[3]


def test_alpaca_fetch_over_plain_http_beyond_loopback_is_refused(tmp_path: Path) -> None:
    addr = outward_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address to listen on")
    with socket.socket() as listener:
        listener.bind((addr, 0))
        listener.listen(4)
        listener.settimeout(0.5)
        cfg = tmp_path / "cappuccino.toml"
        cfg.write_text("")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPPUCCINO_", "APCA_"))}
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine.cli.main", "--config", str(cfg), "data", "fetch",
             "--source", "alpaca", "--tickers", "BTC-USD", "--timeframe", "1h", "--days", "1",
             "--base-url", f"http://{addr}:{listener.getsockname()[1]}", "--no-progress"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        reached = False
        deadline_polls = 0
        while proc.poll() is None and deadline_polls < 120:
            try:
                conn, _ = listener.accept()
                conn.close()
                reached = True
                break
            except OSError:
                deadline_polls += 1
        if proc.poll() is None:
            proc.kill()
        _out, err = proc.communicate(timeout=30)
    assert not reached, "the fetch went out over plain http"
    assert proc.returncode == 2, (proc.returncode, err[-500:])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "--base-url" in lines[0] and "loopback" in lines[0], err
