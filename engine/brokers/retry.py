"""Retry a broker call on retryable BrokerErrors, with bounded exponential backoff + jitter."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import InvalidOperation
from typing import Any, TypeVar, cast

from engine.brokers.base import BrokerError, OrderRejected, OrderRequest, OrderState

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4           # total tries, the first included
    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 8.0          # cap for one wait
    jitter: float = 0.25        # each wait is scaled by a random factor in [1-j, 1+j]

    def wait(self, retry_index: int, rng: random.Random | None = None) -> float:
        base = min(self.max_s, self.initial_s * self.factor ** retry_index)
        r = (rng or random).uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else 1.0
        return max(0.0, min(self.max_s, base * r))


MAX_RETRY_AFTER_S = 120.0


class Pacer:
    """Slows every call of one broker client after the exchange said 429: no call goes out
    before the time it asked for (Retry-After) or, without one, an exponential backoff that
    grows with each 429 in a row and resets after a success."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.not_before = 0.0
        self.strikes = 0
        self.limited = 0            # 429s seen (for tests and the bench)

    def wait(self, sleep: Callable[[float], None]) -> None:
        left = self.not_before - self._clock()
        if left > 0:
            sleep(left)

    def rate_limited(self, retry_after: float | None, policy: RetryPolicy) -> float:
        self.limited += 1
        self.strikes += 1
        pause = (min(MAX_RETRY_AFTER_S, retry_after) if retry_after is not None and
                 retry_after >= 0 else policy.wait(self.strikes - 1))
        self.not_before = max(self.not_before, self._clock() + pause)
        return pause

    def ok(self) -> None:
        self.strikes = 0


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy, *,
                    before_retry: Callable[[int, BrokerError], None] | None = None,
                    sleep: Callable[[float], None] = time.sleep,
                    pacer: Pacer | None = None) -> T:
    """Call fn; on a retryable BrokerError wait and call again, up to policy.attempts.

    before_retry(attempt, error) runs before each new try (e.g. to log it). The last error
    is re-raised unchanged when attempts run out; non-retryable errors pass at once. With a
    pacer, a 429 holds back this and every later call of the client (Retry-After honoured).
    """
    attempt = 0
    while True:
        if pacer is not None:
            pacer.wait(sleep)
        try:
            out = fn()
            if pacer is not None:
                pacer.ok()
            return out
        except BrokerError as e:
            attempt += 1
            limited = isinstance(e, BrokerCallError) and e.kind == "rate_limited"
            if limited and pacer is not None:
                # limited: e is a BrokerCallError
                pacer.rate_limited(cast(BrokerCallError, e).retry_after, policy)
            if not e.retryable or attempt >= policy.attempts:
                raise
            if not (limited and pacer is not None):  # the pacer waits before the next try
                sleep(policy.wait(attempt - 1))
            if before_retry is not None:
                before_retry(attempt, e)



def check_order(req: OrderRequest) -> None:
    """Refuse, before any call, an order no exchange would take (OrderRejected)."""
    if req.post_only and req.limit_price is None:
        raise OrderRejected(f"{req.client_order_id}: post-only needs a limit price", "other")
    if req.qty <= 0:
        raise OrderRejected(f"{req.client_order_id}: quantity must be positive", "size")


def place_once(post: Callable[[], T], lookup: Callable[[], OrderState | None],
               policy: RetryPolicy, pacer: Pacer, sleep: Callable[[float], None],
               refused: Callable[[BrokerCallError], OrderState | None] | None = None,
               may_send: Callable[[], bool] | None = None) -> T | OrderState:
    """Post an order so that the exchange holds it at most once: a retryable failure is
    tried again (a 429 waits on the pacer, others back off), and after every ambiguous
    one the client order id is looked up first, since the exchange may have taken it.
    `refused(e)` sees each failure first: it may raise (OrderRejected) or return the order
    already there; None carries on. `may_send()` is asked before every post, after any wait:
    False (the trader was halted meanwhile) raises kind="halted" and nothing more is sent.
    Returns post()'s answer or the order found."""
    attempt = 0
    while True:
        attempt += 1
        pacer.wait(sleep)
        if may_send is not None and not may_send():
            raise BrokerCallError("order not sent: the trader was halted", kind="halted")
        try:
            return post()
        except BrokerCallError as e:
            found = refused(e) if refused is not None else None
            if found is not None:
                return found
            if e.kind == "rate_limited":
                pacer.rate_limited(e.retry_after, policy)
            if not e.retryable or attempt >= policy.attempts:
                raise
            if e.kind != "rate_limited":
                sleep(policy.wait(attempt - 1))
                found = lookup()
                if found is not None:
                    return found

