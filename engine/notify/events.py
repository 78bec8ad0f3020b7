"""Emit a notification event into the outbox, honouring each event's on/silent/off mode.

Call `emit` inside the same code path that records the event; the notifier process sends
outbox rows with retry, so an outage of Discord/Telegram never blocks the caller.
"""

from __future__ import annotations

from engine.config import Config
from engine.config.secrets import Secrets, secrets_or_none
from engine.notify.redact import Redactor
from store import outbox
from store.db import Store, now

EVENTS = ("fill", "risk", "trading_state", "process", "trial", "best_value", "alert",
          "promotion", "capital", "summary")
LEVELS = ("info", "success", "warning", "failure")


def context_line(trader: str | None = None, model: str | None = None,
                 trial: int | str | None = None, study: str | None = None) -> str:
    """Every message names its trader, model and trial (the seed said 'Trial #unknown')."""
    parts = []
    if trader:
        parts.append(f"trader {trader}")
    if study:
        parts.append(f"study {study}")
    if trial is not None and trial != "":
        parts.append(f"trial #{trial}")
    if model:
        parts.append(f"model {model}")
    return " · ".join(parts)


def emit(store: Store, cfg: Config, event: str, title: str, body: str, level: str = "info",
         *, secrets: Secrets | None = None, trader: str | None = None,
         model: str | None = None, trial: int | str | None = None,
         study: str | None = None) -> int | None:
    """Queue one notification. Returns the outbox id, or None when the event is off."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    mode = getattr(cfg.notify.events, event)
    if mode == "off":
        return None
    ctx = context_line(trader, model, trial, study)
    text = f"{body}\n{ctx}" if ctx else body
    # Belt and braces: callers never put secrets in text, but nothing secret reaches the store.
    secrets = secrets if secrets is not None else secrets_or_none(cfg.secrets.key_file)
    redact = Redactor(secrets)
    title, text = redact(title), redact(text)
    t = now()
    return outbox.enqueue(store, event, level, title, text, silent=mode == "silent", at=t)
