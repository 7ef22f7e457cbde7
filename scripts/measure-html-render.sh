#!/usr/bin/env bash
# Measures how long headless Chromium takes to render a report.html to a screenshot:
#
#   scripts/measure-html-render.sh REPORT_HTML [RUNS]      # default 7 runs
#
# Each run is a fresh `chromium --headless --no-sandbox --disable-gpu
# --window-size=1400,3000 --screenshot=... file://REPORT_HTML`, timed by wall clock;
# the script prints every run and the median. An empty page is timed the same way
# first, so the page's own cost is the difference: browser start-up is most of both.
# Then, inside the browser, the time from navigation start to the first frame after
# the page loaded (in a 1400x3000 iframe, read back with --dump-dom): the render
# itself, without start-up, which on a busy machine is the steadier figure.
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
# Prints the median in-browser milliseconds from navigation start to the first
# animation frame after the page in an iframe fired its load event.
in_page_ms() {
  cp "$page" "$scratch/page.html"
  cat > "$scratch/frame.html" <<'FRAME'
<!DOCTYPE html><body><iframe style="width:1400px;height:3000px" src="page.html" onload="requestAnimationFrame(function () { document.body.setAttribute('data-ms', performance.now().toFixed(0)) })"></iframe></body>
FRAME
  local times=()
  for _ in $(seq "$runs"); do
    times+=($("$browser" --headless --no-sandbox --disable-gpu --user-data-dir="$scratch/profile" \
      --window-size=1400,3000 --dump-dom "file://$scratch/frame.html" 2>/dev/null |
      sed -n 's/.*data-ms="\([0-9]*\)".*/\1/p'))
  done
  echo "  in page (ms): ${times[*]}" >&2
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}
in_page=$(in_page_ms)

echo "median: empty page ${empty} ms, report.html ${report} ms (the page's own share: $(( report - empty )) ms); in the page, load to first frame ${in_page} ms"
