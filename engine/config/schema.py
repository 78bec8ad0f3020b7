"""The validated shape of cappuccino.toml. Every field has a default and a range.

Models are frozen: a loaded config is a value that crosses package boundaries safely.
Relative paths are resolved against the config file's directory by the loader.
"""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Literal element types of list fields, named so their default factories can be typed.
Service = Literal["monitor", "sampler", "notifier", "telegram"]
WatchdogKind = Literal["trader", "monitor", "sampler", "notifier", "telegram", "exec",
                       "exec-job"]
Indicator = Literal["ret_1", "ret_6", "ret_24", "vol_24", "rsi_14", "macd", "macd_hist",
                    "atr_14", "hl_range", "volume_z"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


Pos = Field(gt=0)


class StoreSection(Section):
    path: str = "var/cappuccino.db"
    busy_timeout_s: float = Field(default=10.0, ge=5.0, le=600.0)
    min_free_mb: int = Field(default=200, ge=0)


class PathsSection(Section):
    data: str = "var/data"
    models: str = "var/models"
    logs: str = "var/logs"
    run: str = "var/run"


class RuntimeSection(Section):
    torch_threads: int = Field(default=1, ge=1, le=256)
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")


class SupervisorSection(Section):
    poll_s: float = Field(default=0.5, gt=0, le=60)
    heartbeat_s: float = Field(default=2.0, gt=0, le=300)
    backoff_initial_s: float = Field(default=1.0, gt=0, le=3600)
    backoff_factor: float = Field(default=1.5, ge=1.0, le=10)
    backoff_max_s: float = Field(default=60.0, gt=0, le=86400)
    stable_uptime_s: float = Field(default=60.0, gt=0)
    max_quick_restarts: int = Field(default=5, ge=1, le=1000)
    stop_grace_s: float = Field(default=10.0, gt=0, le=600)
    log_max_bytes: int = Field(default=10_000_000, ge=10_000)
    log_backups: int = Field(default=3, ge=1, le=100)
    # Built-in services the supervisor declares at start (desired running); [] for none.
    # "telegram" (phone control) is never a default: add it with [telegram] enabled = true.
    services: list[Service] = Field(
        default_factory=lambda: list[Service](["monitor", "sampler", "notifier"]), max_length=4)
    # How long `start`/`ensure_supervisor` waits for a new supervisor's first heartbeat.
    start_timeout_s: float = Field(default=10.0, gt=0, le=300)
    # `status` calls a supervisor dead when its heartbeat is older than this many heartbeats.
    stale_heartbeats: float = Field(default=5.0, ge=2, le=1000)
    # Finished trial worker rows (EXITED, exit 0) are deleted from `processes` after this.
    keep_exited_s: float = Field(default=86400.0, ge=60, le=365 * 86400)
    # A running child of a watched kind whose heartbeat (or start, if it never beat) is older
    # than this is hung: stopped (TERM, KILL after stop_grace_s) and restarted. 0 disables.
    watchdog_s: float = Field(default=120.0, ge=0, le=86400)
    # The kinds the watchdog watches: those whose processes beat (engine.runtime.Heartbeat).
    # Trials are the study driver's; exec kinds only when their program calls
    # store.processes.heartbeat itself.
    watchdog_kinds: list[WatchdogKind] = Field(
        default_factory=lambda: list[WatchdogKind](
            ["trader", "monitor", "sampler", "notifier", "telegram"]),
        max_length=7)

    @model_validator(mode="after")
    def _watchdog_above_heartbeat(self) -> SupervisorSection:
        # Children beat every heartbeat_s: a shorter watchdog would stop healthy ones.
        if 0 < self.watchdog_s < 3 * self.heartbeat_s:
            raise ValueError(f"watchdog_s must be 0 (off) or at least 3 x heartbeat_s "
                             f"({3 * self.heartbeat_s:g})")
        return self


class DataSection(Section):
    source: Literal["bundled", "synthetic", "csv", "parquet", "coinbase", "alpaca"] = "bundled"
    path: str = ""
    tickers: list[str] = Field(default_factory=lambda: ["BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "LTC-USD", "AVAX-USD", "UNI-USD"], min_length=1)
    timeframe: Literal["1m", "5m", "15m", "30m", "1h", "2h", "6h", "1d"] = "5m"
    days: int = Field(default=180, ge=1, le=3650)
    synthetic_bars: int = Field(default=20_000, ge=100)
    seed: int = 7
    # Validation: gaps up to this many bars are forward-filled; data before a longer gap
    # is dropped (the most recent contiguous stretch is kept).
    max_fill_bars: int = Field(default=12, ge=0, le=10_000)
    min_bars: int = Field(default=500, ge=10)  # fewer usable bars than this is an error


class FeaturesSection(Section):
    lookback: int = Field(default=4, ge=1, le=256)
    norm_window: int = Field(default=288, ge=10, le=100_000)
    clip: float = Field(default=5.0, gt=0, le=100)
    # engine.features.INDICATORS; those needing high/low/volume are dropped on close-only data.
    indicators: list[Indicator] = Field(
        default_factory=lambda: list[Indicator](["ret_1", "ret_6", "ret_24", "vol_24", "rsi_14",
                                                 "macd", "macd_hist", "atr_14", "hl_range",
                                                 "volume_z"]), min_length=1)


class EnvSection(Section):
    initial_cash: float = Field(default=10_000.0, gt=0)
    # Costs: unset, the broker named by costs_from's settings (Config resolves them, so a
    # model is trained and backtested at the costs it will pay; see broker_costs).
    costs_from: Literal["paper", "sim", "alpaca"] = "paper"   # paper: [gates] paper_broker
    fee_rate: float | None = Field(default=None, ge=0, lt=0.1)
    spread_bps: float | None = Field(default=None, ge=0, le=1000)
    execution_delay: bool = True   # orders fill at the next bar's price
    action_mapping: Literal["weights", "delta"] = "weights"   # engine.env.step
    no_trade_band: float = Field(default=0.2, ge=0, le=2)   # weights: in equal-weight shares
    min_order_value: float = Field(default=1.0, ge=0)
    max_trade_fraction: float = Field(default=0.1, gt=0, le=1.0)   # delta mapping only
    reward_scaling: float = Field(default=100.0, gt=0)


class PPOSection(Section):
    hidden: int = Field(default=64, ge=4, le=4096)
    lr: float = Field(default=3e-4, gt=0, lt=1)
    gamma: float = Field(default=0.99, gt=0, le=1)
    gae_lambda: float = Field(default=0.95, gt=0, le=1)
    clip: float = Field(default=0.2, gt=0, lt=1)
    n_envs: int = Field(default=64, ge=1)
    n_steps: int = Field(default=64, ge=2)
    epochs: int = Field(default=4, ge=1, le=100)
    minibatch: int = Field(default=1024, ge=8)
    ent_coef: float = Field(default=0.0, ge=0)
    vf_coef: float = Field(default=0.5, ge=0)
    max_grad_norm: float = Field(default=0.5, gt=0)
    total_steps: int = Field(default=200_000, ge=1000)  # env steps per CPCV split
    # Exploration std exp(-2.5) = 0.08, drawn every noise_hold steps (engine.agent.ppo): a
    # random policy rarely crosses the no-trade band, yet each draw tilts it long enough to
    # show PPO the reward of trading (engine.bench.band measures both).
    init_log_std: float = Field(default=-2.5, ge=-5, le=2)
    noise_hold: int = Field(default=64, ge=1)
    episode_len: int = Field(default=1024, ge=16)  # bars per training episode
    search: bool = True  # false: the study trains every trial with these values (no sampling)


class StudySection(Section):
    name: str = Field(default="default", min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    storage: str = ""  # empty: Optuna journal file next to the store; else any RDB URL
    n_trials: int = Field(default=20, ge=1)
    cpcv_groups: int = Field(default=6, ge=3, le=50)
    cpcv_test_groups: int = Field(default=2, ge=1)
    embargo_bars: int = Field(default=48, ge=0)
    pruning: bool = True
    seed: int | None = None
    workers: int = Field(default=1, ge=1, le=64)
    max_splits: int = Field(default=3, ge=0, le=1000)  # CPCV splits used per trial; 0 = all
    seeds: int = Field(default=3, ge=1, le=64)  # each configuration is trained with this many seeds
    pbo_blocks: int = Field(default=16, ge=4, le=24, multiple_of=2)  # CSCV blocks S for the PBO
    purge_bars: int = Field(default=0, ge=0)  # bars dropped before each test block
    holdout_frac: float = Field(default=0.1, ge=0, lt=0.5)  # last window: final backtest only
    # 0: one worker process per trial; N: N trials trained at once as one population in
    # the study driver's process (engine.population); "auto": as many as fit the device.
    population: int | Literal["auto"] = 0

    @field_validator("population")
    @classmethod
    def _population_range(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 0 <= v <= 4096:
            raise ValueError("must be 0 (off), 1 to 4096, or \"auto\"")
        return v

    @model_validator(mode="after")
    def _k_below_n(self) -> StudySection:
        if self.cpcv_test_groups >= self.cpcv_groups:
            raise ValueError("cpcv_test_groups must be smaller than cpcv_groups")
        return self


class TrialsSection(Section):
    max_oom_retries: int = Field(default=3, ge=0, le=20)
    retry_wait_s: float = Field(default=5.0, ge=0)
    checkpoint_every: int = Field(default=10, ge=1)
    keep_checkpoints: int = Field(default=3, ge=1)
    time_limit_s: float = Field(default=3600.0, gt=0)
    heartbeat_timeout_s: float = Field(default=60.0, gt=0)
    min_free_mb: int = Field(default=500, ge=0)
    max_crash_retries: int = Field(default=2, ge=0, le=20)  # dead workers resumed per trial
    poll_s: float = Field(default=0.5, gt=0, le=60)  # driver's look at its workers
    # The driver kills a worker still in an attempt past time_limit_s + max(this, 10%).
    hang_grace_s: float = Field(default=30.0, ge=0, le=86400)


class TraderSection(Section):
    broker: Literal["sim", "alpaca", "coinbase"] = "sim"
    tickers: list[str] = Field(default_factory=lambda: ["BTC-USD", "ETH-USD"], min_length=1)
    timeframe: Literal["1m", "5m", "15m", "30m", "1h", "2h", "6h", "1d"] = "5m"
    capital: float = Field(default=1000.0, gt=0)
    settle_delay_s: float = Field(default=5.0, ge=0, le=600)
    notify_fills: bool = True
    replay_speed: float = Field(default=0.0, ge=0)  # sim only: bars per second; 0 = real time
    poll_s: float = Field(default=1.0, gt=0, le=60)  # kill-switch and re-price checks between bars
    history_bars: int = Field(default=0, ge=0, le=5000)  # 0: the features' warmup + lookback
    sim_spread_bps: float = Field(default=2.0, ge=0, le=1000)  # sim quotes: close +- half of it
    sim_maker_fee_rate: float = Field(default=0.004, ge=0, lt=0.1)
    sim_taker_fee_rate: float = Field(default=0.006, ge=0, lt=0.1)
    # sim only: the replay starts at this fraction of the data (never before the features'
    # warmup); the offline demo sets 1 - [study] holdout_frac to trade the held-out bars.
    sim_start_frac: float = Field(default=0.0, ge=0, lt=1)
    # live brokers: the exchange's clock (measured at start and every clock_check_s)
    clock_check_s: float = Field(default=300.0, gt=0, le=86400)
    clock_warn_s: float = Field(default=10.0, gt=0)    # skew above this: an alert
    clock_halt_s: float = Field(default=120.0, gt=0)   # skew above this: HALTED until back
    bar_wait_s: float = Field(default=30.0, ge=0, le=3600)  # wait for a late newest candle


class ConvictionWeights(Section):
    size: float = Field(default=0.30, ge=0, le=1)
    momentum: float = Field(default=0.20, ge=0, le=1)
    agreement: float = Field(default=0.20, ge=0, le=1)
    volatility: float = Field(default=0.15, ge=0, le=1)
    context: float = Field(default=0.15, ge=0, le=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> ConvictionWeights:
        total = self.size + self.momentum + self.agreement + self.volatility + self.context
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"weights must sum to 1.0 (they sum to {total:g})")
        return self


class ConvictionSection(Section):
    enabled: bool = True
    min_score: float = Field(default=0.6, ge=0, le=1)
    momentum_window: int = Field(default=48, ge=2)
    volatility_window: int = Field(default=288, ge=10)
    volatility_short_window: int = Field(default=12, ge=2)
    exit_threshold_factor: float = Field(default=0.5, ge=0, le=1)  # exits pass at this x min_score
    exit_max_blocked: int = Field(default=3, ge=0, le=1000)  # then the next exit passes anyway
    weights: ConvictionWeights = ConvictionWeights()


class RiskSection(Section):
    daily_loss_pct: float = Field(default=2.0, gt=0, le=100)
    max_consecutive_losses: int = Field(default=3, ge=1)
    pause_bars: int = Field(default=12, ge=0)
    max_position_pct: float = Field(default=35.0, gt=0, le=100)
    max_order_notional: float = Field(default=500.0, gt=0)
    stale_periods: float = Field(default=2.0, gt=0)


class ExecutionSection(Section):
    max_reprices: int = Field(default=3, ge=0, le=50)
    reprice_after_s: float = Field(default=20.0, gt=0)
    on_exhausted: Literal["taker", "skip"] = "taker"


class CoinbaseSection(Section):
    base_url: str = "api.coinbase.com"  # host[:port]; plain http only for loopback hosts
    live_armed: bool = False
    timeout_s: float = Field(default=10.0, gt=0, le=120)  # one HTTP request
    retry_attempts: int = Field(default=4, ge=1, le=20)  # tries for 429/5xx/timeouts/resets
    retry_initial_s: float = Field(default=0.5, ge=0, le=60)
    retry_max_s: float = Field(default=8.0, ge=0, le=600)
    max_clock_skew_s: float = Field(default=5.0, gt=0, le=3600)  # `check` fails above this
    order_lookback_h: float = Field(default=48.0, gt=0, le=2160)  # client-id lookups


class AlpacaSection(Section):
    url_override: str = ""  # plain http only for loopback hosts
    data_url_override: str = ""
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    retry_attempts: int = Field(default=4, ge=1, le=20)
    retry_initial_s: float = Field(default=0.5, ge=0, le=60)
    retry_max_s: float = Field(default=8.0, ge=0, le=600)
    max_clock_skew_s: float = Field(default=5.0, gt=0, le=3600)
    # Alpaca's crypto fee schedule, tier 1 (30-day volume under $100k): 0.15% / 0.25%.
    maker_fee_rate: float = Field(default=0.0015, ge=0, lt=0.1)
    taker_fee_rate: float = Field(default=0.0025, ge=0, lt=0.1)


class SecretsSection(Section):
    key_file: str = ""  # a 0600 TOML file; empty: environment only


class MonitorSection(Section):
    interval_s: float = Field(default=3600.0, gt=0)
    window_hours: float = Field(default=168.0, gt=0)
    min_samples: int = Field(default=288, ge=2)
    # z-scores of live minus backtest Sharpe over the SE of the gap (engine.metrics).
    warning_z: float = Field(default=2.0, gt=0)
    critical_z: float = Field(default=3.0, gt=0)
    emergency_z: float = Field(default=3.5, gt=0)
    backtest_bars: int = Field(default=2016, ge=2)  # when the model does not record its own
    emergency_sustain_h: float = Field(default=24.0, ge=0)
    cooldown_s: float = Field(default=21_600.0, ge=0)
    # Emergency: wait this long for the halted trader to report HALTED before the stop.
    halt_wait_s: float = Field(default=10.0, ge=0, le=300)

    @model_validator(mode="after")
    def _ordered(self) -> MonitorSection:
        if not (self.warning_z <= self.critical_z <= self.emergency_z):
            raise ValueError("need warning_z <= critical_z <= emergency_z")
        return self


Mode = Literal["on", "silent", "off"]


class NotifyEvents(Section):
    fill: Mode = "on"
    risk: Mode = "on"
    trading_state: Mode = "on"
    process: Mode = "on"
    trial: Mode = "silent"
    best_value: Mode = "on"
    alert: Mode = "on"
    promotion: Mode = "on"
    capital: Mode = "on"
    summary: Mode = "on"


class NotifySection(Section):
    max_attempts: int = Field(default=0, ge=0)  # 0: retry forever (no message is lost)
    backoff_initial_s: float = Field(default=2.0, gt=0)
    backoff_max_s: float = Field(default=600.0, gt=0)
    poll_s: float = Field(default=1.0, gt=0)
    summary: Literal["off", "daily", "weekly"] = "daily"
    events: NotifyEvents = NotifyEvents()


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TelegramSection(Section):
    """Phone control through a Telegram bot (`cappuccino telegram`). The token and the
    allowed chat ids are secrets: key file or environment only, never here."""

    enabled: bool = False
    # The Bot API's address; tests point it at a local fake.
    base_url: str = Field(default="https://api.telegram.org", pattern=r"^https?://[^\s]+$")
    poll_timeout_s: int = Field(default=25, ge=0, le=50)  # getUpdates long-poll timeout
    backoff_initial_s: float = Field(default=1.0, gt=0, le=600)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    # How long the bot follows a queued /halt /resume /exit to report the outcome.
    outcome_wait_s: float = Field(default=120.0, gt=0, le=3600)

    @field_validator("base_url")
    @classmethod
    def _https_beyond_loopback(cls, v: str) -> str:
        # The token is in every URL's path, and whoever answers getUpdates can forge an
        # allowed chat's /exit: plain http only to this machine (a local fake), as for the
        # exchanges' base URLs.
        parts = urlsplit(v)
        if parts.scheme == "http" and not _loopback(parts.hostname or ""):
            raise ValueError("plain http is allowed only for loopback hosts (127.0.0.1, "
                             "localhost, ::1); use https")
        return v


class SamplerSection(Section):
    interval_s: float = Field(default=5.0, gt=0)
    raw_hours: float = Field(default=24.0, gt=0)
    downsample_s: int = Field(default=300, ge=1)
    keep_days: float = Field(default=30.0, gt=0)
    flush_s: float = Field(default=30.0, gt=0, le=3600)  # batch rows, one write per flush
    retention_every_s: float = Field(default=600.0, gt=0)


class GatesSection(Section):
    paper_min_objective: float = 0.0
    paper_min_dsr: float = Field(default=0.95, ge=0, le=1)  # deflated Sharpe ratio of the trial
    paper_max_pbo: float = Field(default=0.2, ge=0, le=1)  # the study's PBO (CSCV)
    paper_min_holdout_lo: float = 0.0  # lower end of the held-out active Sharpe's 95% interval
    paper_baseline_margin: float = Field(default=0.1, ge=0)  # objective above every baseline's
    live_min_hours: float = Field(default=48.0, ge=0)
    live_min_sharpe: float = 0.1
    live_min_trades_per_day: float = Field(default=2.0, ge=0)
    live_max_trades_per_day: float = Field(default=5.0, ge=0)
    capital_steps: list[float] = Field(default_factory=lambda: [1000.0, 2000.0, 3000.0], min_length=1)
    first_step_weeks: int = Field(default=1, ge=0)
    next_step_weeks: int = Field(default=2, ge=0)
    paper_broker: Literal["sim", "alpaca"] = "sim"  # broker of traders promoted to paper


class ConsoleSection(Section):
    refresh_s: float = Field(default=1.5, ge=0.2, le=60)
    page_rows: int = Field(default=500, ge=10, le=5000)


class RetentionSection(Section):
    # Pruned by the supervisor's prune tick (once a minute); 0 keeps forever.
    trial_logs_days: float = Field(default=14.0, ge=0, le=3650)
    outbox_days: float = Field(default=30.0, ge=0, le=3650)
    commands_days: float = Field(default=30.0, ge=0, le=3650)
    # at least a month: `report --period month` counts alerts (0 keeps forever)
    alerts_days: float = Field(default=90.0, ge=0, le=3650)
    finished_checkpoints: bool = True
    # ... that long after the trial ended (the driver settles its end meanwhile)
    checkpoints_after_s: float = Field(default=600.0, ge=0, le=365 * 86400)
    # per-bar equity and decisions at full resolution this long on each trader's own clock;
    # older ones thinned (store.thinning); orders and fills are the books, never pruned
    trading_days: float = Field(default=90.0, ge=0, le=3650)
    every_s: float = Field(default=60.0, ge=1, le=3600)  # the supervisor's prune tick

    @model_validator(mode="after")
    def _month(self) -> RetentionSection:
        if 0 < self.alerts_days < 31:
            raise ValueError("alerts_days must be 0 (keep forever) or at least 31: "
                             "`report --period month` counts a month of alerts")
        if 0 < self.trading_days < 31:
            raise ValueError("trading_days must be 0 (keep forever) or at least 31: "
                             "`report --period month` reads 30 days of equity and decisions")
        return self


class Config(Section):
    store: StoreSection = StoreSection()
    paths: PathsSection = PathsSection()
    runtime: RuntimeSection = RuntimeSection()
    supervisor: SupervisorSection = SupervisorSection()
    data: DataSection = DataSection()
    features: FeaturesSection = FeaturesSection()
    env: EnvSection = EnvSection()
    ppo: PPOSection = PPOSection()
    study: StudySection = StudySection()
    trials: TrialsSection = TrialsSection()
    trader: TraderSection = TraderSection()
    conviction: ConvictionSection = ConvictionSection()
    risk: RiskSection = RiskSection()
    execution: ExecutionSection = ExecutionSection()
    coinbase: CoinbaseSection = CoinbaseSection()
    alpaca: AlpacaSection = AlpacaSection()
    secrets: SecretsSection = SecretsSection()
    monitor: MonitorSection = MonitorSection()
    notify: NotifySection = NotifySection()
    sampler: SamplerSection = SamplerSection()
    telegram: TelegramSection = TelegramSection()
    gates: GatesSection = GatesSection()
    console: ConsoleSection = ConsoleSection()
    retention: RetentionSection = RetentionSection()
    # Set by the loader, not by the file: where the config came from.
    source: str = Field(default="<defaults>", exclude=True)

    @model_validator(mode="after")
    def _telegram_service_enabled(self) -> Config:
        # A service that can only refuse to start would restart to FATAL: say so up front.
        if "telegram" in self.supervisor.services and not self.telegram.enabled:
            raise ValueError('[supervisor] services lists "telegram" but [telegram] enabled '
                             "is false")
        return self

    @model_validator(mode="after")
    def _monitor_window_kept(self) -> Config:
        # the monitor's Sharpe window (and its emergency sustain) must read full-resolution
        # equity: thinned hourly points would change the live Sharpe it alerts on
        days = self.retention.trading_days
        need_h = self.monitor.window_hours + self.monitor.emergency_sustain_h
        if days and days * 24.0 < need_h + 24.0:
            raise ValueError(f"[retention] trading_days {days:g} is shorter than the "
                             f"monitor's window_hours + emergency_sustain_h ({need_h:g} h) "
                             "plus a day: the live Sharpe would read thinned equity")
        return self

    @model_validator(mode="after")
    def _resolve_costs(self) -> Config:
        """The env's unset fee and spread become the target broker's: one cost model."""
        env = self.env
        if env.fee_rate is None or env.spread_bps is None:
            fee, spread = broker_costs(self, env.costs_from)
            resolved = env.model_copy(update={
                "fee_rate": fee if env.fee_rate is None else env.fee_rate,
                "spread_bps": spread if env.spread_bps is None else env.spread_bps})
            object.__setattr__(self, "env", resolved)  # frozen: set once, while validating
        return self


def broker_costs(cfg: Config, broker: str) -> tuple[float, float]:
    """(fee rate, spread in bps) a market order pays at `broker` ("paper": [gates]
    paper_broker): the sim's [trader] sim_taker_fee_rate and sim_spread_bps, or Alpaca's
    [alpaca] taker_fee_rate with the sim's spread standing in for the market's. Taker:
    maker-first execution falls back to it ([execution] on_exhausted), so it is the bound."""
    name = cfg.gates.paper_broker if broker == "paper" else broker
    if name == "alpaca":
        return cfg.alpaca.taker_fee_rate, cfg.trader.sim_spread_bps
    return cfg.trader.sim_taker_fee_rate, cfg.trader.sim_spread_bps
