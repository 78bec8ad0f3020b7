"""Tell a refused signature from a wrong clock.

Coinbase's JWT carries the machine's wall time (nbf/exp, about 120 s of life); a clock a few
seconds ahead, or behind by more than the token's life, makes every private call answer
401/403 exactly as a bad key does. Before reporting the keys, we measure the exchange's
clock on its public (unsigned) server-time endpoint: when the machine is off by more than
the tolerance, the error names the clock and leaves the keys unjudged, so the operator fixes
NTP instead of rotating good keys.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from engine.brokers.retry import BrokerCallError

AUTH_KINDS = ("unauthorised", "forbidden")
log = logging.getLogger(__name__)


def machine_ahead_s(server_now: Callable[[], float],
                    wall: Callable[[], float] = time.time) -> float:
    """Seconds the machine's wall clock is ahead of the server's (negative: behind),
    measured against the midpoint of the round trip."""
    t0 = wall()
    server = server_now()
    return (t0 + wall()) / 2 - server


def blame_clock(err: BrokerCallError, venue: str, server_now: Callable[[], float],
                limit_s: float, accepted_at: Callable[[float], bool] | None = None,
                wall: Callable[[], float] = time.time) -> BrokerCallError:
    """`err` as it is, or - for a 401/403 while the machine's clock is off by more than
    `limit_s` - an error of the same kind that names the clock.

    `accepted_at(t)`, where the venue can, asks again signed as if the clock read t (the
    server's time): accepted, the clock alone is to blame; refused too, the keys are (and
    the clock is named as well). A failing measurement leaves `err` as it is."""
    if err.kind not in AUTH_KINDS:
        return err
    try:
        ahead = machine_ahead_s(server_now, wall)
    except Exception as e:  # noqa: BLE001 - any failure to measure: keep the original diagnosis
        log.info("%s server time unreadable (%s): the refusal is reported as it is", venue, e)
        return err
    if abs(ahead) <= limit_s:
        return err
    clock = (f"the machine's clock is {abs(ahead):.0f} s "
             f"{'ahead of' if ahead > 0 else 'behind'} {venue.capitalize()}'s")
    verdict: bool | None = None
    if accepted_at is not None:
        try:
            verdict = accepted_at(wall() - ahead)
        except Exception as e:  # noqa: BLE001 - no verdict: the keys stay unjudged
            log.info("%s re-signed probe failed (%s): keys not judged", venue, e)
            verdict = None
    if verdict is False:  # refused even at the server's time: the keys, and the clock too
        out = BrokerCallError(f"{err} (also: {clock}: fix NTP)", kind=err.kind,
                              status=err.status, detail=err.detail)
        out.clock_note = f"{clock}: fix NTP"
        return out
    what = str(err).split(":", 1)[0]  # "coinbase accounts"
    keys = (f"the keys work at {venue.capitalize()}'s time" if verdict
            else "keys not judged")
    out = BrokerCallError(f"{what}: refused (HTTP {err.status}) - {clock}: fix NTP; {keys}",
                          kind=err.kind, status=err.status, detail=err.detail)
    out.clock_ahead_s = ahead
    return out
