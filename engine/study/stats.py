"""Statistics that deflate a study's best result: the deflated Sharpe ratio and a
block-bootstrap interval for a Sharpe ratio.

Deflated Sharpe ratio (Bailey & López de Prado, "The Deflated Sharpe Ratio: Correcting for
Selection Bias, Backtest Overfitting and Non-Normality", J. Portfolio Management 40(5),
2014). With per-bar (not annualised) Sharpe ratios:

    PSR(SR*) = Φ( (SR^ − SR*) · sqrt(T − 1) / sqrt(1 − γ3·SR^ + (γ4 − 1)/4 · SR^²) )

(the probabilistic Sharpe ratio, Bailey & López de Prado 2012), where SR^ is the selected
strategy's Sharpe over T returns, γ3 their skewness and γ4 their (non-excess) kurtosis. The
DSR is PSR(SR0) with SR0 the expected maximum Sharpe of N unskilled trials:

    SR0 = sqrt(V[SR_n]) · ( (1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)) ),

γ ≈ 0.5772 the Euler–Mascheroni constant, V[SR_n] the variance of the trials' Sharpe
estimates. When fewer than two trials have a Sharpe estimate, V falls back to the variance
of one Sharpe estimate under the null, 1/(T − 1) (Lo 2002; Mertens 2002).

Block bootstrap: the circular block bootstrap (Politis & Romano 1992; Künsch 1989 for the
moving-block version) with blocks of ceil(T^(1/3)) bars keeps the returns' short-range
autocorrelation; the interval is the percentile interval of the resampled Sharpe ratios.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from engine.metrics import periods_per_year, sharpe_se

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def _clean(returns: np.ndarray) -> np.ndarray:
    r = np.asarray(returns, dtype=np.float64)
    return r[np.isfinite(r)]


def bar_sharpe(returns: np.ndarray) -> float:
    """mean / std (ddof=1) per bar, not annualised; 0 for fewer than 2 bars or a flat series."""
    r = _clean(returns)
    if r.size < 2:
        return 0.0
    sd = float(r.std(ddof=1))
    return 0.0 if sd < 1e-15 else float(r.mean()) / sd


def moments(returns: np.ndarray) -> tuple[float, float]:
    """(skewness γ3, kurtosis γ4) of the returns, population moments; (0, 3) when flat."""
    r = _clean(returns)
    if r.size < 3:
        return 0.0, 3.0
    d = r - r.mean()
    m2 = float((d ** 2).mean())
    if m2 < 1e-30:
        return 0.0, 3.0
    return float((d ** 3).mean()) / m2 ** 1.5, float((d ** 4).mean()) / m2 ** 2


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """SR0: the expected maximum per-bar Sharpe of n_trials unskilled trials (0 for N = 1)."""
    if n_trials <= 1 or variance <= 0:
        return 0.0
    n = float(n_trials)
    return math.sqrt(variance) * ((1 - EULER_GAMMA) * _N.inv_cdf(1 - 1 / n)
                                  + EULER_GAMMA * _N.inv_cdf(1 - 1 / (n * math.e)))


def probabilistic_sharpe(sr: float, sr_star: float, t: int, skew: float, kurt: float) -> float:
    """PSR(SR*): the probability that the true per-bar Sharpe exceeds sr_star."""
    if t < 2:
        return 0.0
    denom = 1 - skew * sr + (kurt - 1) / 4 * sr ** 2
    if denom <= 0:  # extreme skew: the normal approximation breaks down; claim nothing
        return 0.0
    return _N.cdf((sr - sr_star) * math.sqrt(t - 1) / math.sqrt(denom))


@dataclass(frozen=True)
class DSR:
    dsr: float            # probability that the selected Sharpe beats the N-trial maximum
    sharpe: float         # the selected trial's per-bar Sharpe
    sr0: float            # the expected maximum per-bar Sharpe under the null
    n_trials: int
    bars: int
    skew: float
    kurtosis: float
    variance: float       # V[SR_n] used


def deflated_sharpe(returns: np.ndarray, n_trials: int,
                    trial_sharpes: np.ndarray | None = None) -> DSR:
    """DSR of `returns` (the selected trial's per-bar returns) among n_trials trials.

    trial_sharpes: the per-bar Sharpe of every trial that has one (for V[SR_n]).
    """
    r = _clean(returns)
    t = int(r.size)
    sr = bar_sharpe(r)
    skew, kurt = moments(r)
    srs = _clean(np.asarray([] if trial_sharpes is None else trial_sharpes))
    var = float(srs.var(ddof=1)) if srs.size >= 2 else (1.0 / (t - 1) if t > 1 else 0.0)
    sr0 = expected_max_sharpe(max(n_trials, 1), var)
    return DSR(probabilistic_sharpe(sr, sr0, t, skew, kurt), sr, sr0, max(n_trials, 1), t,
               skew, kurt, var)


def block_length(n: int) -> int:
    root: float = n ** (1 / 3)
    return max(1, math.ceil(root))


def bootstrap_sharpe_ci(returns: np.ndarray, bar_seconds: float, n_boot: int = 2000,
                        level: float = 0.95, block: int | None = None,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the annualised Sharpe by the circular block bootstrap.

    Seeded (same returns, same interval). (0, 0) for fewer than 4 returns.
    """
    r = _clean(returns)
    n = r.size
    if n < 4:
        return 0.0, 0.0
    b = block or block_length(n)
    k = math.ceil(n / b)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(n_boot, k))
    out = []
    for c in range(0, n_boot, 250):  # in chunks: bounded memory on long series
        st = starts[c:c + 250]
        idx = (st[:, :, None] + np.arange(b)[None, None, :]).reshape(len(st), -1)[:, :n] % n
        s = r[idx]
        sd = s.std(axis=1, ddof=1)
        out.append(np.where(sd > 1e-15, s.mean(axis=1) / np.where(sd > 1e-15, sd, 1.0), 0.0))
    sr = np.concatenate(out) * math.sqrt(periods_per_year(bar_seconds))
    lo, hi = np.quantile(sr, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def sharpe_standard_error(returns: np.ndarray, bar_seconds: float) -> float:
    """Annualised standard error of an annualised Sharpe (Lo 2002, engine.metrics.sharpe_se);
    0 for fewer than 2 bars or a flat series (the objective then has no uncertainty to
    subtract)."""
    r = _clean(returns)
    if r.size < 2 or float(r.std()) < 1e-15:
        return 0.0
    return sharpe_se(r, bar_seconds)


def mean_minus_se(scores: list[float], fallback_se: float = 0.0) -> float:
    """The study objective: mean − one standard error of the scores (SE across scores when
    there are two or more; `fallback_se`, a single score's own standard error, else)."""
    x = np.asarray([s for s in scores if math.isfinite(s)], dtype=np.float64)
    if x.size == 0:
        return 0.0
    se = float(x.std(ddof=1)) / math.sqrt(x.size) if x.size >= 2 else fallback_se
    return float(x.mean()) - se
