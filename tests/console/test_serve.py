"""`cappuccino-console --serve` serves the same app to a browser on localhost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_on_localhost(config_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "console.main", "--config", str(config_path), "--readonly",
         "--serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        page = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not page:
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/", timeout=2) as r:
                    page = r.read().decode()
            except OSError:
                time.sleep(0.3)
        assert "Cappuccino" in page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
