-- trading (issue 13): what a trader saw on its account that no trader placed (orders and
-- holdings beyond every trader's book), as JSON; reported, never adopted or closed.
ALTER TABLE traders ADD COLUMN unattributed TEXT;
