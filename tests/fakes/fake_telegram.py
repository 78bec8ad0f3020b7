"""A fake Telegram Bot API (getMe, getUpdates, sendMessage) on 127.0.0.1.

Requests go to /bot<TOKEN>/<method> with a JSON body, as the documented Bot API takes
them; a wrong token answers 401 {"ok": false, ...}. Like Telegram, getUpdates with an
offset confirms (forgets) every update below it, and with none waiting it long-polls up
to its `timeout` (capped at MAX_POLL_S here). `say(chat_id, text[, user_id])` queues a
user's message (a private chat, or a group member's);
`sent` holds every sendMessage as (chat_id, text); `wait_sent` polls for one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from tests.fakes.server import FakeServer, Request

MAX_POLL_S = 5.0


class FakeTelegram(FakeServer):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.username = "cappuccino_fake_bot"  # getMe's answer
        self.updates: list[dict[str, Any]] = []
        self.history: dict[int, dict[str, Any]] = {}  # every update ever queued
        self.next_update_id = 1000
        self.sent: list[tuple[int, str]] = []
        self.offsets: list[int] = []  # every getUpdates offset asked for, in order
        self._cond = threading.Condition(self.lock)

    # ---- the user's side ---------------------------------------------------------------
    def say(self, chat_id: int, text: str, user_id: int | None = None,
            chat_type: str | None = None) -> int:
        """A message from user `user_id` (default: the chat's own user, a private chat) in
        chat `chat_id`; a user other than the chat's is a member of a group chat."""
        user = chat_id if user_id is None else user_id
        kind = chat_type or ("private" if user == chat_id else "supergroup")
        with self._cond:
            uid = self.next_update_id
            self.next_update_id += 1
            self.updates.append({"update_id": uid, "message": {
                "message_id": uid, "date": int(time.time()), "text": text,
                "chat": {"id": chat_id, "type": kind},
                "from": {"id": user, "is_bot": False, "first_name": "op"}}})
            self.history[uid] = self.updates[-1]
            self._cond.notify_all()
            return uid

    def redeliver(self, update_id: int) -> None:
        """Offer an update again, as Telegram does when its confirmation never came (the
        bot died before its next getUpdates)."""
        with self._cond:
            self.updates = sorted([*self.updates, self.history[update_id]],
                                  key=lambda u: u["update_id"])
            self._cond.notify_all()

    def replies(self, chat_id: int) -> list[str]:
        with self.lock:
            return [t for c, t in self.sent if c == chat_id]

    def wait_sent(self, pred: Callable[[int, str], bool], timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for c, t in self.sent:
                    if pred(c, t):
                        return t
            time.sleep(0.05)
        raise AssertionError(f"no matching sendMessage within {timeout}s; sent: {self.sent}")

    # ---- the Bot API -------------------------------------------------------------------
    def route(self, req: Request) -> tuple[int, Any]:
        parts = req.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != f"bot{self.token}":
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        body = req.body if isinstance(req.body, dict) else {}
        if parts[1] == "getUpdates":
            return self._get_updates(body)
        if parts[1] == "getMe":
            return 200, {"ok": True, "result": {"id": 4242,
                                                "is_bot": True, "first_name": "Cappuccino",
                                                "username": self.username}}
        if parts[1] == "sendMessage":
            if not isinstance(body.get("chat_id"), int) or not isinstance(body.get("text"), str):
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request"}
            self.sent.append((body["chat_id"], body["text"]))
            return 200, {"ok": True, "result": {"message_id": len(self.sent),
                                                "chat": {"id": body["chat_id"]},
                                                "text": body["text"]}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def _get_updates(self, body: dict[str, Any]) -> tuple[int, Any]:
        offset = int(body.get("offset") or 0)
        self.offsets.append(offset)
        # Confirmed updates are gone for good, as on Telegram's servers.
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        wait = min(float(body.get("timeout") or 0), MAX_POLL_S)
        deadline = time.monotonic() + wait
        while not self.updates and not self._closing.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._cond.wait(min(left, 0.2))  # releases the server's lock while waiting
        return 200, {"ok": True, "result": list(self.updates[:100])}
