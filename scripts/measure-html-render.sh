#!/usr/bin/env bash
# Measures how long headless Chromium takes to render a report.html to a screenshot:
#
#   scripts/measure-html-render.sh REPORT_HTML [RUNS]      # default 7 runs
#
# Each run is a fresh `chromium --headless --no-sandbox --disable-gpu
# --window-size=1400,3000 --screenshot=... file://REPORT_HTML`, timed by wall clock;
# the script prints every run and the median. An empty page is timed the same way
# first, so the page's own cost is the difference: browser start-up is most of both.
# Chromium is `chromium` (Debian), `chromium-browser`, or PLANCHECK_CHROMIUM.
set -euo pipefail
page=$(realpath "${1:?usage: scripts/measure-html-render.sh REPORT_HTML [RUNS]}")
runs=${2:-7}
browser=${PLANCHECK_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$browser" ] || { echo "measure-html-render: no chromium (apt-get install -y chromium)" >&2; exit 2; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
echo '<!DOCTYPE html><title>empty</title>' > "$scratch/empty.html"

# Prints the median wall time, in milliseconds, of $runs screenshots of $1.
median_ms() {
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s%N)
    "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
      --user-data-dir="$scratch/profile" --window-size=1400,3000 \
      --screenshot="$scratch/shot.png" "file://$1" >/dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
  done
  echo "  runs (ms): ${times[*]}" >&2
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

echo "empty page:" >&2
empty=$(median_ms "$scratch/empty.html")
echo "$page ($(stat -c %s "$page") bytes):" >&2
report=$(median_ms "$page")
echo "median: empty page ${empty} ms, report.html ${report} ms (the page's own share: $(( report - empty )) ms)"
