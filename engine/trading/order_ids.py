"""Deterministic client order ids: the same (trader, bar, ticker, attempt) gives the same id.

A uuid5 string (36 chars of hex and dashes) fits Coinbase's, Alpaca's and the sim's id
rules. Because the id is a pure function of the intent, a restarted trader that re-derives
an order it already placed gets the same id, and the broker's idempotent submit (plus our
store check) turns the repeat into a no-op instead of a duplicate order.
"""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1c2a0e-8d1b-5c7e-9a3f-c0ffee000001")


def client_order_id(trader: str, bar_at: float, ticker: str, attempt: int) -> str:
    key = f"{trader}|{int(round(bar_at))}|{ticker}|{int(attempt)}"
    return str(uuid.uuid5(_NAMESPACE, key))
