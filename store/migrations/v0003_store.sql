-- store integrity (issue 10): a broker's fill id is unique only within its account (two sim
-- exchanges both number theirs simfill-1, 2, ...), so fills are keyed by (trader, fill_id).
-- SQLite cannot change a primary key in place: rebuild the table, copying every row in
-- rowid order (readers order ties by rowid), then recreate its indexes.
CREATE TABLE fills_by_trader (
    fill_id TEXT NOT NULL,           -- broker's trade/entry id, unique per trader's account
    trader TEXT NOT NULL,
    client_order_id TEXT,
    ticker TEXT NOT NULL,
    side TEXT NOT NULL,
    qty TEXT NOT NULL,
    price TEXT NOT NULL,
    fee TEXT NOT NULL,
    liquidity TEXT NOT NULL,         -- MAKER | TAKER
    realized_pnl TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (trader, fill_id)
);
INSERT INTO fills_by_trader (fill_id, trader, client_order_id, ticker, side, qty, price, fee,
                             liquidity, realized_pnl, at)
    SELECT fill_id, trader, client_order_id, ticker, side, qty, price, fee, liquidity,
           realized_pnl, at FROM fills ORDER BY rowid;
DROP TABLE fills;
ALTER TABLE fills_by_trader RENAME TO fills;
CREATE INDEX fills_trader_at ON fills(trader, at);
CREATE INDEX fills_at ON fills(at);
