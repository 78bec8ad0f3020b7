"""Canonical tickers (BASE-QUOTE, e.g. BTC-USD) to each venue's symbols and back."""

from __future__ import annotations

import re

_TICKER = re.compile(r"^[A-Z0-9]{1,12}-[A-Z]{2,6}$")
# Quote currencies Alpaca uses for crypto, longest first so USDT wins over USD.
_ALPACA_QUOTES = ("USDT", "USDC", "USD", "BTC")


def check_ticker(ticker: str) -> str:
    """Return the ticker if it is canonical BASE-QUOTE; else raise ValueError."""
    if not _TICKER.match(ticker):
        raise ValueError(f"ticker {ticker!r} is not BASE-QUOTE (for example BTC-USD)")
    return ticker


def coinbase_product_id(ticker: str) -> str:
    return check_ticker(ticker)


def from_coinbase(product_id: str) -> str:
    return product_id.upper()


def alpaca_symbol(ticker: str) -> str:
    """BTC-USD -> BTC/USD (orders, bars, assets)."""
    base, quote = check_ticker(ticker).split("-")
    return f"{base}/{quote}"


def from_alpaca(symbol: str) -> str:
    """BTC/USD or the position form BTCUSD -> BTC-USD."""
    symbol = symbol.upper()
    if "/" in symbol:
        base, quote = symbol.split("/", 1)
        return f"{base}-{quote}"
    for quote in _ALPACA_QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return f"{symbol[: -len(quote)]}-{quote}"
    raise ValueError(f"cannot map Alpaca symbol {symbol!r} to a BASE-QUOTE ticker")


def alpaca_position_symbol(ticker: str) -> str:
    """BTC-USD -> BTCUSD (positions drop the slash)."""
    return alpaca_symbol(ticker).replace("/", "")
