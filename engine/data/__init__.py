"""Market data: candles, sources (bundled, synthetic, CSV/Parquet, Coinbase, Alpaca), validation.

Heavy modules (pandas, broker SDKs) are imported inside functions, so importing this
package is cheap.
"""

from engine.data.candles import TIMEFRAME_SECONDS, Candles, DataError, bar_seconds

__all__ = ["TIMEFRAME_SECONDS", "Candles", "DataError", "bar_seconds"]
