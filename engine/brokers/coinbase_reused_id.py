"""Coinbase's answer to a client_order_id that was used before.

Documented (Create Order reference, docs.cdp.coinbase.com/api-reference/advanced-trade-api/
rest-api/orders/create-order, field client_order_id): "If the ID provided is not unique, the
order will not be created and the order corresponding with that ID will be returned instead"
- a success naming the order already there, which submit() adopts as it is. The reference
shows no example of that answer, so a refusal that names the id (a failure answer such as
INVALID_CLIENT_ORDER_ID, or an HTTP error saying it already exists) is read the same way: the
order is at the exchange. It is never an OrderRejected (the trader would close its intent and
leave the exchange's order unmanaged): it is looked up, and while the listing does not show it
yet the outcome stays unknown, so the intent is looked up again later (never posted as new).
"""

from __future__ import annotations

import re

from engine.brokers.retry import BrokerCallError

_ID = re.compile(r"CLIENT[_ ]?ORDER[_ ]?ID|CLIENT[_ ]?OID")
_DUP = re.compile(r"DUPLICATE|ALREADY[_ ]EXISTS?|NOT[_ ]UNIQUE|MUST[_ ]BE[_ ]UNIQUE|IN[_ ]USE")


def reused_id(text: str) -> bool:
    """Whether an order refusal's codes or message say the client order id was used."""
    t = text.upper()
    return bool(_DUP.search(t)) or bool(_ID.search(t) and "INVALID" in t)


def already_there(client_order_id: str, detail: str) -> BrokerCallError:
    """The unknown outcome of a repeat Coinbase refused while the order is not listed yet."""
    return BrokerCallError(f"coinbase: client order id {client_order_id} is already at the "
                           f"exchange ({detail}) but not listed yet; looked up again later",
                           kind="duplicate", detail=detail)
