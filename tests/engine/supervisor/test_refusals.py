"""Rows written straight into the store are requests, not orders: the production supervisor
refuses every one that is not a typed command, or that its gates refuse; each refusal is
recorded (outcome, alert, notification) and nothing starts."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import psutil

from store.db import now

MARK = "refusal-marker-7f3a"


def raw_command(h, action: str, target: str | None, args: object) -> int:
    """A row as any writer of the store could put it, bypassing insert_command's checks."""
    with h.store() as s, s.write():
        cur = s.conn.execute(
            "INSERT INTO commands (at, source, action, target, args) VALUES (?, 'console', ?, ?, ?)",
            (now(), action, target, args if isinstance(args, str) else json.dumps(args)))
        return int(cur.lastrowid or 0)


def outcome(h, cid: int) -> tuple[str, str]:
    def done() -> bool:
        with h.store() as s:
            return s.one("SELECT state FROM commands WHERE id = ?", (cid,))["state"] in (
                "done", "failed")

    h.wait_for(done, what=f"command #{cid}")
    with h.store() as s:
        row = s.one("SELECT state, result FROM commands WHERE id = ?", (cid,))
    return row["state"], row["result"]


def marked_processes() -> list[int]:
    """Every process whose command line mentions the marker: psutil and /proc, both."""
    found = {p.pid for p in psutil.process_iter(["cmdline"])
             if any(MARK in a for a in (p.info["cmdline"] or []))}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if MARK.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.add(int(entry))
            except OSError:
                pass
    return sorted(found - {os.getpid()})


def test_forged_rows_are_refused_recorded_and_start_nothing(harness, tmp_path: Path) -> None:
    h = harness('[coinbase]\nlive_armed = true\n[gates]\ncapital_steps = [1000, 2000, 3000]\n')
    env = dict(os.environ, COINBASE_API_KEY="organizations/x/apiKeys/y",
               COINBASE_API_SECRET="not-a-real-pem")
    sup = h.supervise(env=env, production=True)
    model = Path(h.cfg.paths.models) / MARK
    model.mkdir(parents=True)
    with h.store() as s, s.write():  # a live trader at the first step, promoted and recorded
        s.conn.execute("INSERT INTO traders (name, broker, mode, model, tickers, timeframe, "
                       "capital, started_at, updated_at) VALUES ('lv', 'coinbase', 'live', ?, "
                       "'[\"BTC-USD\"]', '5m', '1000', ?, ?)",
                       (str(model), now(), now()))
        s.conn.execute("INSERT INTO promotions (at, kind, subject, trader, gates, passed, forced,"
                       " capital) VALUES (?, 'live', 'lv-paper', 'lv', '[]', 1, 0, '1000.00')",
                       (now(),))
    sleeper = [sys.executable, "-c", f"import time; time.sleep(600)  # {MARK}"]
    paper = {"name": "p", "model": str(model), "broker": "sim", "tickers": ["BTC-USD"],
             "timeframe": "5m", "capital": "1000"}
    cases = {
        "exec kind": ("start", "evil", {"kind": "exec", "argv": sleeper}, "unknown kind"),
        "argv on a declared name": ("start", "monitor", {"argv": sleeper}, "unknown argument"),
        "a worker taking a service's name": (
            "start", "monitor", {"kind": "trial", "study": "s", "trial": 1, "timeframe": "5m"},
            "a trial process is named trial-s-1"),
        "unknown action": ("exec", None, {"argv": sleeper}, "unknown action"),
        "extra argument": ("trade", None, {**paper, "argv": sleeper}, "argv: unknown argument"),
        "ill-typed argument": ("train", None, {"study": "s", "n_trials": "3; rm -rf /"},
                               "n_trials"),
        "option smuggled as a name": ("trade", None, {**paper, "name": "--live"},
                                      "name: String should match pattern"),
        "model outside [paths] models": ("trade", None, {**paper, "model": "/tmp"},
                                         "inside [paths] models"),
        "paper trader without a promotion": ("trade", None, paper, "no recorded paper promotion"),
        "args not an object": ("stop", "monitor", "[1, 2]", "must be a JSON object"),
        "coinbase live without a promotion": (
            "trade", "trader-cb", {"name": "cb", "model": str(model), "broker": "coinbase",
                                   "live": True, "capital": "1000000", "tickers": ["BTC-USD"],
                                   "timeframe": "5m"},
            "no recorded live promotion"),
        "capital jump beyond the step": (
            "capital", "lv", {"trader": "lv", "capital": "3000", "force": True,
                              "reason": "go big"}, "never skipped"),
    }
    ids = {what: raw_command(h, a, t, args) for what, (a, t, args, _) in cases.items()}
    for what, cid in ids.items():
        state, result = outcome(h, cid)
        assert state == "failed" and result.startswith("refused: "), (what, result)
        assert cases[what][3] in result, (what, result)

    with h.store() as s:
        alerts = [r["message"] for r in s.query("SELECT message FROM alerts WHERE level = "
                                                 "'WARNING' AND trader IS NULL")]
        notes = [r["body"] for r in s.query("SELECT body FROM outbox WHERE event = 'alert' "
                                             "AND level = 'failure'")]
        names = [r["name"] for r in s.query("SELECT name FROM processes")]
        capital = s.one("SELECT capital FROM traders WHERE name = 'lv'")["capital"]
    for cid in ids.values():
        assert any(f"command #{cid} " in m for m in alerts), cid
        assert any(f"command #{cid} " in b for b in notes), cid
    assert names == [] and capital == "1000"  # nothing declared, nothing started, nothing moved
    assert marked_processes() == []
    assert [c.pid for c in psutil.Process(sup.pid).children(recursive=True)] == []
    log = h.output(1)
    assert log.count("refused: ") >= len(cases) and "claimed source console" in log
    assert MARK not in log  # refused args are never logged


def test_cli_refuses_forced_live_promotion_while_not_armed(harness) -> None:
    h = harness()
    r = h.cli("promote", "--to", "live", "--trader", "p", "--force", "--reason", "yolo")
    assert r.returncode == 2 and "not armed" in r.stderr and "Traceback" not in r.stderr


def test_a_forged_process_row_is_never_executed(harness) -> None:
    """Writing the processes table directly does not help either: the supervisor runs only
    the cappuccino subcommand of a known kind."""
    from store.processes import upsert_process

    h = harness()
    h.supervise(production=True)
    sleeper = [sys.executable, "-c", f"import time; time.sleep(600)  # {MARK}"]
    with h.store() as s:
        upsert_process(s, "old-exec", "exec", sleeper, "stopped")
        upsert_process(s, "fake-trader", "trader", sleeper, "stopped")
        upsert_process(s, "trader-lv", "trader", ["trade", "--name", "lv", "--model", MARK,
                                                  "--broker", "coinbase", "--live"], "stopped")
    for name, why in (("old-exec", "unknown process kind"),
                      ("fake-trader", "runs `cappuccino trade ...`"),
                      ("trader-lv", "refused: start trader-lv: live trading is not armed")):
        row = h.command("start", name)
        assert row.state == "failed" and why in (row.result or ""), row.result
    assert h.process("fake-trader").pid is None and h.process("trader-lv").pid is None
    assert marked_processes() == []
