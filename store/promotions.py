"""The promotions table: every promotion, refusal and capital change, with its gate values."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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

    @property
    def gate_list(self) -> list[dict[str, Any]]:
        return list(json.loads(self.gates))


def insert_promotion(store: Store, kind: str, subject: str, gates: list[dict[str, Any]],
                     passed: bool, *, trader: str | None = None, forced: bool = False,
                     reason: str | None = None, capital: str | None = None,
                     at: float | None = None) -> int:
    if kind not in KINDS:
        raise ValueError(f"unknown promotion kind {kind!r}; expected one of {', '.join(KINDS)}")
    with store.write():
        cur = store.conn.execute(
            "INSERT INTO promotions (at, kind, subject, trader, gates, passed, forced, reason, "
            "capital) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now() if at is None else at, kind, subject, trader, json.dumps(gates),
             int(passed), int(forced), reason, capital))
        return int(cur.lastrowid or 0)


def has_paper_promotion(store: Store) -> bool:
    """Whether any trial went to paper (passed or forced)."""
    return store.one("SELECT 1 FROM promotions WHERE kind = 'paper' AND "
                     "(passed = 1 OR forced = 1) LIMIT 1") is not None


def get_promotion(store: Store, promotion_id: int) -> PromotionRow | None:
    return to_row(PromotionRow, store.one("SELECT * FROM promotions WHERE id = ?",
                                          (promotion_id,)))


def recent_promotions(store: Store, limit: int = 50,
                      trader: str | None = None) -> list[PromotionRow]:
    if trader is None:
        return to_rows(PromotionRow, store.query(
            "SELECT * FROM promotions ORDER BY id DESC LIMIT ?", (limit,)))
    return to_rows(PromotionRow, store.query(
        "SELECT * FROM promotions WHERE trader = ? ORDER BY id DESC LIMIT ?", (trader, limit)))


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
