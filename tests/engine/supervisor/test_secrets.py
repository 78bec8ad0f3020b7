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


def _store_text(h, skip: set[tuple[str, str]]) -> bytes:
    """Every table's rows as text, except the columns holding the raw requests."""
    out = []
    with h.store() as s:
        tables = [r["name"] for r in s.query("SELECT name FROM sqlite_master WHERE type = "
                                             "'table' AND name NOT LIKE 'sqlite_%'")]
        for t in tables:
            for row in s.query(f"SELECT * FROM {t}"):  # noqa: S608 (names from the schema)
                out += [str(row[k]) for k in row.keys() if (t, k) not in skip]
    return "\n".join(out).encode()


def test_refusals_and_spawned_argv_never_carry_secrets(harness, tmp_path: Path) -> None:
    """The new paths: refused rows (outcome, alert, notification), the supervisor's log of
    them, and the argv of what the production supervisor spawns."""
    env_secret = "envsecret-" + secrets.token_hex(12)
    file_secret = "filesecret-" + secrets.token_hex(12)
    apprise = f"json://127.0.0.1:9/hook-{secrets.token_hex(8)}"
    key_file = tmp_path / "keys.toml"
    key_file.write_text(f'coinbase_api_key = "organizations/x/apiKeys/{file_secret}"\n')
    key_file.chmod(0o600)
    h = harness(f'[secrets]\nkey_file = "{key_file}"\n')
    env = dict(os.environ, COINBASE_API_SECRET=env_secret, CAPPUCCINO_APPRISE_URLS=apprise)
    h.supervise(env=env, production=True)
    # Requests that carry secrets, as a careless or hostile writer would send them.
    refused = [
        h.command("start", "x", {"kind": "exec", "argv": ["/bin/sh", "-c", env_secret]}),
        h.command("trade", None, {"name": "t", "model": "ensemble:1", env_secret: file_secret}),
        h.command("promote", None, {"to": "paper", "reason": apprise, "force": "yes"}),
        h.command("stop", env_secret, {}),  # fails (no such process), redacted
        h.command("capital", None, {"trader": "t", "capital": file_secret}),
    ]
    assert all(r.state == "failed" for r in refused), [r.result for r in refused]
    assert sum((r.result or "").startswith("refused: ") for r in refused) == 4
    started = h.command("start", "sampler")  # a real child, its argv built by the supervisor
    assert started.state == "done", started.result
    child = h.wait_state("sampler", "RUNNING")
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    argv = Path(f"/proc/{child.pid}/cmdline").read_bytes()
    environ_ok = env_secret.encode() in Path(f"/proc/{child.pid}/environ").read_bytes()
    assert h.command("stop", "sampler").state == "done"

    assert environ_ok  # the child got the secret, through its environment only
    haystacks = {"ps": ps.encode(), "sampler argv": argv, "supervisor log": h.output(1).encode(),
                 "store (all but the requests)": _store_text(h, {("commands", "args"),
                                                                 ("commands", "target")})}
    for p in Path(h.cfg.paths.logs).rglob("*"):
        if p.is_file():
            haystacks[str(p)] = p.read_bytes()
    with h.store() as s:
        assert s.query("SELECT id FROM outbox WHERE event = 'alert'")  # notifications exist
        assert len(s.query("SELECT id FROM alerts")) == 4  # one per refusal
    for needle in (env_secret, file_secret, apprise, apprise.split("/")[-1]):
        leaks = [where for where, data in haystacks.items() if needle.encode() in data]
        assert leaks == [], f"secret found in {leaks}"
