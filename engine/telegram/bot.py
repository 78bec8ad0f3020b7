"""What one message from a chat asks, and the answer: read-only views or a command row.

Who is served (`Allowed.refusal`): a chat listed in telegram_chat_ids, and in it a sender
(the Bot API's message.from.id) listed in telegram_user_ids. Without a user list only a
private chat is served, whose id is its one user's id; in a group chat any member could
otherwise `/halt` or `/exit`, so there it answers nobody and says why. Anyone else gets a
fixed refusal and nothing is written. /halt /resume /exit become rows in the commands
table (source "telegram") after the supervisor's own check (validate_request), exactly
like the console's; the supervisor checks them again when it executes them, so the same
schemas and gates apply whatever this module does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.config import Config
from engine.supervisor.commands import Refused, validate_request
from store.commands import insert_command
from store.db import Store

SOURCE = "telegram"
REFUSAL = "This chat is not allowed to control Cappuccino."
USER_REFUSAL = "You are not allowed to control Cappuccino (telegram_user_ids)."
GROUP_REFUSAL = ("In a group chat Cappuccino answers only the users in telegram_user_ids "
                 "(CAPPUCCINO_TELEGRAM_USER_IDS), and none are listed: it answers nobody here.")
HELP = ("/status  supervisor, traders, trouble\n"
        "/profit  PnL per trader\n"
        "/daily  daily PnL, last 7 days\n"
        "/balance  equity, cash, positions\n"
        "/halt [TRADER|all]  halt one trader, or every trader (kill switch)\n"
        "/resume [TRADER|all]  let it trade again\n"
        "/exit TRADER [TICKER]  sell one position, or every one, to flat")
# "/cmd@botname args": the bot's own name may follow the command in group chats.
COMMAND_RE = re.compile(r"^/([a-z]{1,16})(?:@([A-Za-z0-9_]{1,64}))?(?:\s+(.*))?$", re.S)


def for_another_bot(text: str, username: str) -> bool:
    """A command addressed to another bot ("/halt@OtherBot all" in a shared group, which a
    bot without privacy mode receives too): not ours to act on, nor to answer."""
    m = COMMAND_RE.match(text.strip())
    return m is not None and m.group(2) is not None and m.group(2).lower() != username.lower()


def allowed_chats(raw: str) -> frozenset[int]:
    """Chat (or user) ids from the key file's comma/space separated list; anything else is
    ignored."""
    out = set()
    for part in raw.replace(",", " ").split():
        if re.fullmatch(r"-?[0-9]{1,20}", part):
            out.add(int(part))
    return frozenset(out)


@dataclass(frozen=True)
class Allowed:
    """The chats the bot serves, and the users it obeys in them."""

    chats: frozenset[int]
    users: frozenset[int] = frozenset()  # empty: private chats only (the chat is the user)

    def refusal(self, chat_id: int, user_id: int | None, chat_type: str) -> str | None:
        """None when this sender may use the bot in this chat, else the reply saying why not.
        Read-only views too: balances and positions are the operator's alone."""
        if chat_id not in self.chats:
            return REFUSAL
        if self.users:
            return None if user_id in self.users else USER_REFUSAL
        if chat_type == "private" and user_id == chat_id:
            return None
        return GROUP_REFUSAL


@dataclass(frozen=True)
class Answer:
    text: str
    command_id: int | None = None  # a queued command whose outcome the bot will report


def _queue(cfg: Config, store: Store, action: str, target: str | None,
           args: dict[str, object]) -> Answer:
    try:
        validate_request(cfg, action, target, args)
    except Refused as e:
        return Answer(f"refused: {e}")
    cid = insert_command(store, action, target, args, source=SOURCE)
    return Answer(f"queued command #{cid} ({action} {target or 'all'}); "
                  "I will report the outcome", cid)


def _switch(cfg: Config, store: Store, action: str, words: list[str]) -> Answer:
    if len(words) > 1:
        return Answer(f"usage: /{'halt' if action == 'halt_all' else 'resume'} [TRADER|all]")
    target = words[0] if words and words[0] != "all" else None
    return _queue(cfg, store, action, target, {"reason": "from Telegram"})


def _exit(cfg: Config, store: Store, words: list[str]) -> Answer:
    if not 1 <= len(words) <= 2:
        return Answer("usage: /exit TRADER [TICKER]")
    args: dict[str, object] = {"reason": "from Telegram"}
    if len(words) == 2:
        args["ticker"] = words[1].upper()
    return _queue(cfg, store, "exit", words[0], args)


def answer(cfg: Config, store: Store, text: str) -> Answer:
    """The answer to an allowed chat's message."""
    from engine.telegram import views

    m = COMMAND_RE.match(text.strip())
    if m is None:
        return Answer("commands:\n" + HELP)
    cmd, words = m.group(1), (m.group(3) or "").split()
    if cmd == "status":
        return Answer(views.status_text(cfg, store))
    if cmd == "profit":
        return Answer(views.profit_text(store))
    if cmd == "daily":
        return Answer(views.daily_text(store))
    if cmd == "balance":
        return Answer(views.balance_text(store))
    if cmd == "halt":
        return _switch(cfg, store, "halt_all", words)
    if cmd == "resume":
        return _switch(cfg, store, "resume", words)
    if cmd == "exit":
        return _exit(cfg, store, words)
    return Answer("commands:\n" + HELP)
