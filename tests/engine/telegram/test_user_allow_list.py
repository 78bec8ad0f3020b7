"""In an allowed group chat, only allowed users (message.from.id) command the bot.

The allow-list was by chat id: any member of an allowed group chat could `/halt`, `/resume`
or `/exit`. Now a chat must be in telegram_chat_ids and its sender in telegram_user_ids
(key file or CAPPUCCINO_TELEGRAM_USER_IDS). Without a user list a private chat still works
(its id is its one user's) and a group chat is answered with the reason, nothing else.
Real processes: a supervisor, `cappuccino telegram`, the fake Bot API on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import Config
from engine.supervisor.client import supervisor_status
from engine.telegram.bot import GROUP_REFUSAL, USER_REFUSAL, Allowed
from store.db import Store
from store.trading import halt_flags
from tests.engine.telegram.test_telegram_bot import (
    ALLOWED,
    ROOT,
    STRANGER,
    cli,
    env,
    running,
    setup,
    telegram_rows,
    wait_for,
)
from tests.fakes.fake_telegram import FakeTelegram

GROUP = -1001234567890  # a supergroup's chat id, listed in telegram_chat_ids
OPERATOR = 5550001      # a group member listed in telegram_user_ids


def group_setup(tmp: Path, fake: FakeTelegram, users: str | None) -> tuple[Path, Config]:
    path, cfg = setup(tmp, fake)
    keys = tmp / "keys.toml"
    text = keys.read_text().replace(f'"{ALLOWED}, 17"', f'"{ALLOWED}, {GROUP}"')
    keys.write_text(text + (f'telegram_user_ids = "{users}"\n' if users is not None else ""))
    return path, cfg


def halted(cfg: Config) -> bool:
    with Store(cfg.store.path, check=False) as store:
        return bool(halt_flags(store, "bot")[0])


def served(fake: FakeTelegram, chat: int, text: str, user: int | None = None) -> str:
    """Say `text`; the reply to it (the command's outcome for a queued one)."""
    before = len(fake.replies(chat))
    fake.say(chat, text, user)
    wait_for(lambda: len(fake.replies(chat)) > before, f"a reply to {text!r}")
    return fake.replies(chat)[before]


@pytest.fixture
def fake() -> FakeTelegram:
    with FakeTelegram("123456789:AAH-fake-bot-token-SECRET-value-xyz") as srv:
        yield srv  # type: ignore[misc]


def test_without_a_user_list_a_group_chat_commands_nothing(tmp_path: Path,
                                                          fake: FakeTelegram) -> None:
    path, cfg = group_setup(tmp_path, fake, users=None)
    bot = cli(path, "telegram")
    with running(cli(path, "supervise")), running(bot):
        wait_for(lambda: supervisor_status(cfg)[0], "supervisor")
        # a member of the allowed group, not the operator: no halt
        assert served(fake, GROUP, "/halt all", STRANGER) == GROUP_REFUSAL
        # nobody, in a group without a user list (its id is no user's)
        fake.say(GROUP, "/status", ALLOWED)
        fake.say(GROUP, "/balance", OPERATOR)
        # the operator's private chat still works, and its /halt halts
        assert served(fake, ALLOWED, "/halt bot").startswith("queued command #")
        wait_for(lambda: halted(cfg), "the operator's halt")
        replies = fake.replies(GROUP)
        assert replies and all(r == GROUP_REFUSAL for r in replies), replies
        assert not any("equity" in r or "cash" in r for r in replies)
    rows = telegram_rows(cfg)
    assert [(r.action, r.target) for r in rows] == [("halt_all", "bot")], rows
    assert bot.stdout is not None
    out = bot.stdout.read().decode()
    assert f"group chat(s) {GROUP}, but no telegram_user_ids" in out, out  # said at start
    assert f"refused a message from chat {GROUP} (user {STRANGER}, supergroup chat)" in out
    assert "/halt all" not in out  # what a stranger typed is never logged


def test_a_user_list_lets_only_its_users_command(tmp_path: Path, fake: FakeTelegram) -> None:
    path, cfg = group_setup(tmp_path, fake, users="")
    # the user list from the environment, as from the key file
    bot_env = dict(env(), CAPPUCCINO_TELEGRAM_USER_IDS=f"{OPERATOR}")
    sup = cli(path, "supervise")
    bot = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(path),
                            "telegram"], cwd=ROOT, env=bot_env, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with running(sup), running(bot):
        wait_for(lambda: supervisor_status(cfg)[0], "supervisor")
        # a stranger in the allowed group: refused, nothing written, nothing halted
        assert served(fake, GROUP, "/halt bot", STRANGER) == USER_REFUSAL
        assert served(fake, GROUP, "/exit bot", STRANGER + 1) == USER_REFUSAL
        assert telegram_rows(cfg) == [] and not halted(cfg)
        # the listed user, in the same group: halted through the supervisor
        assert served(fake, GROUP, "/halt bot", OPERATOR).startswith("queued command #")
        wait_for(lambda: halted(cfg), "the listed user's halt")
        # a stranger's /resume does not undo it
        fake.say(GROUP, "/resume bot", STRANGER)
        # with a user list it is the rule in a private chat too: the chat's user is not on it
        assert served(fake, ALLOWED, "/resume bot") == USER_REFUSAL
        assert served(fake, GROUP, "/status", OPERATOR).startswith("supervisor")
        assert halted(cfg)
    rows = telegram_rows(cfg)
    assert [(r.action, r.target, r.state) for r in rows] == [("halt_all", "bot", "done")], rows
    assert fake.replies(GROUP).count(USER_REFUSAL) == 2  # one per stranger and minute


