-- quantities on the product increment (issue 15): each trader's product increments as its
-- broker reported them at the trader's start (sim config, Coinbase product, Alpaca asset).
-- Display only: order sizing asks the broker. A trader started before this table existed
-- has no rows until its next start; readers then fall back to 8 decimals.
CREATE TABLE product_increments (
    trader TEXT NOT NULL,
    ticker TEXT NOT NULL,
    broker TEXT NOT NULL,
    base_increment TEXT NOT NULL,
    quote_increment TEXT NOT NULL,
    base_min_size TEXT,
    quote_min_size TEXT,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (trader, ticker)
);
