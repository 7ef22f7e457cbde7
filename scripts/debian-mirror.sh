#!/usr/bin/env bash
# Prints the Debian mirror this machine's apt uses, for scripts/build-postgres-image.sh:
# a machine behind a local mirror then builds from it without being told.
#
#   scripts/debian-mirror.sh [ROOT]     # reads ROOT/etc/apt, default /
#
# stdout is the URI alone (without a trailing /); one line on stderr says where it came
# from. The sources are read as apt reads them: etc/apt/sources.list (one-line format),
# then the files of etc/apt/sources.list.d in byte order, `*.list` in the one-line
# format and `*.sources` in deb822; other names (`.save`, `.disabled`, `~`) are ignored,
# as apt ignores them. The first source that serves Debian's main archive wins:
#
# - enabled (deb822 `Enabled: no` skips a stanza; `#` starts a comment in both formats),
# - of type `deb` (binary packages; `deb-src` alone is not enough),
# - with a suite of a Debian release from bullseye on, or its alias (stable, testing,
#   unstable, …), plain or -updates/-backports, but not -security: the security archive
#   is another tree, and older releases live on archive.debian.org, without bookworm,
# - with the component `main`,
# - whose URI is http, https, ftp or file (what debootstrap can fetch from); cdrom:,
#   mirror+… and tor+… URIs are skipped. Options in brackets (`[arch=amd64]`) are
#   allowed and ignored.
#
# With none, it prints http://deb.debian.org/debian and says so on stderr. apt's own
# configuration (Dir::Etc moved elsewhere, apt.conf) is not read.
set -euo pipefail
export LC_ALL=C
root=${1:-/}
apt="${root%/}/etc/apt"
fallback=http://deb.debian.org/debian

files=()
if [ -f "$apt/sources.list" ]; then
  files+=("$apt/sources.list")
fi
for path in "$apt"/sources.list.d/*; do
  if [[ ${path##*/} =~ ^[A-Za-z0-9_.-]+\.(list|sources)$ ]] && [ -f "$path" ]; then
    files+=("$path")
  fi
done

found=""
if [ ${#files[@]} -gt 0 ]; then
  found=$(awk '
    function debian_suite(suite, base) {
      suite = tolower(suite)
      if (suite ~ /-security$/ || suite ~ /\//) return 0
      base = suite
      sub(/-(updates|backports|backports-sloppy|proposed-updates)$/, "", base)
      return base ~ /^(bullseye|bookworm|trixie|forky|duke|sid|stable|oldstable|testing|unstable)$/
    }
    function fetchable(uri) { return tolower(uri) ~ /^(https?|ftp):\/\/|^file:/ }
    function has(list, word,    n, i, words) {
      n = split(list, words, /[ \t]+/)
      for (i = 1; i <= n; i++) if (words[i] == word) return 1
      return 0
    }
    function report(uri, where) {
      sub(/\/+$/, "", uri)
      print uri "\t" where
      found = 1
      exit
    }
    # One-line format: deb [options] uri suite component...
    function one_line(line,    n, f, i, uri, suite, components) {
      sub(/#.*/, "", line)
      n = split(line, f, /[ \t]+/)
      i = 1
      if (f[i] == "") i++
      if (f[i] != "deb") return
      i++
      if (substr(f[i], 1, 1) == "[") {
        while (i <= n && f[i] !~ /\]$/) i++
        i++
      }
      uri = f[i]; suite = f[i + 1]
      components = ""
      for (i = i + 2; i <= n; i++) components = components " " f[i]
      if (fetchable(uri) && debian_suite(suite) && has(components, "main"))
        report(uri, FILENAME ":" FNR)
    }
    # deb822: a stanza ends at a blank line or the end of the file.
    function stanza_end(    n, i, uris, suites, ok) {
      if (stanza_line && tolower(field["enabled"]) !~ /^(no|false|off|without|disable|0)$/ \
          && has(field["types"], "deb") && has(field["components"], "main")) {
        n = split(field["suites"], suites, /[ \t]+/)
        for (i = 1; i <= n; i++) if (debian_suite(suites[i])) ok = 1
        n = split(field["uris"], uris, /[ \t]+/)
        for (i = 1; ok && i <= n; i++)
          if (uris[i] != "" && fetchable(uris[i])) report(uris[i], stanza_file ":" stanza_line)
      }
      split("", field); stanza_line = 0; last = ""
    }
    FNR == 1 { if (stanza_line) stanza_end() }
    FILENAME !~ /\.sources$/ { one_line($0); next }
    /^[ \t]*#/ { next }
    /^[ \t]*$/ { stanza_end(); next }
    /^[ \t]/ { if (last != "") field[last] = field[last] " " $0; next }
    {
      if (!stanza_line) { stanza_line = FNR; stanza_file = FILENAME }
      colon = index($0, ":")
      if (!colon) next
      last = tolower(substr($0, 1, colon - 1))
      value = substr($0, colon + 1)
      gsub(/^[ \t]+|[ \t]+$/, "", value)
      field[last] = value
    }
    END { if (!found && stanza_line) stanza_end() }
  ' "${files[@]}")
fi

if [ -n "$found" ]; then
  printf '%s\n' "${found%%$'\t'*}"
  echo "debian-mirror: ${found%%$'\t'*}, from ${found#*$'\t'} (the first enabled apt source serving Debian's main archive)" >&2
else
  printf '%s\n' "$fallback"
  echo "debian-mirror: $fallback, the default: no enabled apt source under $apt serves Debian's main archive (deb, a Debian suite from bullseye on, not -security, component main)" >&2
fi
