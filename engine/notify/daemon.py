"""`cappuccino notify`: the notifier daemon (outbox → apprise) and the scheduled summary."""

from __future__ import annotations

import logging

from engine.config import Config
from engine.config.secrets import load_secrets
from engine.notify.redact import Redactor
from engine.notify.sender import AppriseTransport, SendResult, send_due
from engine.notify.summary import maybe_emit_summary
from engine.runtime import STALL_MARGIN_S, Heartbeat, open_store, stop_event
from store.db import StoreError, now
from store.outbox import next_due_at

log = logging.getLogger("cappuccino.notify")


def run(cfg: Config, once: bool = False) -> SendResult:
    """Send due rows until stopped (or once). Without apprise URLs rows wait in the outbox."""
    secrets = load_secrets(cfg.secrets.key_file)
    redactor = Redactor(secrets)
    urls = secrets.apprise_list
    transport = AppriseTransport(urls) if urls else None
    if transport is not None and transport.bad:
        log.error("%d apprise URL(s) not understood (scheme?); they are skipped",
                  len(transport.bad))
    if transport is None or transport.count == 0:
        log.warning("no usable apprise URLs (CAPPUCCINO_APPRISE_URLS or apprise_urls in the "
                    "key file): notifications wait in the outbox")
    store = open_store(cfg)
    stop = None if once else stop_event()
    total = SendResult(0, 0)
    try:
        with Heartbeat(cfg, stall_s=cfg.notify.poll_s + STALL_MARGIN_S) as hb:
            while True:
                hb.tick()
                try:
                    maybe_emit_summary(cfg, store, now())
                    if transport is not None and transport.count:
                        r = send_due(cfg, store, transport, redactor, now())
                        total = SendResult(total.sent + r.sent, total.failed + r.failed)
                except StoreError as e:
                    log.error("notifier: %s", e)
                if once or stop is None:
                    return total
                wait = cfg.notify.poll_s
                nxt = next_due_at(store, cfg.notify.max_attempts)
                if nxt is not None:
                    wait = min(wait, max(nxt - now(), 0.05))
                if stop.wait(wait):
                    return total
    finally:
        store.close()
