"""Secrets come from the environment or a 0600 TOML key file, nowhere else.

The values never go to the store, logs, notifications or argv. `Secrets.__repr__`
masks them so an accidental log line shows nothing.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from engine.config.load import ConfigError

# Environment names follow each SDK's own convention.
ENV_NAMES = {
    "coinbase_api_key": "COINBASE_API_KEY",
    "coinbase_api_secret": "COINBASE_API_SECRET",
    "alpaca_api_key": "APCA_API_KEY_ID",
    "alpaca_secret_key": "APCA_API_SECRET_KEY",
    "apprise_urls": "CAPPUCCINO_APPRISE_URLS",
    "telegram_bot_token": "CAPPUCCINO_TELEGRAM_TOKEN",
    "telegram_chat_ids": "CAPPUCCINO_TELEGRAM_CHAT_IDS",
    "telegram_user_ids": "CAPPUCCINO_TELEGRAM_USER_IDS",
}


NOT_REDACTED = frozenset({"telegram_chat_ids", "telegram_user_ids"})


@dataclass(frozen=True)
class Secrets:
    coinbase_api_key: str = field(default="", repr=False)
    coinbase_api_secret: str = field(default="", repr=False)
    alpaca_api_key: str = field(default="", repr=False)
    alpaca_secret_key: str = field(default="", repr=False)
    # Whitespace- or comma-separated apprise URLs; their tokens are secrets.
    apprise_urls: str = field(default="", repr=False)
    # Phone control: the bot's token, the chat ids it serves, and the user ids (message.from)
    # allowed to use it in those chats (comma/space; engine.telegram.bot.Allowed).
    telegram_bot_token: str = field(default="", repr=False)
    telegram_chat_ids: str = field(default="", repr=False)
    telegram_user_ids: str = field(default="", repr=False)

    def __repr__(self) -> str:
        present = [f.name for f in fields(self) if getattr(self, f.name)]
        return f"Secrets(present={present})"

    @property
    def apprise_list(self) -> list[str]:
        return [u for u in self.apprise_urls.replace(",", " ").split() if u]

    def values(self) -> list[str]:
        """Every non-empty secret value, plus each apprise URL on its own (for redaction).
        The Telegram chat and user ids are allow-lists, not credentials: redacting them would
        garble any figure that happens to contain the same digits."""
        vals = [getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) and f.name not in NOT_REDACTED]
        return vals + self.apprise_list


def read_key_file(path: Path) -> dict[str, str]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: key file not found") from None
    if st.st_uid not in (os.geteuid(), 0):
        # Its owner could swap in keys to an account of theirs (root reads it regardless).
        raise ConfigError(f"{path}: key file is owned by uid {st.st_uid}, not by this "
                          f"account (uid {os.geteuid()}); run: chown {os.geteuid()} {path}")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: key file is open to group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{path}: key file is not valid TOML") from None
    unknown = sorted(set(data) - set(ENV_NAMES))
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (expected one of {sorted(ENV_NAMES)})")
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise ConfigError(f"{path}: key {bad[0]!r} must be a string")
    return data


def load_secrets(key_file: str = "", environ: Mapping[str, str] | None = None) -> Secrets:
    """Key file first, environment wins where both give a value."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    if key_file:
        values.update(read_key_file(Path(key_file)))
    for name, env in ENV_NAMES.items():
        if environ.get(env):
            values[name] = environ[env]
    return Secrets(**values)



def secrets_or_none(key_file: str = "") -> Secrets:
    """load_secrets, or no secrets when the key file is unreadable or refused: for what
    must not fail on it (a notification, redacting an outcome); what needs a secret then
    finds it missing and says so."""
    try:
        return load_secrets(key_file)
    except ConfigError:
        return Secrets()

def redact(text: str, secrets: Secrets) -> str:
    for value in sorted(secrets.values(), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text
