"""The two Bot API methods the bot needs (getUpdates, sendMessage), over plain HTTP.

Plain stdlib HTTP rather than python-telegram-bot: that library is not in this project's
package index, and the bot needs only two documented methods with a configurable address
(tests point it at a local fake). The token is part of every URL
(`{base_url}/bot{TOKEN}/{method}`), so no error text from here ever carries a URL: every
message is redacted of the token before it leaves this module.
"""

from __future__ import annotations

import contextlib
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 4096  # the Bot API's limit on one message


class ApiError(Exception):
    """A Bot API call failed; the text never holds the token."""


@dataclass(frozen=True)
class Update:
    update_id: int
    chat_id: int | None
    text: str
    user_id: int | None = None  # message.from.id: who wrote it (absent: a channel, ...)
    chat_type: str = ""         # message.chat.type: private, group, supergroup, channel


def _update(raw: Any) -> Update | None:
    """The fields we use from one update, or None when it is not an update at all."""
    if not isinstance(raw, dict) or not isinstance(raw.get("update_id"), int):
        return None
    # Only new messages: an edited "/halt" must not act a second time.
    msg = raw.get("message") or {}
    chat = msg.get("chat") if isinstance(msg, dict) else None
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    chat_type = chat.get("type") if isinstance(chat, dict) else None
    sender = msg.get("from") if isinstance(msg, dict) else None
    user_id = sender.get("id") if isinstance(sender, dict) else None
    text = msg.get("text") if isinstance(msg, dict) else None
    return Update(raw["update_id"], chat_id if isinstance(chat_id, int) else None,
                  text if isinstance(text, str) else "",
                  user_id if isinstance(user_id, int) and not isinstance(user_id, bool)
                  else None, chat_type if isinstance(chat_type, str)
                  and re.fullmatch(r"[a-z]{1,16}", chat_type) else "")


class BotApi:
    def __init__(self, base_url: str, token: str, timeout_s: float = 10.0) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s

    def _clean(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text

    def call(self, method: str, params: dict[str, Any], timeout_s: float | None = None) -> Any:
        """POST params as JSON; the `result` of an ok answer, else ApiError."""
        req = urllib.request.Request(
            f"{self._base}/bot{self._token}/{method}", data=json.dumps(params).encode(),
            headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout_s or self.timeout_s) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            detail = ""
            with contextlib.suppress(ValueError, AttributeError, OSError):
                detail = str(json.loads(e.read()).get("description", ""))[:200]
            raise ApiError(self._clean(f"{method}: HTTP {e.code} {detail}".strip())) from None
        except OSError as e:  # URLError, timeouts, resets
            reason = getattr(e, "reason", None) or e
            raise ApiError(self._clean(f"{method}: {reason}")) from None
        try:
            doc = json.loads(body)
        except ValueError:
            raise ApiError(f"{method}: answer is not JSON") from None
        if not isinstance(doc, dict) or not doc.get("ok"):
            desc = str(doc.get("description", "")) if isinstance(doc, dict) else ""
            raise ApiError(self._clean(f"{method}: not ok {desc[:200]}".strip()))
        return doc.get("result")

    def get_updates(self, offset: int, timeout_s: int) -> list[Update]:
        """Updates from `offset` on; asking with an offset confirms every earlier one, so
        the server never hands them out again."""
        result = self.call("getUpdates", {"offset": offset, "timeout": timeout_s,
                                          "allowed_updates": ["message"]},
                           timeout_s=timeout_s + self.timeout_s)
        if not isinstance(result, list):
            raise ApiError("getUpdates: result is not a list")
        return [u for u in map(_update, result) if u is not None]

    def username(self) -> str:
        """The bot's own @username (getMe): a command addressed to another bot is not ours."""
        result = self.call("getMe", {})
        name = result.get("username") if isinstance(result, dict) else None
        if not isinstance(name, str) or not name:
            raise ApiError("getMe: no username in the answer")
        return name

    def send_message(self, chat_id: int, text: str) -> None:
        self.call("sendMessage", {"chat_id": chat_id, "text": text[:MAX_TEXT],
                                  "disable_web_page_preview": True})