def test_the_rule() -> None:
    none = Allowed(frozenset({ALLOWED, GROUP}))
    assert none.refusal(ALLOWED, ALLOWED, "private") is None
    assert none.refusal(ALLOWED, STRANGER, "private") == GROUP_REFUSAL  # not its own user
    assert none.refusal(GROUP, ALLOWED, "supergroup") == GROUP_REFUSAL
    assert none.refusal(GROUP, GROUP, "supergroup") == GROUP_REFUSAL  # an anonymous admin
    assert none.refusal(STRANGER, STRANGER, "private") is not None
    some = Allowed(frozenset({ALLOWED, GROUP}), frozenset({OPERATOR}))
    assert some.refusal(GROUP, OPERATOR, "group") is None
    assert some.refusal(GROUP, None, "group") == USER_REFUSAL  # no sender (a channel post)
    assert some.refusal(STRANGER, OPERATOR, "private") is not None  # the chat must be listed


def test_a_command_to_another_bot_in_the_group_is_not_ours(tmp_path: Path,
                                                          fake: FakeTelegram) -> None:
    """In a group shared with other bots, "/halt@OtherBot all" from the operator was acted
    on (any @name was accepted): a bot without privacy mode receives it too. Only a command
    to no bot or to this bot (getMe's username, any case) is ours."""
    path, cfg = group_setup(tmp_path, fake, users=f"{OPERATOR}")
    with running(cli(path, "supervise")), running(cli(path, "telegram")):
        wait_for(lambda: supervisor_status(cfg)[0], "supervisor")
        fake.say(GROUP, "/halt@other_trading_bot bot", OPERATOR)
        fake.say(GROUP, "/exit@SomeBot bot", STRANGER)  # not even refused: not to us
        assert served(fake, GROUP, "/status@Cappuccino_Fake_Bot", OPERATOR).startswith(
            "supervisor")
        assert len(fake.replies(GROUP)) == 1 and telegram_rows(cfg) == [] and not halted(cfg)
        assert served(fake, GROUP, f"/halt@{fake.username} bot", OPERATOR).startswith(
            "queued command #")
        wait_for(lambda: halted(cfg), "the halt addressed to this bot")
    rows = telegram_rows(cfg)
    assert [(r.action, r.target) for r in rows] == [("halt_all", "bot")], rows
