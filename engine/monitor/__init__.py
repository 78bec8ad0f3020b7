"""Performance monitor: live Sharpe against backtest Sharpe, alert levels, auto-stop."""
