"""A key file owned by another account is refused, whatever its mode (as ssh refuses an
authorized_keys it does not own): its owner could swap in keys to an account of theirs, and
a supervisor run as root reads it all the same. Checked through the real CLI (`doctor`,
`check`-style loading via the trader's secrets) on a real file chowned to `nobody`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config.load import ConfigError
from engine.config.secrets import load_secrets

ROOT = Path(__file__).resolve().parents[3]


def nobody() -> int:
    import pwd

    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another account needs root")
def test_a_key_file_owned_by_another_account_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('coinbase_api_key = "organizations/OTHER-OWNER-KEY/apiKeys/z"\n')
    keys.chmod(0o600)
    os.chown(keys, nobody(), -1)
    with pytest.raises(ConfigError, match="owned by"):
        load_secrets(str(keys), environ={})
    # a symlink of ours to it changes nothing: the file read is what counts
    link = tmp_path / "link.toml"
    link.symlink_to(keys)
    with pytest.raises(ConfigError, match="owned by"):
        load_secrets(str(link), environ={})
    # the trader refuses to start on it: exit 2, one line, no key in the output
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text('[secrets]\nkey_file = "keys.toml"\n')
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CAPPUCCINO_", "COINBASE_", "APCA_"))}
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                           "trade", "--name", "x", "--model", "nowhere", "--broker", "sim"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-500:])
    assert "owned by" in proc.stderr and "OTHER-OWNER-KEY" not in proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_an_own_private_key_file_is_still_accepted(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('alpaca_api_key = "MINE"\n')
    keys.chmod(0o600)
    assert load_secrets(str(keys), environ={}).alpaca_api_key == "MINE"
