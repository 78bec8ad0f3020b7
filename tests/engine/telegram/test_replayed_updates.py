"""An update the bot has already acted on is never acted on again, whoever serves it.

The bot stores each update's id before acting and asks getUpdates from there; Telegram
honours that offset, but an endpoint that replays (a misbehaving proxy, a forged Bot API on
the loopback address tests use) would hand the same `/halt` back on every poll. The bot
remembers the ids it acted on and skips them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.engine.telegram.test_telegram_bot import (
    ALLOWED,
    TOKEN,
    cli,
    running,
    setup,
    telegram_rows,
    wait_for,
)
from tests.fakes.fake_telegram import FakeTelegram


class ReplayingTelegram(FakeTelegram):
    """A Bot API that ignores the offset: every getUpdates returns every update ever sent."""

    def _get_updates(self, body: dict[str, Any]) -> tuple[int, Any]:
        self.offsets.append(int(body.get("offset") or 0))
        time.sleep(0.05)
        return 200, {"ok": True, "result": [self.history[k] for k in sorted(self.history)]}


def test_a_replayed_update_is_acted_on_once(tmp_path: Path) -> None:
    with ReplayingTelegram(TOKEN) as fake:
        path, cfg = setup(tmp_path, fake)  # type: ignore[arg-type]
        uid = fake.say(ALLOWED, "/halt bot")
        with running(cli(path, "telegram")):
            wait_for(lambda: len(fake.offsets) > 20, "twenty polls")
        offsets = list(fake.offsets)
    rows = telegram_rows(cfg)
    assert len(rows) == 1, f"{len(rows)} commands from one message"
    assert sum("queued command" in t for t in fake.replies(ALLOWED)) == 1
    assert offsets[-1] == uid + 1
