-- An account's events, one page after a cursor.
SELECT id, account_id, kind, at
FROM app.events
WHERE account_id = $1 AND at < $2
ORDER BY at DESC
LIMIT 10
