-- Processes the supervisor owns. desired: running | stopped. state: see store.models.
CREATE TABLE processes (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    argv TEXT NOT NULL,              -- JSON list; never holds a secret
    desired TEXT NOT NULL DEFAULT 'running',
    state TEXT NOT NULL DEFAULT 'STARTING',
    pid INTEGER,
    create_time REAL,
    restarts INTEGER NOT NULL DEFAULT 0,
    quick_restarts INTEGER NOT NULL DEFAULT 0,
    started_at REAL,
    stopped_at REAL,
    exit_code INTEGER,
    last_error TEXT,
    log_path TEXT,
    heartbeat_at REAL,
    next_start_at REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

-- Commands from the console and CLI; executed by the supervisor; kept as the audit log.
CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    source TEXT NOT NULL,            -- console | cli | monitor | supervisor
    action TEXT NOT NULL,            -- start | stop | restart | kill | promote | halt_all | resume | capital
    target TEXT,
    args TEXT NOT NULL DEFAULT '{}', -- JSON object
    state TEXT NOT NULL DEFAULT 'pending', -- pending | running | done | failed
    result TEXT,
    done_at REAL
);
CREATE INDEX commands_state ON commands(state, id);

-- Registry: studies, attempts (one row per try of a trial), checkpoints, models.
CREATE TABLE studies (
    name TEXT PRIMARY KEY,
    storage TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    n_trials INTEGER NOT NULL,
    best_value REAL,
    best_trial INTEGER,
    pbo REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study TEXT NOT NULL,
    trial INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    state TEXT NOT NULL,             -- RUNNING | COMPLETE | FAILED | PRUNED | RETRYING
    error_class TEXT,
    error_message TEXT,
    params TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    objective REAL,
    device TEXT,
    peak_mem_mb REAL,
    batch_size INTEGER,
    progress REAL NOT NULL DEFAULT 0,
    checkpoint_path TEXT,
    model_path TEXT,
    process TEXT,
    started_at REAL NOT NULL,
    heartbeat_at REAL,
    ended_at REAL,
    UNIQUE (study, trial, attempt)
);
CREATE INDEX attempts_study ON attempts(study, trial);

CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    study TEXT NOT NULL,
    trial INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    step INTEGER NOT NULL,
    path TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX checkpoints_trial ON checkpoints(study, trial, step);

