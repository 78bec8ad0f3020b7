"""Local HTTP servers on 127.0.0.1 that speak the Coinbase and Alpaca REST shapes.

    with FakeCoinbase() as cb:            # or the `fake_coinbase` fixture pattern
        broker = make_coinbase_broker(cb.host_port, ...)
        cb.fail_next(status=429, times=2)  # fault switches: fail_next, malformed_next,
        ...                                # reset_next, delay_next, clock_skew_s, unauthorized
        cb.orders, cb.fills, cb.balances, cb.products, cb.fee_tier, cb.order_count(cid)

Nothing here reaches the internet.
"""

from tests.fakes.fake_alpaca import FakeAlpaca
from tests.fakes.fake_coinbase import FakeCoinbase, make_ec_key
from tests.fakes.server import FakeServer, Request

__all__ = ["FakeAlpaca", "FakeCoinbase", "FakeServer", "Request", "make_ec_key"]
