"""Standard errors of Sharpe ratios and the z-score of live against backtest.

Formulas (per-bar Sharpe SR = mean / std of the bars' simple returns, n returns):

* Lo (2002), "The Statistics of Sharpe Ratios", Financial Analysts Journal 58(4), eq. 8:
  for IID returns  Var(SR) ≈ (1 + SR²/2) / n.
* Serial correlation (5-minute bars are not IID): the variance of the mean is the long-run
  variance, estimated with the Newey-West (1987) Bartlett kernel and the Newey-West (1994)
  lag rule L = floor(4 (n/100)^(2/9)):
      LRV = γ0 + 2 Σ_{k=1..L} (1 - k/(L+1)) γ_k,    ratio = LRV / γ0 (≥ 0 by construction)
  and  Var(SR) ≈ (ratio + SR²/2) / n  (the HAC form of Lo's eq. 8; ratio = 1 gives the IID
  case). Annualised with the same √(bars per year) as the Sharpe itself, on both sides.
* The backtest's Sharpe is an estimate too: its variance is Lo's with the backtest's own
  number of bars, and the autocorrelation ratio measured on the live window (same model,
  same market) since the backtest's returns are not kept beside the trader.
* z = (SR_live - SR_backtest) / √(SE_live² + SE_backtest²)  (independent samples).
"""

from __future__ import annotations

import math

import numpy as np


def newey_west_lags(n: int) -> int:
    """The Newey-West (1994) automatic lag: floor(4 (n/100)^(2/9))."""
    return int(math.floor(4.0 * (max(n, 1) / 100.0) ** (2.0 / 9.0)))


def lrv_ratio(r: np.ndarray, lags: int | None = None) -> float:
    """Newey-West long-run variance over the plain variance of r (1.0 when r is IID).

    The Bartlett weights keep the long-run variance ≥ 0; a flat series gives 1.0."""
    r = np.asarray(r, dtype=np.float64)
    n = r.size
    if n < 3:
        return 1.0
    x = r - r.mean()
    g0 = float(x @ x) / n
    if g0 <= 1e-20 * float(r @ r) / n:   # flat (up to rounding): no autocorrelation to see
        return 1.0
    lags = newey_west_lags(n) if lags is None else int(lags)
    lrv = g0
    for k in range(1, min(lags, n - 1) + 1):
        lrv += 2.0 * (1.0 - k / (lags + 1.0)) * float(x[k:] @ x[:-k]) / n
    return max(lrv / g0, 0.0)


def sharpe_se(sharpe_ann: float, n: int, ppy: float, ratio: float = 1.0) -> float:
    """Standard error of an annualised Sharpe from n bars (Lo 2002 eq. 8, HAC `ratio`)."""
    if n < 2 or ppy <= 0:
        return math.inf
    sr = sharpe_ann / math.sqrt(ppy)  # per bar
    return math.sqrt((ratio + sr * sr / 2.0) / n * ppy)


def sharpe_gap_z(live: float, n_live: int, backtest: float, n_backtest: int, ppy: float,
                 ratio: float = 1.0) -> tuple[float, float]:
    """(z, SE of the gap) of live − backtest Sharpe, both annualised with ppy."""
    se = math.hypot(sharpe_se(live, n_live, ppy, ratio),
                    sharpe_se(backtest, n_backtest, ppy, ratio))
    if not math.isfinite(se) or se <= 0:
        return 0.0, se
    return (live - backtest) / se, se
