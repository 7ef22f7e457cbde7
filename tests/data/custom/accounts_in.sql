-- Accounts among a set of ids and plans: array parameters.
SELECT id, plan FROM app."Accounts" WHERE id = ANY($1) AND plan = ANY($2) ORDER BY id
