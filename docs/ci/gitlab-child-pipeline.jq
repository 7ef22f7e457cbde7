# The child pipeline of docs/ci/gitlab-ci.yml (JSON, which is YAML too), from
# `plancheck list --format json`: one job per scenario that `plancheck scenario` runs
# and per PostgreSQL version, on the Debian release that ships that version, with the
# local backend (no Docker-in-Docker needed). Called with --arg parent "$CI_PIPELINE_ID".
[
  {pg: "15", debian: "bookworm"},
  {pg: "17", debian: "trixie"}
] as $versions
| [.scenarios[] | select(.command == "scenario") | .name] as $scenarios
| reduce ($scenarios[] as $scenario | $versions[] as $version | [$scenario, $version])
    as [$scenario, $version] ({};
    .["\($scenario) pg\($version.pg)"] = {
      image: "debian:\($version.debian)",
      needs: [{pipeline: $parent, job: "build"}],
      variables: {SCENARIO: $scenario, PG: $version.pg},
      script: [
        "mkdir -p /etc/postgresql-common && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf",
        "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-$PG",
        "mkdir -p reports",
        "bin/plancheck scenario \"$SCENARIO\" --pg \"$PG\" --backend local --no-progress --out reports --junit reports/junit.xml"
      ],
      artifacts: {
        when: "always",
        paths: ["reports/"],
        reports: {junit: "reports/junit.xml"}
      }
    })
