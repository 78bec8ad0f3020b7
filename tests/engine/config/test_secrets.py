"""Secrets: a private key file or the environment; never shown by repr; redact() hides them."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import ConfigError, load_config
from engine.config.secrets import (
    Secrets,
    load_secrets,
    read_key_file,
    redact,
    secrets_or_none,
)

KEY_FILE = (
    'coinbase_api_key = "organizations/o1/apiKeys/k1"\n'
    'coinbase_api_secret = "-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEIFAKE\\n-----END EC '
    'PRIVATE KEY-----\\n"\n'
    'alpaca_api_key = "PKFILEKEY123"\n'
    'alpaca_secret_key = "file-secret-abcdef"\n'
    'apprise_urls = "tgram://123456:tokenTOKEN/777 json://127.0.0.1:9/hook?token=s3cr3t"\n')


def key_file(tmp_path: Path, mode: int = 0o600, text: str = KEY_FILE) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_key_file_readable_by_others_refused(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, mode)
    with pytest.raises(ConfigError) as e:
        load_secrets(str(path), environ={})
    msg = str(e.value)
    assert str(path) in msg and f"{mode:04o}" in msg and f"chmod 600 {path}" in msg
    assert "file-secret" not in msg  # the refusal never echoes the content


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_key_file_accepted(tmp_path: Path, mode: int) -> None:
    s = load_secrets(str(key_file(tmp_path, mode)), environ={})
    assert s.alpaca_api_key == "PKFILEKEY123"
    assert s.coinbase_api_secret.startswith("-----BEGIN EC PRIVATE KEY-----\n")
    assert s.apprise_list == ["tgram://123456:tokenTOKEN/777",
                              "json://127.0.0.1:9/hook?token=s3cr3t"]


def test_env_wins_over_key_file(tmp_path: Path) -> None:
    s = load_secrets(str(key_file(tmp_path)), environ={
        "APCA_API_KEY_ID": "PKENVKEY999", "CAPPUCCINO_APPRISE_URLS": "ntfy://topic-env"})
    assert s.alpaca_api_key == "PKENVKEY999"  # env
    assert s.alpaca_secret_key == "file-secret-abcdef"  # file, env silent
    assert s.apprise_list == ["ntfy://topic-env"]


def test_environment_only() -> None:
    s = load_secrets("", environ={"COINBASE_API_KEY": "organizations/o/apiKeys/env"})
    assert s.coinbase_api_key == "organizations/o/apiKeys/env"
    assert s.alpaca_api_key == "" and s.apprise_list == []


@pytest.mark.parametrize("text, match", [
    ("alpaca_api_key = \n", "not valid TOML"),
    ("alpaca_key = \"x\"\n", "unknown key 'alpaca_key'"),
    ("alpaca_api_key = 12345\n", "'alpaca_api_key' must be a string"),
])
def test_bad_key_file(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        read_key_file(key_file(tmp_path, text=text))


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="keys.toml: key file not found"):
        load_secrets(str(tmp_path / "keys.toml"), environ={})


def test_repr_never_shows_values(tmp_path: Path) -> None:
    s = load_secrets(str(key_file(tmp_path)), environ={})
    shown = " ".join([repr(s), str(s), f"{s}", f"{s!r}", repr([s]), repr({"s": s})])
    for value in s.values():
        assert value not in shown
    for piece in ("tokenTOKEN", "s3cr3t", "PKFILEKEY123", "MHcCAQEEIFAKE"):
        assert piece not in shown
    assert "alpaca_api_key" in repr(s)  # names of the secrets present, for diagnosis


def test_redact_hides_every_value(tmp_path: Path) -> None:
    s = load_secrets(str(key_file(tmp_path)), environ={})
    text = (f"key={s.alpaca_api_key} secret={s.alpaca_secret_key} cb={s.coinbase_api_key} "
            f"url={s.apprise_list[1]} all={s.apprise_urls}")
    out = redact(text, s)
    for value in s.values():
        assert value not in out
    assert out.startswith("key=*** secret=*** cb=*** url=*** all=")
    assert redact("nothing secret here", s) == "nothing secret here"
    assert redact("abc", Secrets()) == "abc"


def test_key_file_path_from_config_is_relative_to_it(tmp_path: Path) -> None:
    key_file(tmp_path)
    cfg_path = tmp_path / "c.toml"
    cfg_path.write_text("[secrets]\nkey_file = \"keys.toml\"\n")
    cfg = load_config(cfg_path, environ={})
    assert cfg.secrets.key_file == str(tmp_path / "keys.toml")
    assert load_secrets(cfg.secrets.key_file, environ={}).alpaca_api_key == "PKFILEKEY123"


def test_secrets_or_none_is_empty_for_a_refused_key_file_and_loads_a_private_one(
        tmp_path: Path) -> None:
    refused = secrets_or_none(str(key_file(tmp_path, 0o644)))
    assert refused == Secrets() and not any(refused.values())
    assert secrets_or_none(str(key_file(tmp_path, 0o600))).alpaca_api_key == "PKFILEKEY123"
