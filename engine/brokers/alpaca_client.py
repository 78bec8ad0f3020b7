"""The alpaca-py clients, set up for Cappuccino: no SDK retries, a timeout on every request.

The only module that reaches into alpaca-py's private attributes. alpaca-py has no public
way to do either: `RESTClient` ignores `retry_attempts=0` (it keeps its default of 3 tries
3 s apart on 429/504, which would multiply our own RetryPolicy and hide a 429's
Retry-After), and `TradingClient` passes no retry or timeout settings through at all; its
requests have no timeout, so a dead connection would hang a trader. `_retry` and `_session`
were checked on alpaca-py 0.44 (`alpaca/common/rest.py`); pyproject.toml pins
`alpaca-py>=0.44,<0.45` so an upgrade is a deliberate step that re-checks them.
"""

from __future__ import annotations

from typing import Any


def with_timeout(session: Any, timeout: float) -> None:
    """Give every request of a requests.Session a timeout, unless the call sets its own."""
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return super().send(request, *args, **kwargs)

    session.mount("https://", TimeoutAdapter())
    session.mount("http://", TimeoutAdapter())


def make_clients(api_key: str, secret_key: str, *, trade_url: str | None,
                 data_url: str | None, timeout_s: float) -> tuple[Any, Any]:
    """(TradingClient for paper trading, CryptoHistoricalDataClient), raw JSON responses."""
    from alpaca.data.historical.crypto import CryptoHistoricalDataClient
    from alpaca.trading.client import TradingClient

    trading = TradingClient(api_key, secret_key, paper=True, raw_data=True,
                            url_override=trade_url)
    data = CryptoHistoricalDataClient(api_key, secret_key, raw_data=True,
                                      url_override=data_url)
    for client in (trading, data):
        client._retry = 0  # our RetryPolicy retries, not the SDK's 3 x 3 s
        with_timeout(client._session, timeout_s)
    return trading, data
