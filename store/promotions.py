"""The promotions table: every promotion, refusal and capital change, with its gate values.

A promotion that starts a trader is recorded together with the trade command it asks for,
in one write that first checks the trader is neither running nor being started
(`insert_promotion_and_start`): two promotions of the same trader at once record one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from store.commands import insert_command_row
from store.db import Store, now
from store.rows import to_row, to_rows

KINDS = ("paper", "live", "capital")


@dataclass(frozen=True)
class PromotionRow:
    id: int
    at: float
    kind: str
    subject: str
    trader: str | None
    gates: str
    passed: int
    forced: int
    reason: str | None
    capital: str | None
    trade_args: str | None = None  # JSON: what a paper/live promotion started (v0007)

    @property
    def gate_list(self) -> list[dict[str, Any]]:
        return list(json.loads(self.gates))


def insert_promotion(store: Store, kind: str, subject: str, gates: list[dict[str, Any]],
                     passed: bool, *, trader: str | None = None, forced: bool = False,
                     reason: str | None = None, capital: str | None = None,
                     at: float | None = None, trade_args: dict[str, Any] | None = None) -> int:
    if kind not in KINDS:
        raise ValueError(f"unknown promotion kind {kind!r}; expected one of {', '.join(KINDS)}")
    with store.write():
        return _insert(store, kind, subject, gates, passed, trader, forced, reason, capital,
                       at, trade_args)


def _insert(store: Store, kind: str, subject: str, gates: list[dict[str, Any]], passed: bool,
            trader: str | None, forced: bool, reason: str | None, capital: str | None,
            at: float | None, trade_args: dict[str, Any] | None) -> int:
    """The INSERT, inside the caller's write()."""
    cur = store.conn.execute(
        "INSERT INTO promotions (at, kind, subject, trader, gates, passed, forced, reason, "
        "capital, trade_args) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (now() if at is None else at, kind, subject, trader, json.dumps(gates),
         int(passed), int(forced), reason, capital,
         None if trade_args is None else json.dumps(trade_args, sort_keys=True)))
    return int(cur.lastrowid or 0)


# A trader process in these states is down: a promotion may start it again under its name.
DOWN = ("STOPPED", "EXITED", "FATAL")


@dataclass(frozen=True)
class Blocker:
    """Why a trader cannot be started by a new promotion now."""

    state: str | None = None        # its process row's state (up: not one of DOWN)
    pid: int | None = None
    command_id: int | None = None   # a trade command for it, pending or running


class TraderBusy(Exception):
    """The trader runs or is being started; nothing was written."""

    def __init__(self, blocker: Blocker) -> None:
        super().__init__(f"trader busy: {blocker}")
        self.blocker = blocker


def start_blocker(store: Store, process: str) -> Blocker | None:
    """What keeps `process` (trader-NAME) from being started by a promotion: its row up, or
    a trade command for it that the supervisor has not finished; None when nothing does."""
    # Reads inside the caller's write() see what every other writer committed before it.
    row = store.one("SELECT state, pid FROM processes WHERE name = ? AND state NOT IN "
                    "(?, ?, ?)", (process, *DOWN))
    if row is not None:
        return Blocker(state=row["state"], pid=row["pid"])
    cmd = store.one("SELECT id FROM commands WHERE action = 'trade' AND target = ? "
                    "AND state IN ('pending', 'running') ORDER BY id LIMIT 1", (process,))
    return None if cmd is None else Blocker(command_id=int(cmd["id"]))


def insert_promotion_and_start(store: Store, kind: str, subject: str,
                               gates: list[dict[str, Any]], passed: bool, *, trader: str,
                               forced: bool, reason: str | None, capital: str | None,
                               at: float | None, trade_args: dict[str, Any],
                               source: str) -> tuple[int, int]:
    """Record an effective promotion and its trade command for `trader-<trader>` in one write,
    unless that trader runs or a trade command for it is not finished (TraderBusy, nothing
    written). BEGIN IMMEDIATE serializes every writer, so of two promotions of the same
    trader at once exactly one is recorded. Returns (promotion id, command id)."""
    if kind not in ("paper", "live"):
        raise ValueError(f"a {kind!r} promotion starts no trader")
    process = f"trader-{trader}"
    with store.write():
        blocker = start_blocker(store, process)
        if blocker is not None:
            raise TraderBusy(blocker)  # write() rolls back: nothing recorded
        pid = _insert(store, kind, subject, gates, passed, trader, forced, reason, capital,
                      at, trade_args)
        cid = insert_command_row(store, "trade", process, trade_args, source)
    return pid, cid


def has_paper_promotion(store: Store) -> bool:
    """Whether any trial went to paper (passed or forced)."""
    return store.one("SELECT 1 FROM promotions WHERE kind = 'paper' AND "
                     "(passed = 1 OR forced = 1) LIMIT 1") is not None


def recent_promotions(store: Store, limit: int = 50,
                      trader: str | None = None) -> list[PromotionRow]:
    if trader is None:
        return to_rows(PromotionRow, store.query(
            "SELECT * FROM promotions ORDER BY id DESC LIMIT ?", (limit,)))
    return to_rows(PromotionRow, store.query(
        "SELECT * FROM promotions WHERE trader = ? ORDER BY id DESC LIMIT ?", (trader, limit)))


def effective_promotions(store: Store, trader: str, kind: str) -> list[PromotionRow]:
    """The trader's passed or forced promotions of this kind, latest first, however many
    refused attempts (recorded too) came after: no window may hide the one that counts."""
    return to_rows(PromotionRow, store.query(
        "SELECT * FROM promotions WHERE trader = ? AND kind = ? AND (passed = 1 OR forced = 1) "
        "ORDER BY id DESC", (trader, kind)))


