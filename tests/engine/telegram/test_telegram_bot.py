"""The Telegram bot end to end: a real supervisor runs `cappuccino telegram` as a service,
against a local fake Bot API; real store, real processes, real signals."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import psutil
import pytest

from engine.config import Config, load_config
from engine.supervisor.client import supervisor_status
from engine.telegram.bot import REFUSAL
from store.alerts import insert_alert
from store.commands import recent_commands
from store.db import Store
from store.processes import get_process
from store.trading import halt_flags, set_trader_fields, upsert_trader
from tests.fakes.fake_telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "123456789:AAH-fake-bot-token-SECRET-value-xyz"
OTHER_SECRET = "organizations/abc/apiKeys/SECRET-KEY-VALUE-42"
ALLOWED = 4242001
STRANGER = 666999
FAST = """
[supervisor]
poll_s = 0.1
heartbeat_s = 0.3
backoff_initial_s = 0.2
backoff_max_s = 1
stop_grace_s = 2
stale_heartbeats = 30
services = {services}

[secrets]
key_file = "keys.toml"

[telegram]
enabled = true
base_url = "{url}"
poll_timeout_s = 1
backoff_initial_s = 0.1
backoff_max_s = 0.5
outcome_wait_s = 60
"""


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN) as srv:
        yield srv  # type: ignore[misc]


def setup(tmp: Path, fake: FakeTelegram, services: str = "[]") -> tuple[Path, Config]:
    keys = tmp / "keys.toml"
    keys.write_text(f'telegram_bot_token = "{TOKEN}"\ntelegram_chat_ids = "{ALLOWED}, 17"\n'
                    f'coinbase_api_key = "{OTHER_SECRET}"\n')
    keys.chmod(0o600)
    path = tmp / "cappuccino.toml"
    path.write_text(FAST.format(services=services, url=fake.base_url))
    cfg = load_config(path, environ={})
    with Store(cfg.store.path) as store, store.write():
        upsert_trader(store, "bot", broker="sim", mode="paper", model="m", study=None,
                      trial=None, tickers=["BTC-USD"], timeframe="5m", capital=Decimal(1000))
        set_trader_fields(store, "bot", trading_state="ACTIVE", equity="1012.5049",
                          cash="500.004")
    return path, cfg


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CAPPUCCINO_", "COINBASE_", "APCA_"))}


def cli(path: Path, *argv: str, **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(path),
                             *argv], cwd=ROOT, env=env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]


def wait_for(cond: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def running(proc: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def telegram_rows(cfg: Config) -> list[object]:
    with Store(cfg.store.path, check=False) as store:
        return [r for r in recent_commands(store, 100) if r.source == "telegram"]


@pytest.mark.slow
def test_supervised_bot_answers_allowed_chat_and_halts_through_supervisor(
        tmp_path: Path, fake: FakeTelegram) -> None:
    path, cfg = setup(tmp_path, fake, services='["telegram"]')
    with Store(cfg.store.path) as store:
        # A secret that found its way into an alert must not reach the phone.
        insert_alert(store, "bot", "CRITICAL", f"broker said key={OTHER_SECRET}", time.time())
    try:
        with running(cli(path, "supervise")):
            _drive(cfg, fake)
    finally:
        _end_service(cfg)  # the supervisor leaves its children running when it exits
    for f in [*tmp_path.rglob("*")]:
        if f.is_file() and f.name != "keys.toml":
            data = f.read_bytes()
            assert TOKEN.encode() not in data, f
            assert b"please-do-not-log-me" not in data, f
    assert "refused a message from chat 666999" in (tmp_path / "var/logs/telegram.log"
                                                    ).read_text()


def _end_service(cfg: Config) -> None:
    with Store(cfg.store.path, check=False) as s:
        row = get_process(s, "telegram")
    if row is None or not row.pid:
        return
    with contextlib.suppress(psutil.Error):
        p = psutil.Process(row.pid)
        p.terminate()
        try:
            p.wait(15)
        except psutil.TimeoutExpired:
            p.kill()


def _drive(cfg: Config, fake: FakeTelegram) -> None:
    if True:
        wait_for(lambda: supervisor_status(cfg)[0], "supervisor")

        def bot_running() -> bool:
            with Store(cfg.store.path, check=False) as s:
                row = get_process(s, "telegram")
            return bool(row and row.state == "RUNNING" and row.heartbeat_at)

        wait_for(bot_running, "the telegram service's heartbeat")

        fake.say(ALLOWED, "/status")
        status = fake.wait_sent(lambda c, t: c == ALLOWED and "trader bot" in t)
        assert "supervisor: running" in status
        assert "ACTIVE" in status and "equity 1012.50" in status
        assert OTHER_SECRET not in status and "key=***" in status  # the alert, redacted

        fake.say(ALLOWED, "/balance")
        bal = fake.wait_sent(lambda c, t: c == ALLOWED and "cash" in t)
        assert "cash 500.00" in bal
        fake.say(ALLOWED, "/profit")
        prof = fake.wait_sent(lambda c, t: c == ALLOWED and "PnL" in t)
        assert "PnL 12.50 (+1.25%)" in prof

        # A stranger: the fixed refusal, nothing written, the text never logged.
        fake.say(STRANGER, "/halt all please-do-not-log-me")
        fake.say(STRANGER, "/halt all please-do-not-log-me")  # a second try: no second reply
        fake.say(ALLOWED, "/help")
        assert fake.wait_sent(lambda c, t: c == STRANGER) == REFUSAL
        fake.wait_sent(lambda c, t: c == ALLOWED and t.startswith("commands:"))
        assert fake.replies(STRANGER) == [REFUSAL]
        assert telegram_rows(cfg) == []

        # Bad input from an allowed chat is refused with the supervisor's reason, no row.
        fake.say(ALLOWED, "/exit -rf BTC-USD")
        bad = fake.wait_sent(lambda c, t: c == ALLOWED and t.startswith("refused"))
        assert "exit: target must be a process name" in bad
        assert telegram_rows(cfg) == []

        fake.say(ALLOWED, "/halt bot")
        queued = fake.wait_sent(lambda c, t: c == ALLOWED and "queued command" in t)
        cid = int(queued.split("#")[1].split()[0])
        done = fake.wait_sent(lambda c, t: c == ALLOWED and t.startswith(f"command #{cid}"))
        assert done == f"command #{cid} done: trader bot will halt and cancel its open orders"
        rows = telegram_rows(cfg)
        assert [(r.action, r.target, r.state) for r in rows] == [("halt_all", "bot", "done")]
        with Store(cfg.store.path, check=False) as store:
            assert halt_flags(store, "bot")[0]  # the trader halts on its next bar

        # The token is nowhere but the key file: not the store, the logs, nor any argv.
        child = psutil.Process(get_pid(cfg))
        assert all(TOKEN not in a for a in child.cmdline())
        assert not any(TOKEN in " ".join(p.cmdline()) for p in child.parents()
                       if p.pid != 1 and _readable(p))


def _readable(p: psutil.Process) -> bool:
    try:
        p.cmdline()
    except psutil.Error:
        return False
    return True


def get_pid(cfg: Config) -> int:
    with Store(cfg.store.path, check=False) as s:
        row = get_process(s, "telegram")
    assert row is not None and row.pid
    return row.pid


def test_restart_never_acts_on_an_old_update_again(tmp_path: Path, fake: FakeTelegram) -> None:
    path, cfg = setup(tmp_path, fake)
    fake.fail_next(502, times=2, path="getUpdates")  # a flaky start: the bot backs off
    uid = fake.say(ALLOWED, "/halt bot")
    with running(cli(path, "telegram")) as proc:
        fake.wait_sent(lambda c, t: c == ALLOWED and "queued command" in t)
        proc.kill()  # no chance to confirm the update with a later getUpdates
        proc.wait(10)
    assert len(telegram_rows(cfg)) == 1
    fake.redeliver(uid)  # Telegram offers the unconfirmed update again
    asked = len(fake.offsets)
    with running(cli(path, "telegram")):
        wait_for(lambda: len(fake.offsets) > asked + 1, "two polls after the restart")
    assert fake.offsets[asked] == uid + 1  # the stored offset, not the server's memory
    rows = telegram_rows(cfg)
    assert [(r.action, r.target) for r in rows] == [("halt_all", "bot")]
    assert sum("queued command" in t for t in fake.replies(ALLOWED)) == 1


@pytest.mark.parametrize(("extra", "keys", "says"), [
    ("[telegram]\nenabled = false\n", "", "telegram: off"),
    ("[telegram]\nenabled = true\n", 'telegram_chat_ids = "1"\n', "no bot token"),
    ("[telegram]\nenabled = true\n", f'telegram_bot_token = "{TOKEN}"\n', "no allowed chat id"),
])
def test_refuses_to_start_unless_configured(tmp_path: Path, extra: str, keys: str,
                                           says: str) -> None:
    (tmp_path / "keys.toml").write_text(keys)
    (tmp_path / "keys.toml").chmod(0o600)
    path = tmp_path / "cappuccino.toml"
    path.write_text('[secrets]\nkey_file = "keys.toml"\n' + extra)
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(path),
                          "telegram"], cwd=ROOT, env=env(), capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], out.stderr
    assert TOKEN not in out.stderr + out.stdout


def test_sigterm_ends_a_long_poll_at_once(tmp_path: Path, fake: FakeTelegram) -> None:
    path, _ = setup(tmp_path, fake)
    path.write_text(path.read_text().replace("poll_timeout_s = 1", "poll_timeout_s = 30"))
    with running(cli(path, "telegram")) as proc:
        wait_for(lambda: len(fake.offsets) >= 1, "the first long poll")
        time.sleep(0.5)  # inside the poll (the fake holds it up to MAX_POLL_S)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert time.monotonic() - t0 < 3.0  # the fake would hold the poll 4.5 s more
