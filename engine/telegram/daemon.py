"""`cappuccino telegram`: long-poll the Bot API, answer allowed chats, report outcomes.

Each update's id is stored (kv "telegram.offset") before the update is acted on, and
getUpdates is always asked from that offset, so a restart never acts on an old update
again (at most once: a command from a crash's very moment is lost, never doubled).
Failed Bot API calls back off exponentially ([telegram] backoff_*). A heartbeat vouches
for the loop like every other daemon's.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass

from engine.config import Config
from engine.config.secrets import Secrets
from engine.notify.redact import Redactor
from engine.runtime import STALL_MARGIN_S, Heartbeat, open_store
from engine.telegram.api import ApiError, BotApi, Update
from engine.telegram.bot import Allowed, allowed_chats, answer, for_another_bot
from store import kv
from store.commands import get_command
from store.db import Store, StoreError

log = logging.getLogger("cappuccino.telegram")
KV_OFFSET = "telegram.offset"
PENDING_POLL_S = 1  # long-poll timeout while an outcome is awaited: report it promptly
SEEN_MAX = 100_000  # update ids remembered against replays (then forgotten at once)
REFUSAL_EVERY_S = 60.0  # a stranger gets the refusal at most this often (no amplifier)


class NotConfigured(Exception):
    """The bot is off or lacks a token or a chat id; the message says which."""


def check_configured(cfg: Config, secrets: Secrets) -> Allowed:
    if not cfg.telegram.enabled:
        raise NotConfigured(f"telegram: off ([telegram] enabled = false in {cfg.source})")
    if not secrets.telegram_bot_token:
        raise NotConfigured("telegram: no bot token (telegram_bot_token in the key file, or "
                            "CAPPUCCINO_TELEGRAM_TOKEN)")
    chats = allowed_chats(secrets.telegram_chat_ids)
    if not chats:
        raise NotConfigured("telegram: no allowed chat id (telegram_chat_ids in the key file, "
                            "or CAPPUCCINO_TELEGRAM_CHAT_IDS)")
    return Allowed(chats, allowed_chats(secrets.telegram_user_ids))


@dataclass
class Pending:
    command_id: int
    chat_id: int
    deadline: float


class TelegramBot:
    def __init__(self, cfg: Config, store: Store, api: BotApi, allowed: Allowed,
                 redactor: Redactor) -> None:
        self.cfg, self.store, self.api, self.allowed = cfg, store, api, allowed
        self.redact = redactor
        self.pending: list[Pending] = []
        self.failures = 0
        self.polling = False
        self.refused_at: dict[tuple[int, int | None], float] = {}
        self.seen: set[int] = set()  # update ids acted on by this process
        self.username: str | None = None  # the bot's own (getMe), known before any update

    def offset(self) -> int:
        raw = kv.get(self.store, KV_OFFSET)
        return int(raw) if raw and raw.lstrip("-").isdigit() else 0

    def send(self, chat_id: int, text: str) -> None:
        try:
            self.api.send_message(chat_id, self.redact(text))
        except ApiError as e:
            log.warning("reply to chat %s not sent: %s", chat_id, self.redact(str(e)))

    def handle(self, u: Update) -> None:
        chat_id = u.chat_id
        if chat_id is None or (self.username and for_another_bot(u.text, self.username)):
            return
        refusal = self.allowed.refusal(chat_id, u.user_id, u.chat_type)
        if refusal is not None:
            # The text is never logged: it may be anything a stranger typed.
            log.warning("refused a message from chat %s (user %s, %s chat): %s", chat_id,
                        u.user_id, u.chat_type or "unknown", refusal)
            key = (chat_id, u.user_id)
            last = self.refused_at.get(key)
            if last is None or time.monotonic() - last >= REFUSAL_EVERY_S:
                if len(self.refused_at) > 10_000:  # a flood of strangers: forget the oldest
                    self.refused_at.clear()
                self.refused_at[key] = time.monotonic()
                self.send(chat_id, refusal)
            return
        try:
            ans = answer(self.cfg, self.store, u.text)
        except StoreError as e:
            self.send(chat_id, f"store error: {e}")
            return
        if ans.command_id is not None:
            log.info("user %s in chat %s queued command #%d", u.user_id, chat_id,
                     ans.command_id)
            self.pending.append(Pending(ans.command_id, chat_id,
                                        time.monotonic() + self.cfg.telegram.outcome_wait_s))
        self.send(chat_id, ans.text)

    def report_outcomes(self) -> None:
        keep = []
        for p in self.pending:
            row = get_command(self.store, p.command_id)
            if row is not None and row.state in ("done", "failed"):
                word = "done" if row.state == "done" else "failed"
                self.send(p.chat_id, f"command #{p.command_id} {word}: {row.result or ''}")
            elif row is None or time.monotonic() > p.deadline:
                self.send(p.chat_id, f"command #{p.command_id} still "
                                     f"{row.state if row else 'missing'}: is the supervisor "
                                     "running? (/status)")
            else:
                keep.append(p)
        self.pending = keep

    def step(self) -> float:
        """One poll; returns how long to wait before the next (0, or a backoff)."""
        self.report_outcomes()
        timeout = PENDING_POLL_S if self.pending else self.cfg.telegram.poll_timeout_s
        offset = self.offset()
        self.polling = True  # a stop signal may end a long poll at once (nothing to lose)
        try:
            if self.username is None:  # no update is handled before it is known
                self.username = self.api.username()
            updates = self.api.get_updates(offset, timeout)
        except ApiError as e:
            self.polling = False
            self.failures += 1
            t = self.cfg.telegram
            wait = min(t.backoff_max_s, t.backoff_initial_s * 2.0 ** min(self.failures - 1, 30))
            log.warning("Bot API: %s; retrying in %.1fs", self.redact(str(e)), wait)
            return wait
        self.polling = False
        self.failures = 0
        for u in updates:
            # Acted on already: an endpoint that replays gets no second /halt. (Not "below
            # the offset": after a quiet week Telegram may pick the next id at random.)
            if u.update_id in self.seen:
                continue
            if len(self.seen) >= SEEN_MAX:
                self.seen.clear()
            self.seen.add(u.update_id)
            # Recorded before acting: a restart from here on never sees this update again.
            kv.put(self.store, KV_OFFSET, str(u.update_id + 1))
            self.handle(u)
        return 0.0


class _Stop(Exception):
    pass


def _stop_event(bot: TelegramBot) -> threading.Event:
    ev = threading.Event()

    def handler(*_: object) -> None:
        ev.set()
        if bot.polling:  # blocked in a long poll: end it now rather than after the timeout
            raise _Stop

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    return ev


def run(cfg: Config, secrets: Secrets) -> None:
    allowed = check_configured(cfg, secrets)
    api = BotApi(cfg.telegram.base_url, secrets.telegram_bot_token)
    store = open_store(cfg)
    t = cfg.telegram
    stall = t.poll_timeout_s + api.timeout_s + t.backoff_max_s + STALL_MARGIN_S
    log.info("telegram bot polling %s for %d allowed chat(s), %s", t.base_url,
             len(allowed.chats), f"{len(allowed.users)} allowed user(s)" if allowed.users
             else "private chats only (no telegram_user_ids)")
    groups = sorted(c for c in allowed.chats if c < 0)  # group and channel ids are negative
    if groups and not allowed.users:
        log.warning("telegram_chat_ids lists group chat(s) %s, but no telegram_user_ids: "
                    "the bot answers nobody there", ", ".join(map(str, groups[:5])))
    try:
        bot = TelegramBot(cfg, store, api, allowed, Redactor(secrets))
        stop = _stop_event(bot)
        with Heartbeat(cfg, stall_s=stall) as hb:
            while not stop.is_set():
                hb.tick()
                try:
                    wait = bot.step()
                except StoreError as e:
                    log.error("telegram: %s", e)
                    wait = t.backoff_initial_s
                if wait and stop.wait(wait):
                    break
    except _Stop:
        pass
    finally:
        store.close()