# ---- classifying failures -----------------------------------------------------------------
# kind: what went wrong, for one-line diagnoses (`cappuccino check`) and retry decisions.
RETRYABLE_KINDS = frozenset({"rate_limited", "server", "timeout", "reset", "network",
                             "malformed"})


class BrokerCallError(BrokerError):
    """A broker call failed; `kind` says how, `status` is the HTTP status if there was one."""

    def __init__(self, message: str, *, kind: str, status: int | None = None,
                 detail: str = ""):
        super().__init__(message, retryable=kind in RETRYABLE_KINDS)
        self.kind = kind
        self.status = status
        self.detail = detail     # the server's own words, if any (one line)
        self.retry_after: float | None = None   # seconds a 429 asked us to wait
        self.clock_ahead_s: float | None = None  # set when a refusal is the machine's clock
        self.clock_note = ""  # a refused key's error: the clock is off as well


def retry_after_s(headers: object) -> float | None:
    """The Retry-After header in seconds (a number of seconds; dates are not used by these
    exchanges), or None."""
    try:
        get = getattr(headers, "get", None)  # a dict or requests' CaseInsensitiveDict
        value = get("Retry-After") if get is not None else None
        return max(0.0, float(value)) if value not in (None, "") else None
    except (TypeError, ValueError, AttributeError):
        return None


def http_error(venue: str, what: str, status: int, detail: str = "") -> BrokerCallError:
    detail = " ".join(detail.split())[:300]
    suffix = f": {detail}" if detail else ""
    err = _http_error(venue, what, status, suffix)
    err.detail = detail
    return err


def _http_error(venue: str, what: str, status: int, suffix: str) -> BrokerCallError:
    if status == 401:
        return BrokerCallError(f"{venue} {what}: unauthorised (HTTP 401) - the API key or "
                               f"secret was not accepted", kind="unauthorised", status=status)
    if status == 403:
        return BrokerCallError(f"{venue} {what}: forbidden (HTTP 403) - the key lacks a "
                               f"permission{suffix}", kind="forbidden", status=status)
    if status == 404:
        return BrokerCallError(f"{venue} {what}: not found (HTTP 404){suffix}",
                               kind="not_found", status=status)
    if status == 429:
        return BrokerCallError(f"{venue} {what}: rate limited (HTTP 429)",
                               kind="rate_limited", status=status)
    if status >= 500:
        return BrokerCallError(f"{venue} {what}: server error (HTTP {status})",
                               kind="server", status=status)
    return BrokerCallError(f"{venue} {what}: HTTP {status}{suffix}", kind="bad_request",
                           status=status)


def transport_error(venue: str, what: str, exc: BaseException) -> BrokerCallError:
    """Map a requests/urllib3 exception (no HTTP status) to a BrokerCallError."""
    import requests

    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, requests.Timeout):
        return BrokerCallError(f"{venue} {what}: timed out", kind="timeout")
    if isinstance(exc, requests.ConnectionError):
        low = text.lower()
        if "reset" in low or "aborted" in low or "remotedisconnected" in low:
            return BrokerCallError(f"{venue} {what}: connection reset", kind="reset")
        why = ("name resolution failed" if "resolve" in low or "name or service" in low
               else "connection refused" if "refused" in low else "cannot connect")
        return BrokerCallError(f"{venue} {what}: network unreachable ({why})",
                               kind="network", detail=why)
    return BrokerCallError(f"{venue} {what}: malformed or partial response ({type(exc).__name__})",
                           kind="malformed")


# What a reply the SDK could not decode, or that parse could not read, raises.
_MALFORMED = (ValueError, TypeError, KeyError, AttributeError)


def sdk_call(venue: str, what: str, fn: Callable[[], Any], parse: Callable[[Any], T],
             translate: Callable[[Exception], BrokerCallError | None]) -> T:
    """One SDK call, no retry: `translate` maps the venue's own HTTP and transport
    exceptions (None: not one of them); a reply the SDK or `parse` cannot read becomes
    kind="malformed"; a BrokerError passes through as it is."""
    try:
        raw = fn()
    except BrokerError:
        raise
    except Exception as e:
        err = translate(e)       # first: requests' JSONDecodeError is also a ValueError
        if err is not None:
            raise err from None
        if isinstance(e, _MALFORMED):
            raise BrokerCallError(f"{venue} {what}: malformed response ({type(e).__name__})",
                                  kind="malformed") from None
        raise
    try:
        return parse(raw)
    except BrokerError:
        raise
    except (*_MALFORMED, InvalidOperation) as e:
        raise BrokerCallError(f"{venue} {what}: unexpected response shape "
                              f"({type(e).__name__}: {e})", kind="malformed") from None