def last_capital_change(store: Store, trader: str) -> PromotionRow | None:
    """The latest effective capital setting of a trader (a live promotion or a capital step)."""
    return to_row(PromotionRow, store.one(
        "SELECT * FROM promotions WHERE trader = ? AND kind IN ('live', 'capital') "
        "AND (passed = 1 OR forced = 1) ORDER BY id DESC LIMIT 1", (trader,)))


def last_promotion_id(store: Store) -> int:
    row = store.one("SELECT MAX(id) AS id FROM promotions")
    return int(row["id"] or 0) if row else 0


def promotions_after(store: Store, after_id: int) -> list[PromotionRow]:
    return to_rows(PromotionRow, store.query(
        "SELECT * FROM promotions WHERE id > ? ORDER BY id", (after_id,)))


# -- the facts the promotion gates read (engine.promote) -------------------------------------
@dataclass(frozen=True)
class AttemptFacts:
    state: str
    objective: float | None
    model_path: str | None     # None for a mirrored attempt: its path is on another host


@dataclass(frozen=True)
class ModelFacts:
    path: str
    objective: float | None


def trial_attempt(store: Store, study: str, trial: int) -> AttemptFacts | None:
    """The trial's latest COMPLETE attempt, else its latest attempt. A mirrored attempt's
    model_path is on the host that ran it, so it is left out (only a models row, written once
    that model is readable here, makes it promotable)."""
    cols = "state, objective, CASE WHEN mirrored = 0 THEN model_path END AS model_path"
    row = store.one(f"SELECT {cols} FROM attempts WHERE study = ? AND trial = ? AND "
                    "state = 'COMPLETE' ORDER BY attempt DESC LIMIT 1", (study, trial))
    row = row or store.one(f"SELECT {cols} FROM attempts WHERE study = ? AND trial = ? "
                           "ORDER BY attempt DESC LIMIT 1", (study, trial))
    return to_row(AttemptFacts, row)


def trial_model(store: Store, study: str, trial: int) -> ModelFacts | None:
    """The trial's newest registered model."""
    return to_row(ModelFacts, store.one(
        "SELECT path, objective FROM models WHERE study = ? AND trial = ? "
        "ORDER BY created_at DESC LIMIT 1", (study, trial)))


def study_names(store: Store) -> list[str]:
    """Every study the store knows, by its registry row, an attempt or a model."""
    rows = store.query("SELECT name FROM studies UNION SELECT study FROM attempts "
                       "UNION SELECT study FROM models ORDER BY 1")
    return [str(r[0]) for r in rows]


def trial_numbers(store: Store, study: str) -> list[int]:
    """The study's trials that have an attempt or a model, in order."""
    rows = store.query("SELECT trial FROM attempts WHERE study = ? UNION "
                       "SELECT trial FROM models WHERE study = ? ORDER BY 1", (study, study))
    return [int(r[0]) for r in rows]


def top_model_trials(store: Store, study: str, k: int) -> list[int]:
    """The k trials of the study whose best registered model scores highest."""
    rows = store.query("SELECT trial FROM models WHERE study = ? AND objective IS NOT NULL "
                       "GROUP BY trial ORDER BY MAX(objective) DESC LIMIT ?", (study, k))
    return [int(r["trial"]) for r in rows]


def model_sharpe(store: Store, path: str) -> float | None:
    """The backtest Sharpe recorded with a model; None when unknown."""
    row = store.one("SELECT sharpe FROM models WHERE path = ?", (path,))
    return None if row is None or row["sharpe"] is None else float(row["sharpe"])


def equity_points(store: Store, trader: str) -> list[tuple[float, float]]:
    """Every (at, equity) of a trader, oldest first, as plain tuples (fast for numpy)."""
    cur = store.conn.cursor()
    cur.row_factory = None
    return [(float(a), float(e)) for a, e in cur.execute(
        "SELECT at, equity_f FROM equity WHERE trader = ? ORDER BY at", (trader,))]


def first_equity_at(store: Store, trader: str) -> float | None:
    row = store.one("SELECT MIN(at) AS at FROM equity WHERE trader = ?", (trader,))
    return None if row is None or row["at"] is None else float(row["at"])


def equity_bounds(store: Store, trader: str, since: float,
                  until: float) -> tuple[float, float] | None:
    """The first and last equity recorded in [since, until); None when there is none."""
    q = "SELECT equity_f FROM equity WHERE trader = ? AND at >= ? AND at < ? ORDER BY at"
    first = store.one(q + " LIMIT 1", (trader, since, until))
    last = store.one(q + " DESC LIMIT 1", (trader, since, until))
    if first is None or last is None:
        return None
    return float(first["equity_f"]), float(last["equity_f"])


def orders_filled_since(store: Store, trader: str, since: float) -> int:
    """Distinct orders with a fill at or after `since` (a fill without an order id counts)."""
    row = store.one("SELECT COUNT(DISTINCT COALESCE(client_order_id, fill_id)) AS n "
                    "FROM fills WHERE trader = ? AND at >= ?", (trader, since))
    return int(row["n"]) if row else 0


def set_trader_capital(store: Store, trader: str, capital: str, at: float) -> None:
    with store.write():
        store.conn.execute("UPDATE traders SET capital = ?, updated_at = ? WHERE name = ?",
                           (capital, at, trader))
