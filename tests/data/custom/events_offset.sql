-- The same page by OFFSET: the three newest events skipped.
SELECT id, account_id, kind, at
FROM app.events
WHERE account_id = $1
ORDER BY at DESC
OFFSET 3
LIMIT 10
