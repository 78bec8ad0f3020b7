"""The notifier against a real local json:// receiver, through the real apprise."""

from __future__ import annotations

import pytest

from engine.config.secrets import Secrets
from engine.notify.events import emit
from engine.notify.redact import Redactor
from engine.notify.sender import AppriseTransport, backoff_s, send_due
from store.db import Store, now
from store.outbox import pending_count

SECRET = "cb-secret-Zq81xV0"


@pytest.fixture
def env(make_config, monkeypatch):
    monkeypatch.setenv("COINBASE_API_SECRET", SECRET)
    cfg = make_config("[notify]\nbackoff_initial_s = 2\nbackoff_max_s = 16\n"
                      "[notify.events]\nfill = \"off\"\ntrial = \"silent\"\n")
    store = Store(cfg.store.path)
    yield cfg, store
    store.close()


def test_message_names_trader_model_trial_and_holds_no_secret(env, receiver) -> None:
    cfg, store = env
    receiver.start()
    url = receiver.url()
    secrets = Secrets(coinbase_api_secret=SECRET, apprise_urls=url)
    emit(store, cfg, "risk", "Daily loss limit hit", f"halted; key was {SECRET} at {url}",
         "warning", trader="t1", model="var/models/s1-t7", trial=7, study="s1")
    body = store.one("SELECT body FROM outbox")["body"]
    assert SECRET not in body  # redacted before it reached the store
    r = send_due(cfg, store, AppriseTransport([url]), Redactor(secrets), now())
    assert (r.sent, r.failed) == (1, 0)
    [msg] = receiver.messages
    assert msg["title"] == "Daily loss limit hit" and msg["type"] == "warning"
    for part in ("trader t1", "model var/models/s1-t7", "trial #7", "study s1"):
        assert part in msg["message"]
    assert SECRET not in msg["message"] and "tok3n-abcdef-123456" not in msg["message"]
    assert store.one("SELECT sent_at FROM outbox")["sent_at"] is not None


def test_event_modes_off_and_silent(env, receiver) -> None:
    cfg, store = env
    receiver.start()
    assert emit(store, cfg, "fill", "fill", "BUY 0.1 BTC", trader="t1") is None  # off
    emit(store, cfg, "trial", "trial 3 finished", "objective 0.2", trial=3, study="s1")
    rows = store.query("SELECT silent FROM outbox")
    assert [r["silent"] for r in rows] == [1]
    r = send_due(cfg, store, AppriseTransport([receiver.url()]), Redactor(Secrets()), now())
    assert r.sent == 0 and receiver.messages == []  # silent rows are history, never pushed
    assert pending_count(store) == 0


def test_retry_with_backoff_after_the_receiver_was_down(env, receiver) -> None:
    cfg, store = env
    url = receiver.url()
    secrets = Secrets(apprise_urls=url)
    transport = AppriseTransport([url])
    emit(store, cfg, "process", "trainer crashed", "exit 1", "failure", trader=None, study="s1")
    t0 = now()
    r = send_due(cfg, store, transport, Redactor(secrets), t0)  # receiver not started: refused
    assert (r.sent, r.failed) == (0, 1)
    row = store.one("SELECT * FROM outbox")
    assert row["attempts"] == 1 and row["sent_at"] is None
    assert row["next_try_at"] == pytest.approx(t0 + 2.0)
    assert row["last_error"] and "tok3n" not in row["last_error"] and url not in row["last_error"]
    assert send_due(cfg, store, transport, Redactor(secrets), t0 + 1.0).failed == 0  # not due
    send_due(cfg, store, transport, Redactor(secrets), t0 + 2.0)  # second failure: wait 4 s
    assert store.one("SELECT next_try_at FROM outbox")[0] == pytest.approx(t0 + 6.0)
    receiver.start()
    r = send_due(cfg, store, transport, Redactor(secrets), t0 + 6.0)
    assert r.sent == 1 and len(receiver.messages) == 1
    row = store.one("SELECT * FROM outbox")
    assert row["attempts"] == 3 and row["last_error"] is None and row["sent_at"] is not None


def test_backoff_is_exponential_and_capped(make_config) -> None:
    cfg = make_config("[notify]\nbackoff_initial_s = 2\nbackoff_max_s = 16\n")
    assert [backoff_s(cfg, n) for n in range(1, 7)] == [2, 4, 8, 16, 16, 16]


def test_give_up_after_max_attempts_keeps_the_row(make_config) -> None:
    cfg = make_config("[notify]\nmax_attempts = 2\n")
    with Store(cfg.store.path) as store:
        emit(store, cfg, "alert", "x", "y")
        boom = lambda *a: (False, "HTTP 500")  # noqa: E731
        t = now()
        send_due(cfg, store, boom, Redactor(Secrets()), t)
        send_due(cfg, store, boom, Redactor(Secrets()), t + 100)
        row = store.one("SELECT * FROM outbox")
        assert row["attempts"] == 2 and row["sent_at"] is None
        assert row["last_error"].startswith("gave up after 2 attempts")


def test_redactor_hides_url_fragments() -> None:
    s = Secrets(apprise_urls="discord://1234567890/AbCdEfGhIjKl tgram://bot123456:XYZTOKEN99/42")
    red = Redactor(s)
    text = red("failed for AbCdEfGhIjKl and bot123456 via discord://1234567890/AbCdEfGhIjKl")
    assert "AbCdEfGhIjKl" not in text and "1234567890" not in text and "bot123456" not in text
    assert "failed for" in text


def test_a_failing_row_holds_the_later_ones_and_a_given_up_row_does_not(make_config) -> None:
    cfg = make_config("[notify]\nmax_attempts = 2\nbackoff_initial_s = 1\n")
    sent: list[str] = []
    down = {"first"}

    def transport(title: str, body: str, level: str) -> tuple[bool, str]:
        if title in down:
            return False, "HTTP 503"
        sent.append(title)
        return True, ""

    with Store(cfg.store.path) as store:
        for title in ("first", "second", "third"):
            emit(store, cfg, "alert", title, "body")
        t = now()
        r = send_due(cfg, store, transport, Redactor(Secrets()), t)
        assert (r.sent, r.failed, sent) == (0, 1, [])  # second and third wait behind first
        assert send_due(cfg, store, transport, Redactor(Secrets()), t + 0.5).sent == 0
        send_due(cfg, store, transport, Redactor(Secrets()), t + 1)  # gives up on first
        r = send_due(cfg, store, transport, Redactor(Secrets()), t + 1)
        assert sent == ["second", "third"]  # kept in the outbox, but blocking nothing
        assert pending_count(store) == 1
