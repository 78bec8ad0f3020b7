-- The trial ledger (store.ledger): every trial tried on one set of candles, kept when its
-- study is deleted, so a study's deflated Sharpe ratio counts every trial on the same data
-- (engine.study.pool), not only its own. `data` is the candles' fingerprint and timeframe
-- from the study's layout (kv study_layout:<study>), `created` the study's created_at (a
-- study re-created under the same name counts again), `sharpe` the trial's per-bar Sharpe of
-- its out-of-sample active returns (NULL until computed, or without returns).
CREATE TABLE trial_ledger (
    data TEXT NOT NULL,
    study TEXT NOT NULL,
    created REAL NOT NULL,
    trial INTEGER NOT NULL,
    sharpe REAL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (data, study, created, trial)
);

-- Existing stores: every trial attempted in a study whose layout is recorded.
INSERT OR IGNORE INTO trial_ledger (data, study, created, trial, sharpe, recorded_at)
SELECT json_extract(k.value, '$.data') || '/' || json_extract(k.value, '$.timeframe'),
       a.study, COALESCE(s.created_at, 0), a.trial, NULL, MIN(a.started_at)
FROM attempts a
JOIN kv k ON k.key = 'study_layout:' || a.study
LEFT JOIN studies s ON s.name = a.study
WHERE json_valid(k.value) AND json_type(k.value, '$.data') = 'text'
  AND json_type(k.value, '$.timeframe') = 'text'
GROUP BY a.study, a.trial;
