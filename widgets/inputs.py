"""What the panes read from the data handed to them (structural types, no store import).

The console passes frozen dataclasses from store.views; anything with these attributes will
do, which keeps widgets free of store and engine imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class StudyLike(Protocol):
    name: str
    timeframe: str
    n_trials: int
    best_value: float | None
    best_trial: int | None
    pbo: float | None


class CountsLike(Protocol):
    total: int
    running: int
    complete: int
    failed: int
    pruned: int
    retrying: int
    retried: int
    hosts: int  # hosts whose trials are in the study (this one and mirrored ones)


class AttemptLike(Protocol):
    trial: int
    attempt: int
    state: str
    error_class: str | None
    objective: float | None
    device: str | None
    peak_mem_mb: float | None
    progress: float
    started_at: float
    sharpe: float | None        # the saved model's held-out Sharpe (None: no model)
    ew_sharpe: float | None     # equal-weight benchmark on the same window
    hodl_sharpe: float | None   # HODL benchmark on the same window
    host: str | None            # where it ran (None or '': not recorded)
    mirrored: int               # 1: another host's trial, copied from the shared study


class ProcessLike(Protocol):
    name: str
    kind: str
    state: str
    pid: int | None
    restarts: int
    uptime_s: float | None
    cpu_pct: float | None
    rss_mb: float | None
    last_log: str
    last_error: str | None


class GpuLike(Protocol):
    gpu: int
    name: str | None
    mem_used_mb: float
    mem_total_mb: float
    util_pct: float | None
    temp_c: float | None


class GpuProcLike(Protocol):
    gpu: int
    pid: int
    process: str | None
    mem_used_mb: float | None


class TraderLike(Protocol):
    name: str
    broker: str
    mode: str
    model: str
    capital: str
    trading_state: str
    state_reason: str | None
    backtest_sharpe: float | None
    equity: str | None
    cash: str | None


class PositionLike(Protocol):
    trader: str
    ticker: str
    qty: str
    avg_price: str
    last_price: str | None
    unrealized_pnl: str


class PointLike(Protocol):
    at: float
    equity: float
    benchmark: float | None   # HODL
    backtest: float | None    # the model's backtest on the same bars


class ConvictionLike(Protocol):
    trader: str
    decisions: int
    passed: int
    pass_rate: float | None
    avg_score: float | None
    trades_per_day: float | None
    projected_per_month: float | None


class DecisionLike(Protocol):
    id: int
    trader: str
    at: float
    ticker: str
    side: str
    score: float
    f_size: float
    f_momentum: float
    f_agreement: float
    f_volatility: float
    f_context: float
    reason: str | None


class ExecutionLike(Protocol):
    trader: str
    fills: int
    maker_fills: int
    maker_ratio: float | None
    fees_paid: str
    fee_tier: dict[str, Any] | None


class AlertLike(Protocol):
    id: int
    trader: str | None
    level: str
    live_sharpe: float | None
    backtest_sharpe: float | None
    message: str
    at: float


class GateLike(Protocol):
    name: str
    value: Any
    threshold: Any
    passed: bool


class PromotionLike(Protocol):
    at: float
    kind: str
    subject: str
    trader: str | None
    gates: Sequence[GateLike]
    passed: bool
    forced: bool


class FillLike(Protocol):
    fill_id: str
    trader: str
    ticker: str
    side: str
    qty: str
    price: str
    fee: str
    liquidity: str
    at: float


class TripLike(Protocol):
    trader: str
    ticker: str
    entry_at: float
    exit_at: float
    qty: Any
    entry_price: Any
    exit_price: Any
    fees: Any
    pnl: Any
    entry_liquidity: str
    exit_liquidity: str
