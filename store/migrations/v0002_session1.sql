-- store/config (H2): indexes for the console's and reports' hot queries.
-- attempts by state (running/failed counts per study), orders by trader+status (open orders),
-- decisions passed/refused per trader over time, alerts per trader, pending outbox rows.
CREATE INDEX IF NOT EXISTS attempts_state ON attempts(state, study);
CREATE INDEX IF NOT EXISTS orders_trader_status ON orders(trader, status);
CREATE INDEX IF NOT EXISTS decisions_trader_passed_at ON decisions(trader, passed, at);
CREATE INDEX IF NOT EXISTS alerts_trader_at ON alerts(trader, at);
CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox(next_try_at) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS attempts_study_state ON attempts(study, state);
-- study/trials (H4): a trial worker's pid and host, so a driver can tell a dead worker
-- (stale heartbeat AND pid gone on this host) from a slow one, and resume its trial.
ALTER TABLE attempts ADD COLUMN pid INTEGER;
ALTER TABLE attempts ADD COLUMN host TEXT;
-- reports (lead): the equal-weight (rebalanced each bar) benchmark next to HODL, so
-- reports chart equity vs HODL vs equal weight on the trader's own clock.
ALTER TABLE equity ADD COLUMN ew_f REAL;
-- trading (lead): the model's own backtest on the bars the trader actually traded (env
-- semantics, no filter/risk/execution), on the same clock: live against backtest, drawn.
ALTER TABLE equity ADD COLUMN backtest_f REAL;
-- study (H12): 1 on a copy of another host's trial, mirrored from the shared Optuna storage
-- so the console sees every host's trials; local drivers never resume or recount these.
ALTER TABLE attempts ADD COLUMN mirrored INTEGER NOT NULL DEFAULT 0;
