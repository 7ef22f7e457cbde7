-- Runs per state, the dashboard's counts.
SELECT state, count(*) AS runs
FROM workflow_runs
GROUP BY state
ORDER BY state
