-- What a paper or live promotion promoted: the JSON arguments of the trade command it asked
-- for (name, model, broker, tickers, timeframe, capital, live, study, ...). The supervisor
-- starts a trader row only when its argv is what the trader's latest promotion recorded
-- (engine.supervisor.authority.check_spawn). NULL for capital changes, refusals, and
-- promotions recorded before this migration (their rows are kept as they are).
ALTER TABLE promotions ADD COLUMN trade_args TEXT;