CREATE TABLE models (
    path TEXT PRIMARY KEY,
    study TEXT NOT NULL,
    trial INTEGER NOT NULL,
    objective REAL,
    sharpe REAL,
    ew_sharpe REAL,
    hodl_sharpe REAL,
    data_fingerprint TEXT,
    feature_fingerprint TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX models_rank ON models(study, objective);

-- Trading.
CREATE TABLE traders (
    name TEXT PRIMARY KEY,
    broker TEXT NOT NULL,            -- sim | alpaca | coinbase
    mode TEXT NOT NULL,              -- paper | live
    model TEXT NOT NULL,             -- model dir or ensemble spec
    study TEXT,
    trial INTEGER,
    tickers TEXT NOT NULL,           -- JSON list
    timeframe TEXT NOT NULL,
    capital TEXT NOT NULL,           -- Decimal text, quote currency
    trading_state TEXT NOT NULL DEFAULT 'ACTIVE', -- ACTIVE | REDUCING | HALTED
    state_reason TEXT,
    halt_requested INTEGER NOT NULL DEFAULT 0,
    backtest_sharpe REAL,
    fee_tier TEXT,                   -- JSON {pricing_tier, maker_fee_rate, taker_fee_rate}
    equity TEXT,
    cash TEXT,
    last_bar_at REAL,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY,  -- deterministic: trader, bar time, ticker, attempt
    trader TEXT NOT NULL,
    broker_order_id TEXT,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL,              -- BUY | SELL
    order_type TEXT NOT NULL,        -- limit | market
    post_only INTEGER NOT NULL DEFAULT 0,
    qty TEXT NOT NULL,
    limit_price TEXT,
    status TEXT NOT NULL,            -- NEW | OPEN | FILLED | CANCELLED | REJECTED | EXPIRED
    filled_qty TEXT NOT NULL DEFAULT '0',
    avg_price TEXT,
    fees TEXT NOT NULL DEFAULT '0',
    bar_at REAL NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX orders_trader ON orders(trader, created_at);

CREATE TABLE fills (
    fill_id TEXT PRIMARY KEY,        -- broker's trade/entry id
    trader TEXT NOT NULL,
    client_order_id TEXT,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL,
    qty TEXT NOT NULL,
    price TEXT NOT NULL,
    fee TEXT NOT NULL,
    liquidity TEXT NOT NULL,         -- MAKER | TAKER
    realized_pnl TEXT,
    at REAL NOT NULL
);
CREATE INDEX fills_trader_at ON fills(trader, at);
CREATE INDEX fills_at ON fills(at);

CREATE TABLE positions (
    trader TEXT NOT NULL,
    ticker TEXT NOT NULL,
    qty TEXT NOT NULL,
    avg_price TEXT NOT NULL,
    last_price TEXT,
    realized_pnl TEXT NOT NULL DEFAULT '0',
    unrealized_pnl TEXT NOT NULL DEFAULT '0',
    updated_at REAL NOT NULL,
    PRIMARY KEY (trader, ticker)
);

CREATE TABLE equity (
    trader TEXT NOT NULL,
    at REAL NOT NULL,
    equity TEXT NOT NULL,
    cash TEXT NOT NULL,
    equity_f REAL NOT NULL,          -- float copy for fast rolling statistics
    benchmark_f REAL,                -- HODL equity on the same clock
    PRIMARY KEY (trader, at)
) WITHOUT ROWID;

CREATE TABLE decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trader TEXT NOT NULL,
    bar_at REAL NOT NULL,
    ticker TEXT NOT NULL,
    action REAL NOT NULL,            -- mean ensemble action in [-1, 1]
    side TEXT NOT NULL,              -- BUY | SELL | HOLD
    score REAL NOT NULL,
    f_size REAL NOT NULL,
    f_momentum REAL NOT NULL,
    f_agreement REAL NOT NULL,
    f_volatility REAL NOT NULL,
    f_context REAL NOT NULL,
    passed INTEGER NOT NULL,
    reason TEXT,
    at REAL NOT NULL
);
CREATE INDEX decisions_trader_at ON decisions(trader, at);

CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trader TEXT,
    level TEXT NOT NULL,             -- OK | WARNING | CRITICAL | EMERGENCY | INFO
    live_sharpe REAL,
    backtest_sharpe REAL,
    message TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX alerts_at ON alerts(at);

-- Notification outbox: written in the same transaction as the event, sent by the notifier.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event TEXT NOT NULL,
    level TEXT NOT NULL DEFAULT 'info', -- info | success | warning | failure
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    silent INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL NOT NULL,
    sent_at REAL,
    last_error TEXT
);
CREATE INDEX outbox_pending ON outbox(sent_at, next_try_at);

-- Samples. resolution: seconds each row stands for (raw rows: the sampler interval).
CREATE TABLE gpu_samples (
    at REAL NOT NULL,
    gpu INTEGER NOT NULL,
    name TEXT,
    mem_used_mb REAL NOT NULL,
    mem_total_mb REAL NOT NULL,
    util_pct REAL,
    temp_c REAL,
    resolution INTEGER NOT NULL,
    PRIMARY KEY (gpu, at)
) WITHOUT ROWID;

CREATE TABLE gpu_process_samples (
    at REAL NOT NULL,
    gpu INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    process TEXT,                    -- our supervised process name, if it is ours
    mem_used_mb REAL,
    PRIMARY KEY (at, gpu, pid)
) WITHOUT ROWID;

CREATE TABLE system_samples (
    at REAL PRIMARY KEY,
    cpu_pct REAL NOT NULL,
    ram_used_mb REAL NOT NULL,
    ram_total_mb REAL NOT NULL,
    disk_used_mb REAL NOT NULL,
    disk_total_mb REAL NOT NULL,
    gpu_status TEXT NOT NULL,        -- 'ok' or why GPUs are unavailable
    resolution INTEGER NOT NULL
);

-- Promotions and refusals, with the gate values at that moment.
CREATE TABLE promotions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,              -- paper | live | capital
    subject TEXT NOT NULL,           -- trial/model or trader
    trader TEXT,
    gates TEXT NOT NULL,             -- JSON list of {name, value, threshold, passed}
    passed INTEGER NOT NULL,
    forced INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    capital TEXT
);

-- Free-form key/value state (kill switch, scheduled-summary marks).
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at REAL NOT NULL
);
