-- How many runs are in a state.
--+ params.common = ["common_state.state"]
--+ params.rare = ["rare_state.state"]
SELECT count(*) FROM workflow_runs WHERE state = $1
