-- An organization's newest runs: the list page.
--+ params.sparse = ["sparse_org.id"]
--+ params.dense = ["dense_org.id"]
SELECT id, state, created_at
FROM workflow_runs
WHERE organization_id = $1
ORDER BY created_at DESC, id
LIMIT 20
