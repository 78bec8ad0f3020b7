"""The bot's token never crosses the network in clear text.

The token is in every Bot API URL (`/bot<TOKEN>/getUpdates`), and whoever answers getUpdates
can forge a message from an allowed chat (chat ids are no secret): `/exit` sells. So a
`[telegram] base_url` with plain http to a host other than this machine is refused at
start (exit 2, one line naming the key), like the exchanges' base URLs. A listener on this
machine's own network address, standing in for anyone on the path, must receive nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "123456789:AAH-plain-http-token-SECRET-zz"


def outward_address() -> str | None:
    """This machine's address on its network (not loopback); None where it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # UDP: no packet is sent, the route picks the address
            addr = str(s.getsockname()[0])
        except OSError:
            return None
    return None if addr.startswith("127.") or addr == "0.0.0.0" else addr


def test_plain_http_beyond_loopback_is_refused_and_the_token_never_leaves(tmp_path: Path) -> None:
    addr = outward_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address to listen on")
    listener = socket.socket()
    listener.bind((addr, 0))
    listener.listen(4)
    listener.settimeout(0.2)
    got: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    got.append(conn.recv(65536))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    keys = tmp_path / "keys.toml"
    keys.write_text(f'telegram_bot_token = "{TOKEN}"\ntelegram_chat_ids = "4242"\n')
    keys.chmod(0o600)
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text(f'[secrets]\nkey_file = "keys.toml"\n[telegram]\nenabled = true\n'
                   f'base_url = "http://{addr}:{listener.getsockname()[1]}"\n'
                   'poll_timeout_s = 1\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                             "telegram"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # the old code polls on forever over plain http
        proc.kill()
        out, err = proc.communicate()
    finally:
        time.sleep(0.5)
        stop.set()
        thread.join(5)
        listener.close()
    assert not [b for b in got if TOKEN.encode() in b], "the token went out in clear text"
    assert got == []
    assert proc.returncode == 2, (proc.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "base_url" in lines[0] and "Traceback" not in err, err
    assert TOKEN not in out + err


def test_loopback_http_and_https_are_accepted(make_config) -> None:  # type: ignore[no-untyped-def]
    for url in ("http://127.0.0.1:8081", "http://localhost:9", "http://[::1]:9",
                "https://api.telegram.org", "https://bots.example.net/tg"):
        assert make_config(f'[telegram]\nbase_url = "{url}"\n').telegram.base_url == url
