"""Secrets reach a supervised child through the environment only: never the store, logs or ps."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

CHILD = """
import os, sys, time
from engine.config.secrets import load_secrets
s = load_secrets(sys.argv[1], os.environ)
# Prove the child got every secret without ever printing one.
print("secrets present:", bool(s.coinbase_api_key and s.coinbase_api_secret
      and s.alpaca_api_key and s.alpaca_secret_key and s.apprise_urls), repr(s), flush=True)
open(sys.argv[2], "w").write("ok")
time.sleep(600)
"""


def test_secrets_never_reach_store_logs_or_ps(harness, script, tmp_path: Path) -> None:
    env_secret = "envsecret-" + secrets.token_hex(12)
    file_secret = "filesecret-" + secrets.token_hex(12)
    apprise = f"json://127.0.0.1:9/hook-{secrets.token_hex(8)}"
    key_file = tmp_path / "keys.toml"
    key_file.write_text(f'coinbase_api_key = "organizations/x/apiKeys/{file_secret}"\n'
                        f'alpaca_api_key = "{file_secret}-alpaca"\n')
    key_file.chmod(0o600)
    h = harness(f'[secrets]\nkey_file = "{key_file}"\n')
    env = dict(os.environ, COINBASE_API_SECRET=env_secret,
               APCA_API_SECRET_KEY=env_secret + "-alpaca", CAPPUCCINO_APPRISE_URLS=apprise)
    h.supervise(env=env)
    ready = tmp_path / "ready"
    argv = [*script("child.py", CHILD), str(key_file), str(ready)]
    assert h.command("start", "trader-x", {"kind": "exec", "argv": argv}).state == "done"
    h.wait_for(ready.exists, what="child ready")
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    status = h.cli("status", "--json", env=env).stdout
    assert h.command("stop", "trader-x").state == "done"

    log = Path(h.process("trader-x").log_path or "")
    assert "secrets present: True" in log.read_text()
    haystacks = {"ps": ps.encode(), "status": status.encode()}
    store = Path(h.cfg.store.path)
    for p in [store, *store.parent.glob(store.name + "*"), *Path(h.cfg.paths.logs).rglob("*"),
              *tmp_path.glob("supervise-*.out")]:
        if p.is_file():
            haystacks[str(p)] = p.read_bytes()
    assert len(haystacks) >= 5
    for needle in (env_secret, file_secret, apprise, apprise.split("/")[-1]):
        leaks = [where for where, data in haystacks.items() if needle.encode() in data]
        assert leaks == [], f"secret found in {leaks}"
